r"""Using a fitted mixture on new data: memberships, densities, anomaly scores and samples.

Every function averages over posterior draws :math:`\theta^{(s)}`,
:math:`s = 1, \dots, S`, so each answer carries its posterior uncertainty:

* membership probabilities :math:`p(z = k \mid x, \theta^{(s)})
  = w_k^{(s)} \mathcal{N}(x \mid \mu_k^{(s)}, \Sigma_k^{(s)}) / p(x \mid \theta^{(s)})`,
  summarized by their posterior mean and HDI;
* the posterior predictive log-density
  :math:`\log p(x \mid \mathcal{D}) = \log \tfrac1S \sum_s p(x \mid \theta^{(s)})`,
  computed with logsumexp, with the HDI of :math:`\log p(x \mid \theta^{(s)})`;
* draws :math:`\tilde x` from the posterior predictive distribution: a draw
  :math:`s`, a component :math:`k \sim w^{(s)}`, then
  :math:`\tilde x \sim \mathcal{N}(\mu_k^{(s)}, \Sigma_k^{(s)})`.

Component-wise answers use relabelled components: a result that has not been
through :func:`bayesmix.relabel` is relabelled here against its pivot draw.
New data are validated like training data and must have the same features.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from bayesmix._deprecation import renamed_arguments
from bayesmix._log_likelihood import row_chunks
from bayesmix._result import check_result, mixture_parameters, observed_data_of, settings_of
from bayesmix._validation import Data, check_data, check_positive_int
from bayesmix.comparison import pointwise_elpd
from bayesmix.components._mixture_density import chunked_over_draws, membership_probabilities, mixture_log_density
from bayesmix.components.categorical import decode
from bayesmix.models._base import kind_of
from bayesmix.relabel import relabel

DEFAULT_CI_PROB = 0.94
DEFAULT_MAX_DRAWS = 1000
DEFAULT_ANOMALY_QUANTILE = 0.01


@dataclass(frozen=True)
class _FittedMixture:
    """The relabelled posterior of a mixture fit and its training data."""

    result: xr.DataTree
    training: Data
    family: Any
    missing: bool  # fitted with missing="marginalize": new rows may have NaN cells too

    @property
    def posterior(self) -> xr.Dataset:
        return self.result["posterior"].to_dataset()

    @property
    def components(self) -> np.ndarray:
        return self.posterior["component"].values

    def parameters(self, max_draws: int) -> list[np.ndarray]:
        """weights and the family's parameters, thinned to at most ``max_draws`` draws."""
        return mixture_parameters(self.posterior, self.family, max_draws)


def _fitted_mixture(result: object) -> _FittedMixture:
    result = check_result(result)
    kind = kind_of(result.attrs)
    if kind.is_conditional:
        raise ValueError(
            f"Argument `result` is a {kind.family!r} fit, a density of y given x; these functions need a "
            "mixture fit (bayesmix.models.mixture, dp_mixture, gmm or dp_gmm); for an MDN or a mixture of "
            "regressions use bayesmix.predict_density, sample_predictive and predict_components (and "
            "predict_proba(result, X, y) for the memberships of observed pairs)."
        )
    if "relabel" not in result.children:
        result = relabel(result)
    missing = settings_of(result).get("missing") == "marginalize"
    return _FittedMixture(
        result=result, training=observed_data_of(result), family=kind.component_family, missing=missing
    )


def check_new_data(
    X_new: object, training: Data, *, name: str = "X_new", family: Any = None, missing: bool = False
) -> Data:
    """Validate new data against the features a model was fitted on.

    A DataFrame's columns are matched to the training features by name (and
    reordered); an array is matched by position. NaN cells are allowed where
    the model was fitted with ``missing="marginalize"``.
    """
    if isinstance(X_new, pd.DataFrame) and not _default_names(training.feature_names):
        columns = [str(c) for c in X_new.columns]
        absent = [f for f in training.feature_names if f not in columns]
        extra = [c for c in columns if c not in training.feature_names]
        if absent or extra:
            raise ValueError(
                f"Argument `{name}` has columns {columns} but the model was fitted on "
                f"{training.feature_names} (missing {absent}, unexpected {extra}); pass the same columns."
            )
        X_new = X_new.set_axis(columns, axis=1)[training.feature_names]
    options = {"missing": True} if missing else {}
    if training.categories is not None:  # coded against the training categories; an unseen one is an error
        options["like"] = training
    data = check_data(X_new, name=name) if family is None else family.check_data(X_new, name=name, **options)
    if data.n_features != training.n_features:
        raise ValueError(
            f"Argument `{name}` has {data.n_features} features, but the model was fitted on "
            f"{training.n_features} features {training.feature_names}; pass data with the same features."
        )
    return Data(values=data.values, feature_names=training.feature_names, categories=training.categories)


