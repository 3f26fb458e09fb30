"""bayesmix: Bayesian mixture modelling on PyMC and ArviZ.

Build a model with a factory from :mod:`bayesmix.models`, fit it with
:func:`fit`, compare it with the EM baseline from :func:`em`.
"""

from bayesmix import datasets, models
from bayesmix._version import __version__
from bayesmix.baseline import em, em_table
from bayesmix.inference import fit
from bayesmix.priors import Prior

__all__ = ["Prior", "__version__", "datasets", "em", "em_table", "fit", "models"]
