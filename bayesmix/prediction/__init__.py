"""Using a fit on new data: mixtures of x (:mod:`.mixture`), densities of y given x (:mod:`.conditional`)."""

from bayesmix.prediction.conditional import predict_components, predict_density, sample_predictive
from bayesmix.prediction.mixture import anomaly_scores, predict, predict_proba, sample, score_samples

__all__ = [
    "anomaly_scores",
    "predict",
    "predict_components",
    "predict_density",
    "predict_proba",
    "sample",
    "sample_predictive",
    "score_samples",
]