def _default_names(names: list[str]) -> bool:
    return names == [f"x{j}" for j in range(len(names))]


def _check_probability(value: object, *, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"Argument `{name}` must be a probability in (0, 1) but got {value!r}.")
    return float(value)


def _hdi(values: np.ndarray, dims: tuple[str, ...], coords: dict, prob: float) -> xr.DataArray:
    """HDI over the leading draw axis of ``values``."""
    da = xr.DataArray(values, dims=("sample", *dims), coords=coords)
    return azs.hdi(da, prob=prob, dim="sample").transpose(*dims, "ci_bound")


def _hdi_values(values: np.ndarray, prob: float) -> np.ndarray:
    """HDI over the leading draw axis of ``values``: shape (*values.shape[1:], 2)."""
    dims = tuple(f"axis_{i}" for i in range(values.ndim - 1))
    return _hdi(values, dims, {}, prob).values


def _per_draw(func, result: object, X_new: object, ci_prob: object, max_draws: object):
    """Validate the arguments; then ``func(X, weights, *params)`` at every draw kept, shape (draws, rows, ...),
    for one chunk of rows of ``X_new`` at a time, so that memory does not grow with draws x rows.

    Returns the fitted mixture, the checked data, ``ci_prob``, the number of draws kept and an iterator of
    ``(rows, values)``.
    """
    fitted = _fitted_mixture(result)
    data = check_new_data(X_new, fitted.training, family=fitted.family, missing=fitted.missing)
    ci_prob = _check_probability(ci_prob, name="ci_prob")
    params = fitted.parameters(check_positive_int(max_draws, name="max_draws"))
    n_draws, n_components = params[0].shape[:2]
    evaluate = functools.partial(func, fitted.family)
    chunks = (
        (rows, chunked_over_draws(evaluate, data.values[rows], *params))
        for rows in row_chunks(data.n_obs, n_draws * n_components)
    )
    return fitted, data, ci_prob, n_draws, chunks


def _obs_coords(n_obs: int) -> dict:
    return {"obs_id": np.arange(n_obs)}


@renamed_arguments(hdi_prob="ci_prob")
def predict_proba(
    result: xr.DataTree,
    X_new: object,
    y: object = None,
    *,
    ci_prob: float = DEFAULT_CI_PROB,
    max_draws: int = DEFAULT_MAX_DRAWS,
) -> xr.Dataset:
    r"""Membership probabilities of new points, with posterior uncertainty.

    For each point :math:`x` and component :math:`k`, the posterior mean and
    HDI over draws of

    .. math::

        p(z = k \mid x, \theta^{(s)}) =
            \frac{w_k^{(s)} \mathcal{N}(x \mid \mu_k^{(s)}, \Sigma_k^{(s)})}
                 {\sum_j w_j^{(s)} \mathcal{N}(x \mid \mu_j^{(s)}, \Sigma_j^{(s)})}

    (the family's density in place of the Gaussian's). For a mixture of
    regressions it is the membership of observed pairs :math:`(x, y)`,
    :math:`\pi_k(x) f(y \mid x, \theta_k) / \sum_j \pi_j(x) f(y \mid x, \theta_j)`.

    Parameters
    ----------
    result : xarray.DataTree
        A fit of :func:`bayesmix.models.gmm` or :func:`bayesmix.models.dp_gmm`,
        ideally relabelled with :func:`bayesmix.relabel` against the EM
        baseline; otherwise it is relabelled here against its pivot draw.
    X_new : array-like or DataFrame, shape (n_obs, n_features)
        Points in the units of the training data.
    y : array-like of shape (n_obs,), optional
        For a fit of :func:`bayesmix.models.mixreg` only (and required there):
        the responses observed at ``X_new``.
    ci_prob : float, default 0.94
        Probability mass of the highest-density intervals (ArviZ's name; formerly ``hdi_prob``).
    max_draws : int, default 1000
        Posterior draws used, thinned evenly.

    Returns
    -------
    xarray.Dataset
        ``probability`` (obs_id, component), the posterior mean, and
        ``probability_hdi`` (obs_id, component, ci_bound).
    """
    if kind_of(check_result(result).attrs).is_regression:
        from bayesmix.prediction.conditional import regression_memberships

        draws, components, labels = regression_memberships(result, X_new, y, max_draws)
        ci_prob = _check_probability(ci_prob, name="ci_prob")
        coords = {**_obs_coords(draws.shape[1]), "component": components}
        return xr.Dataset(
            {
                "probability": (("obs_id", "component"), draws.mean(axis=0)),
                "probability_hdi": _hdi(draws, ("obs_id", "component"), coords, ci_prob),
            },
            coords=coords,
            attrs={"ci_prob": ci_prob, "n_draws": draws.shape[0], "labels": labels},
        )
    if y is not None:
        raise ValueError(
            "Argument `y` applies to a mixture of regressions (bayesmix.models.mixreg); a mixture of x takes "
            "X_new only."
        )
    fitted, data, ci_prob, n_draws, chunks = _per_draw(membership_probabilities, result, X_new, ci_prob, max_draws)
    coords = {**_obs_coords(data.n_obs), "component": fitted.components}
    mean = np.empty((data.n_obs, len(fitted.components)))
    hdi = np.empty((*mean.shape, 2))
    for rows, draws in chunks:
        mean[rows], hdi[rows] = draws.mean(axis=0), _hdi_values(draws, ci_prob)
    return xr.Dataset(
        {
            "probability": (("obs_id", "component"), mean),
            "probability_hdi": (("obs_id", "component", "ci_bound"), hdi),
        },
        coords={**coords, "ci_bound": ["lower", "upper"]},
        attrs={"ci_prob": ci_prob, "n_draws": n_draws, "labels": fitted.result["relabel"].attrs["summary"]},
    )


