"""Inference: sampler configuration and the MCMC drivers (the only callers of ``numpyro.infer``)."""

from .idata import to_inference_data
from .mcmc import Draws, compile_mcmc_ahead, run_kernel_batch, run_mcmc
from .sampler import Sampler, nuts_sampler, resolve_chain_method

__all__ = ["Draws", "Sampler", "compile_mcmc_ahead", "nuts_sampler", "resolve_chain_method", "run_kernel_batch",
           "run_mcmc", "to_inference_data"]
