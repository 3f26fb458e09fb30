"""bayesmix: Bayesian mixture modelling on PyMC and ArviZ.

Build a model with a factory from :mod:`bayesmix.models`, fit it with
:func:`fit`, undo label switching with :func:`relabel`, and compare the
posterior with the EM baseline from :func:`em` using :func:`diagnose`. Use the
fit on new data with :func:`predict_proba`, :func:`score_samples`,
:func:`anomaly_scores` and :func:`sample` (and fill missing cells with
:func:`impute`), or through the scikit-learn
estimators :class:`PosteriorGaussianMixture` and
:class:`DirichletProcessGaussianMixture`.
"""

from bayesmix import datasets, models
from bayesmix._validation import DegenerateDataWarning
from bayesmix._version import __version__
from bayesmix.baseline import DegenerateSolutionWarning, em, em_table
from bayesmix.cli.analysis import run_analysis
from bayesmix.clustering import TruncationWarning, cluster_count, coclustering, point_partition
from bayesmix.comparison import LOOWarning, compare
from bayesmix.diagnostics.mixture_diagnostics import Diagnostics, diagnose
from bayesmix.diagnostics.sampler_checks import SamplerWarning
from bayesmix.estimators import DirichletProcessGaussianMixture, PosteriorGaussianMixture
from bayesmix.inference.fitting import fit
from bayesmix.persistence import load, save
from bayesmix.prediction.conditional import predict_components, predict_density, sample_predictive
from bayesmix.prediction.imputation import impute
from bayesmix.prediction.mixture import anomaly_scores, predict, predict_proba, sample, score_samples
from bayesmix.priors import Prior
from bayesmix.relabel import relabel

__all__ = [
    "DegenerateDataWarning",
    "DegenerateSolutionWarning",
    "Diagnostics",
    "DirichletProcessGaussianMixture",
    "LOOWarning",
    "PosteriorGaussianMixture",
    "Prior",
    "SamplerWarning",
    "TruncationWarning",
    "__version__",
    "anomaly_scores",
    "cluster_count",
    "coclustering",
    "compare",
    "datasets",
    "diagnose",
    "em",
    "em_table",
    "fit",
    "impute",
    "load",
    "models",
    "point_partition",
    "predict",
    "predict_components",
    "predict_density",
    "predict_proba",
    "relabel",
    "run_analysis",
    "sample",
    "sample_predictive",
    "save",
    "score_samples",
]


def __getattr__(name: str) -> object:
    if name == "BayesianGaussianMixture":  # renamed: it shadowed scikit-learn's variational estimator
        from bayesmix import estimators

        return estimators.__getattr__(name)
    raise AttributeError(f"module 'bayesmix' has no attribute {name!r}")
