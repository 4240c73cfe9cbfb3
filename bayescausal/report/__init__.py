"""Text, plots and HTML shared by every result."""
