"""Posterior diagnostics: convergence after relabelling, sampler checks, and the posterior against EM."""

from bayesmix.diagnostics.mixture_diagnostics import Diagnostics, diagnose
from bayesmix.diagnostics.sampler_checks import SamplerWarning

__all__ = ["Diagnostics", "SamplerWarning", "diagnose"]
