"""Independent reference implementations (test-only) that the toolkit's models must agree with."""
