"""Model factories: each builds and returns a ``pymc.Model`` and never samples."""

from bayesmix.models.dpgmm import dp_gmm
from bayesmix.models.gmm import gmm
from bayesmix.models.mdn import mdn

__all__ = ["dp_gmm", "gmm", "mdn"]
