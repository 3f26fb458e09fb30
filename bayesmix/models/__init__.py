"""Model factories: each builds and returns a ``pymc.Model`` and never samples."""

from bayesmix.models.dpgmm import dp_gmm
from bayesmix.models.gmm import gmm

__all__ = ["dp_gmm", "gmm"]
