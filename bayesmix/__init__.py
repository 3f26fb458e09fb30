"""bayesmix: Bayesian mixture modelling on PyMC and ArviZ.

Build a model with a factory from :mod:`bayesmix.models`, fit it with
:func:`fit`, undo label switching with :func:`relabel`, and compare the
posterior with the EM baseline from :func:`em` using :func:`diagnose`.
"""

from bayesmix import datasets, models
from bayesmix._version import __version__
from bayesmix.baseline import DegenerateSolutionWarning, em, em_table
from bayesmix.clustering import TruncationWarning, cluster_count, coclustering, point_partition
from bayesmix.diagnostics import Diagnostics, diagnose
from bayesmix.inference import fit
from bayesmix.priors import Prior
from bayesmix.relabel import relabel

__all__ = [
    "DegenerateSolutionWarning",
    "Diagnostics",
    "Prior",
    "TruncationWarning",
    "__version__",
    "cluster_count",
    "coclustering",
    "datasets",
    "diagnose",
    "em",
    "em_table",
    "fit",
    "models",
    "point_partition",
    "relabel",
]