def predict(result: xr.DataTree, X_new: object, y: object = None, *, max_draws: int = DEFAULT_MAX_DRAWS) -> xr.Dataset:
    """The most probable component of each new point (of each observed pair (x, y), for a mixture of regressions).

    Parameters
    ----------
    result, X_new, y, max_draws
        As for :func:`predict_proba`.

    Returns
    -------
    xarray.Dataset
        ``component`` (obs_id), the component of highest posterior-mean
        membership probability, and ``probability`` (obs_id), that probability.
    """
    proba_ds = predict_proba(result, X_new, y, max_draws=max_draws)
    proba = proba_ds["probability"]
    best = proba.argmax("component")
    return xr.Dataset(
        {
            "component": ("obs_id", proba["component"].values[best.values]),
            "probability": proba.isel(component=best).drop_vars("component"),
        },
        attrs={"labels": proba_ds.attrs["labels"]},
    )


@renamed_arguments(hdi_prob="ci_prob")
def score_samples(
    result: xr.DataTree,
    X_new: object,
    *,
    ci_prob: float = DEFAULT_CI_PROB,
    max_draws: int = DEFAULT_MAX_DRAWS,
) -> xr.Dataset:
    r"""Posterior predictive log-density of new points.

    .. math::

        \log p(x \mid \mathcal{D}) = \operatorname{logsumexp}_s \log p(x \mid \theta^{(s)}) - \log S

    Parameters
    ----------
    result, X_new, ci_prob, max_draws
        As for :func:`predict_proba`.

    Returns
    -------
    xarray.Dataset
        ``log_density`` (obs_id) and ``log_density_hdi`` (obs_id, ci_bound),
        the HDI of the per-draw log-density :math:`\log p(x \mid \theta^{(s)})`.
    """
    _, data, ci_prob, n_draws, chunks = _per_draw(mixture_log_density, result, X_new, ci_prob, max_draws)
    log_density = np.empty(data.n_obs)
    hdi = np.empty((data.n_obs, 2))
    for rows, per_draw in chunks:
        log_density[rows] = logsumexp(per_draw, axis=0) - np.log(n_draws)
        hdi[rows] = _hdi_values(per_draw, ci_prob)
    return xr.Dataset(
        {"log_density": ("obs_id", log_density), "log_density_hdi": (("obs_id", "ci_bound"), hdi)},
        coords={**_obs_coords(data.n_obs), "ci_bound": ["lower", "upper"]},
        attrs={"ci_prob": ci_prob, "n_draws": n_draws},
    )


