"""The sampler configuration shared by every estimator (``bc.Sampler``)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Literal

from ..errors import SpecError

ChainMethod = Literal["auto", "parallel", "vectorized", "sequential"]
KernelName = Literal["auto", "gibbs", "nuts"]


@dataclass(frozen=True)
class Sampler:
    """How to run MCMC: numbers of draws, warm-up iterations and chains, and the kernel.

    Parameters
    ----------
    draws, warmup : draws kept per chain, and warm-up (adaptation / burn-in) iterations discarded;
        ``warmup=None`` uses the kernel's default (1000 for NUTS, which adapts its step size and mass
        matrix; 500 for the BSTS Gibbs sampler, which only has to forget its starting point).
    chains : independent chains; R-hat needs at least 2, and 4 is the default as in Stan and ArviZ.
    target_accept : NUTS target acceptance probability (ignored by Gibbs kernels).
    chain_method : ``"parallel"`` (one chain per XLA device: the CPU cores), ``"vectorized"``
        (chains batched with ``vmap`` in one program) or ``"sequential"``; ``"auto"`` lets the model's
        kernel choose the one measured fastest for it (see benchmarks/README.md).
    kernel : ``"auto"`` uses the model's default (the one with most effective samples per second on
        its benchmark); ``"gibbs"`` or ``"nuts"`` force one where the model offers both.
    thinning : keep every ``thinning``-th draw.
    progress : show a progress bar; ``None`` shows one only in an interactive terminal or notebook and
        never when the ``CI`` environment variable is set.
    max_tree_depth : NUTS maximum tree depth.
    """

    draws: int = 1000
    warmup: int | None = None
    chains: int = 4
    target_accept: float = 0.8
    chain_method: ChainMethod = "auto"
    kernel: KernelName = "auto"
    thinning: int = 1
    progress: bool | None = None
    max_tree_depth: int = 10

    def __post_init__(self) -> None:
        for name in ("draws", "chains", "thinning", "max_tree_depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(f"Sampler({name}={value!r}): give a positive integer.")
        if self.warmup is not None and (not isinstance(self.warmup, int) or isinstance(self.warmup, bool)
                                        or self.warmup < 0):
            raise SpecError(f"Sampler(warmup={self.warmup!r}): give a non-negative integer.")
        if not 0.0 < float(self.target_accept) < 1.0:
            raise SpecError(f"Sampler(target_accept={self.target_accept!r}): give a value strictly between 0 and 1.")
        if self.chain_method not in ("auto", "parallel", "vectorized", "sequential"):
            raise SpecError(
                f"Sampler(chain_method={self.chain_method!r}): use 'auto', 'parallel', 'vectorized' or 'sequential'."
            )
        if self.kernel not in ("auto", "gibbs", "nuts"):
            raise SpecError(f"Sampler(kernel={self.kernel!r}): use 'auto', 'gibbs' or 'nuts'.")

    def warmup_or(self, default: int) -> int:
        """The warm-up length: the user's, else the kernel's ``default``."""
        return default if self.warmup is None else self.warmup

    @property
    def show_progress(self) -> bool:
        """Whether a progress bar is shown: explicit setting, else only in a terminal or notebook, not in CI."""
        if self.progress is not None:
            return bool(self.progress)
        if os.environ.get("CI"):
            return False
        if "ipykernel" in sys.modules:
            return True
        return bool(getattr(sys.stderr, "isatty", lambda: False)())


def resolve_chain_method(sampler: Sampler, preferred: ChainMethod) -> str:
    """The chain method actually used: the user's choice, else the kernel's preference.

    ``parallel`` needs one XLA device per chain at a time. With more chains than devices the chains run in
    rounds of parallel chains when the device count divides the chain count (:func:`chains_per_round`: 4
    chains on 2 cores as 2 rounds of 2); otherwise we fall back to ``vectorized`` (NumPyro's own fallback
    would be ``sequential``, the slowest option on a CPU). Rounds beat vectorised NUTS chains on a CPU: a
    vectorised step lasts as long as the longest trajectory of any chain and runs on one core, and its
    batched while-loops compile slowly (measured by the IV fit: 95 s to compile 4 vectorised chains against
    about 10 s for 2 parallel ones).
    """
    import jax

    method = preferred if sampler.chain_method == "auto" else sampler.chain_method
    devices = jax.local_device_count()
    if method == "parallel" and devices < sampler.chains and sampler.chains % devices:
        method = "vectorized"
    if sampler.chains == 1:
        method = "sequential"
    return method


def chains_per_round(sampler: Sampler, method: str) -> int:
    """How many chains run at once under the resolved ``method``: the device count for parallel chains (in
    rounds when chains outnumber devices), else all of them."""
    import jax

    if method == "parallel":
        return min(sampler.chains, jax.local_device_count())
    return sampler.chains


def nuts_sampler(sampler: Sampler | None, method: str) -> Sampler:
    """The sampler of a NUTS-only estimator: the default when None; SpecError for a non-Sampler or a request
    for a Gibbs kernel (``method`` names the estimator in the message)."""
    from ..errors import SpecError

    sampler = sampler or Sampler()
    if not isinstance(sampler, Sampler):
        raise SpecError(f"sampler must be a bc.Sampler, not {type(sampler).__name__}.")
    if sampler.kernel == "gibbs":
        raise SpecError(f"{method} samples with NUTS (kernel='auto' or 'nuts'); it has no Gibbs kernel.")
    return sampler
