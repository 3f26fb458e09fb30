"""Model factories: each builds and returns a ``pymc.Model`` and never samples.

:func:`mixture` and :func:`dp_mixture` take any component family of
:mod:`bayesmix.components`; :func:`gmm` and :func:`dp_gmm` are their Gaussian
shortcuts; :func:`mixreg` is the mixture of regressions (and of experts, with a
gate); :func:`mdn` is the Bayesian mixture density network.
"""

from bayesmix.models.dpgmm import dp_gmm
from bayesmix.models.gmm import gmm
from bayesmix.models.mdn import mdn
from bayesmix.models.mixreg import mixreg
from bayesmix.models.mixture import dp_mixture, mixture

__all__ = ["dp_gmm", "dp_mixture", "gmm", "mdn", "mixreg", "mixture"]