def anomaly_scores(
    result: xr.DataTree,
    X_new: object | None = None,
    *,
    threshold: float | None = None,
    quantile: float = DEFAULT_ANOMALY_QUANTILE,
    max_draws: int = DEFAULT_MAX_DRAWS,
) -> xr.Dataset:
    """Rank points by posterior predictive log-density and flag those no component explains.

    Parameters
    ----------
    result : xarray.DataTree
        A mixture fit, as for :func:`predict_proba`.
    X_new : array-like or DataFrame, optional
        Points to score. By default the training points are scored by their
        leave-one-out predictive log-density (PSIS-LOO), so that a training
        point does not explain itself.
    threshold : float, optional
        Log-density below which a point is an anomaly. By default the
        ``quantile`` of the training points' PSIS-LOO log predictive densities.
    quantile : float, default 0.01
        The quantile that sets the default threshold.
    max_draws : int, default 1000
        Posterior draws used for new points, thinned evenly.

    Returns
    -------
    xarray.Dataset
        ``log_density`` (obs_id); ``rank`` (obs_id), 1 for the lowest density;
        ``is_anomaly`` (obs_id), whether the density is below the threshold.
        Attrs: ``threshold``, ``threshold_source``, ``n_anomalies``. Sort with
        ``.sortby("rank")``.
    """
    fitted = _fitted_mixture(result)
    quantile = _check_probability(quantile, name="quantile")
    if threshold is not None and not np.isfinite(threshold):
        raise ValueError(f"Argument `threshold` must be a finite log-density or None but got {threshold!r}.")
    loo_density = None
    if threshold is None or X_new is None:
        loo_density = _loo_log_density(fitted.result)
    if X_new is None:
        log_density = loo_density
    else:
        log_density = score_samples(fitted.result, X_new, max_draws=max_draws)["log_density"].values
    if threshold is None:
        threshold = float(np.quantile(loo_density, quantile))
        source = f"the {quantile:g} quantile of the training points' PSIS-LOO log predictive density"
    else:
        threshold, source = float(threshold), "given"
    rank = np.empty(log_density.size, dtype=np.int64)
    rank[np.argsort(log_density, kind="stable")] = np.arange(1, log_density.size + 1)
    is_anomaly = log_density < threshold
    return xr.Dataset(
        {"log_density": ("obs_id", log_density), "rank": ("obs_id", rank), "is_anomaly": ("obs_id", is_anomaly)},
        coords=_obs_coords(log_density.size),
        attrs={"threshold": threshold, "threshold_source": source, "n_anomalies": int(is_anomaly.sum())},
    )


def _loo_log_density(result: xr.DataTree) -> np.ndarray:
    """PSIS-LOO log predictive density of each training point."""
    return pointwise_elpd(result)


def sample(result: xr.DataTree, n: int, *, random_seed: int | None = None) -> xr.Dataset:
    """Draws from the posterior predictive distribution, with their component labels.

    Each draw picks a posterior draw uniformly at random, a component from that
    draw's weights, and a point from that component (its family's distribution).

    Parameters
    ----------
    result : xarray.DataTree
        A mixture fit, as for :func:`predict_proba`.
    n : int
        Number of points.
    random_seed : int, optional
        Seed of the random number generator.

    Returns
    -------
    xarray.Dataset
        ``X`` (sample, feature) in the training data's units (categorical
        items as their labels) and ``component`` (sample), the relabelled
        component each point came from.
    """
    fitted = _fitted_mixture(result)
    n = check_positive_int(n, name="n")
    posterior = fitted.posterior
    weights, *params = mixture_parameters(posterior, fitted.family)
    rng = np.random.default_rng(random_seed)
    draw = rng.integers(weights.shape[0], size=n)
    cumulative = weights[draw].cumsum(axis=1)
    u = rng.random((n, 1)) * cumulative[:, -1:]  # the weights sum to 1 up to rounding
    component = np.minimum((u > cumulative).sum(axis=1), weights.shape[1] - 1)
    X = fitted.family.sample(rng, *(p[draw, component] for p in params))
    if fitted.training.categories is not None:  # codes back to the labels they stand for
        X = decode(X, fitted.training.categories)
    return xr.Dataset(
        {"X": (("sample", "feature"), X), "component": ("sample", fitted.components[component])},
        coords={"sample": np.arange(n), "feature": fitted.training.feature_names},
    )
