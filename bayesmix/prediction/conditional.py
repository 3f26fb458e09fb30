r"""Predictions of a mixture density network: conditional densities, draws of y and the mixture per x.

Every function evaluates the fitted network at new inputs for each posterior
draw :math:`\theta^{(s)}`, :math:`s = 1, \dots, S`, giving a Gaussian mixture
:math:`p(y \mid x, \theta^{(s)}) = \sum_k \pi_k(x)\,\mathcal{N}(y \mid
\mu_k(x), \operatorname{diag}\sigma_k^2(x))` per draw, and then averages:

* the posterior predictive density :math:`p(y \mid x, \mathcal{D}) =
  \tfrac1S \sum_s p(y \mid x, \theta^{(s)})`, with the HDI of
  :math:`p(y \mid x, \theta^{(s)})` over draws as a credible band;
* draws :math:`\tilde y` from the posterior predictive: per draw :math:`s`,
  a component :math:`k \sim \pi(x)` and :math:`\tilde y \sim
  \mathcal{N}(\mu_k(x), \sigma_k^2(x))`;
* posterior summaries of :math:`\pi_k(x)`, :math:`\mu_k(x)`,
  :math:`\sigma_k(x)`, with the components matched across draws first.

The result holds what these functions need (the network's settings, its
training data and so the standardization of x and y): inputs and outputs are
in raw units.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

from bayesmix._deprecation import renamed_arguments, warn_deprecated
from bayesmix._result import check_result, settings_of, thinning_step
from bayesmix._validation import Data, check_data, check_positive_int
from bayesmix.components.gaussian import FAMILY as GAUSSIAN
from bayesmix.mixing.network import correlate, marginal_variances, offdiagonal_pairs
from bayesmix.models._base import ModelInfo, kind_of
from bayesmix.models.mdn import component_log_densities, iter_outputs, mdn_info, stacked_parameters
from bayesmix.models.mdn import info_from_result as network_info_from_result
from bayesmix.models.mixreg import component_log_density, info_from_result, linear_predictors, regression_info, stacked
from bayesmix.prediction.mixture import DEFAULT_CI_PROB, DEFAULT_MAX_DRAWS, _check_probability, _hdi, check_new_data
from bayesmix.relabel import relabel

__all__ = ["predict_components", "predict_density", "sample_predictive"]
_LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True)
class _Outputs:
    """The mixture at each new x for each posterior draw kept, raw units."""

    log_weights: np.ndarray  # (S, n, K)
    natural: dict[str, np.ndarray]  # the component distribution's parameters, each (S, n, K, Q)
    response: Any  # log_pdf and draw of those parameters, elementwise
    info: ModelInfo
    X_new: Data

    @property
    def n_outputs(self) -> int:
        return next(iter(self.natural.values())).shape[-1]

    def component_log_density(self, y: np.ndarray, rows) -> np.ndarray:
        """log f_k(y) for points y (..., 1, Q) at the rows ``rows`` of X_new: (S, ..., K)."""
        params = {name: p[:, rows] for name, p in self.natural.items()}
        if "offdiag" in params:  # an MDN's full covariance
            return component_log_densities(y[..., 0, :], params["means"], params["scales"], params["offdiag"])
        return self.response.log_pdf(y, *params.values()).sum(axis=-1)


def _conditional_result(result: object) -> tuple[xr.DataTree, Any]:
    """The checked fit of an MDN or a mixture of regressions, and its kind."""
    result = check_result(result)
    kind = kind_of(result.attrs)
    if not kind.is_conditional:
        raise ValueError(
            f"Argument `result` is a {result.attrs['bayesmix_family']!r} fit; these functions need a fit of "
            "bayesmix.models.mdn or mixreg (for mixtures use bayesmix.predict_proba and friends)."
        )
    return result, kind


def _accepts_former_model_argument(func):
    """Let ``func(result, X_new, ...)`` still be called as ``func(result, model, X_new, ...)`` for one release.

    The result holds the model's settings and training data, so the model is
    redundant; when given it is still checked against the result, and a
    DeprecationWarning names the new call.
    """

    @functools.wraps(func)
    def wrapper(result, *args, model=None, **kwargs):
        if args and isinstance(args[0], pm.Model):
            model, args = args[0], args[1:]
        if model is not None:
            warn_deprecated(
                f"bayesmix.{func.__name__}(result, model, ...) is deprecated and its `model` argument will be "
                f"removed in the next release: the result describes its model; call "
                f"bayesmix.{func.__name__}(result, X_new, ...)."
            )
            _check_model_matches(result, model)
        return func(result, *args, **kwargs)

    return wrapper


def _check_model_matches(result: object, model: object) -> None:
    result, kind = _conditional_result(result)
    info = mdn_info(model) if kind.is_network else regression_info(model)
    if info.mixing != kind.mixing or settings_of(result) != json.loads(json.dumps(info.settings)):
        raise ValueError(
            "Arguments `result` and `model` do not match: the fit was made with another model or "
            "other training data; leave `model` out (the result describes its model)."
        )


def _outputs(result: object, X_new: object, max_draws: object, *, aligned: bool = False) -> _Outputs:
    """The mixture at X_new for the draws kept; ``aligned``: a mixture of regressions' components numbered alike
    in every draw (relabelled), which only per-component summaries need (densities and draws are invariant)."""
    result, kind = _conditional_result(result)
    info = network_info_from_result(result) if kind.is_network else info_from_result(result)
    max_draws = check_positive_int(max_draws, name="max_draws")
    data = check_new_data(X_new, info.data)
    if kind.is_network:
        params = stacked_parameters(info, result["posterior"].to_dataset())
        params = _thinned(params, max_draws)
        pieces = [outputs for _, outputs in iter_outputs(info, params, data.values)]
        log_weights, means, scales, *offdiag = (np.concatenate(p) for p in zip(*pieces, strict=True))
        natural = {"means": means, "scales": scales} | ({"offdiag": offdiag[0]} if offdiag else {})
        return _Outputs(log_weights, natural, GAUSSIAN.response, info, data)
    if aligned and "relabel" not in result.children:
        result = relabel(result)
    response = info.component_family.response
    params = stacked(result["posterior"].to_dataset(), info.settings, response, max_draws)
    log_weights, eta = linear_predictors(info.settings, params, data.values)
    values = response.natural_parameters(eta, *(params[name] for name in response.extras))
    natural = {name: np.asarray(v)[..., None] for name, v in zip(response.natural, values, strict=True)}
    return _Outputs(log_weights, natural, response, info, data)


def regression_memberships(result: xr.DataTree, X: object, y: object, max_draws: object):
    """Per draw, the membership probabilities (S, n, K) of observed pairs (x, y) under a fit of
    :func:`bayesmix.models.mixreg` (relabelled first if it was not), its components and the relabelling."""
    from scipy.special import softmax

    info = info_from_result(result)
    response = info.component_family.response
    if y is None:
        raise ValueError(
            "Argument `y` is required for a mixture of regressions: membership is a property of a pair (x, y); "
            "pass the responses observed at X_new (bayesmix.predict_density gives y's distribution at x)."
        )
    data = check_new_data(X, info.data)
    y_values = np.asarray(check_data(y, name="y").values, float)
    if y_values.shape != (data.n_obs, 1):
        raise ValueError(
            f"Argument `y` must hold one response per row of X_new ({data.n_obs}) but got {y_values.shape}."
        )
    response.check_y(y_values[:, 0], name="y")
    if "relabel" not in result.children:
        result = relabel(result)
    max_draws = check_positive_int(max_draws, name="max_draws")
    params = stacked(result["posterior"].to_dataset(), info.settings, response, max_draws)
    joint = component_log_density(info.settings, response, params, data.values, y_values[:, 0])
    labels = result["relabel"].attrs["summary"]
    return softmax(joint, axis=-1), result["posterior"]["component"].values, labels


def _thinned(params: dict[str, np.ndarray], max_draws: int) -> dict[str, np.ndarray]:
    step = thinning_step(next(iter(params.values())).shape[0], max_draws)
    return {k: v[::step] for k, v in params.items()}


def _check_grid(y_grid: object, n_outputs: int) -> np.ndarray:
    grid = np.asarray(y_grid, dtype=float) if np.ndim(y_grid) else np.array([])
    if n_outputs == 1 and grid.ndim == 1:
        grid = grid[:, None]
    if grid.ndim != 2 or grid.shape[1] != n_outputs or grid.shape[0] == 0 or not np.isfinite(grid).all():
        raise ValueError(
            f"Argument `y_grid` must be finite points of y: a 1-D array for one output, or shape "
            f"(n_points, {n_outputs}) for {n_outputs} outputs, but got shape {np.shape(y_grid)}."
        )
    return grid


@renamed_arguments(hdi_prob="ci_prob")
@_accepts_former_model_argument
def predict_density(
    result: xr.DataTree,
    X_new: object,
    y_grid: object,
    *,
    ci_prob: float = DEFAULT_CI_PROB,
    max_draws: int = DEFAULT_MAX_DRAWS,
) -> xr.DataArray:
    r"""The posterior predictive density of y over a grid, for each new x, with HDI bands.

    .. math::

        p(y \mid x, \mathcal{D}) = \frac1S \sum_{s=1}^S \sum_k \pi_k^{(s)}(x)
            \prod_q \mathcal{N}\big(y_q \mid \mu_{kq}^{(s)}(x), \sigma_{kq}^{(s)}(x)^2\big)

    Parameters
    ----------
    result : xarray.DataTree
        A fit of :func:`bayesmix.models.mdn` (NUTS, ADVI or MAP) or of :func:`bayesmix.models.mixreg`.
    X_new : array-like or DataFrame, shape (n_obs, n_features)
        Inputs in raw units.
    y_grid : array-like, shape (n_points,) or (n_points, n_outputs)
        Points of y (raw units) at which to evaluate the density.
    ci_prob : float, default 0.94
        Probability mass of the bands: the HDI over draws of :math:`p(y \mid x, \theta^{(s)})`.
    max_draws : int, default 1000
        Posterior draws used, thinned evenly.

    Returns
    -------
    xarray.DataArray
        ``density`` (obs_id, y): the posterior predictive density (per unit of
        y; for several outputs, the joint density at each grid point), with
        coordinates ``hdi_lower`` and ``hdi_upper`` (obs_id, y) holding the
        bands, and ``y`` the grid (for several outputs, ``y`` numbers the grid
        points and a coordinate per output, named as the output, holds their values).
    """
    ci_prob = _check_probability(ci_prob, name="ci_prob")
    out = _outputs(result, X_new, max_draws)
    grid = _check_grid(y_grid, out.n_outputs)
    n_obs = out.X_new.n_obs
    density = np.empty((n_obs, grid.shape[0]))
    bands = np.empty((n_obs, grid.shape[0], 2))
    for i in range(n_obs):
        # (S, G): the density of each draw at every grid point for this x.
        component = out.component_log_density(grid[None, :, None, :], slice(i, i + 1))
        per_draw = np.exp(logsumexp(out.log_weights[:, i, None] + component, axis=-1))
        density[i] = per_draw.mean(axis=0)
        bands[i] = _hdi(per_draw, ("y",), {}, ci_prob).values
    outputs = _output_names(out.info)
    coords = {"obs_id": np.arange(n_obs)}
    if len(outputs) == 1:
        coords["y"] = grid[:, 0]
    else:
        # one coordinate per output along y (a DataArray cannot carry an (y, output) coordinate without its dims)
        coords |= {"y": np.arange(grid.shape[0])} | {name: ("y", grid[:, q]) for q, name in enumerate(outputs)}
    coords |= {"hdi_lower": (("obs_id", "y"), bands[..., 0]), "hdi_upper": (("obs_id", "y"), bands[..., 1])}
    return xr.DataArray(
        density,
        dims=("obs_id", "y"),
        coords=coords,
        name="density",
        attrs={"ci_prob": ci_prob, "n_draws": out.log_weights.shape[0]},
    )


def _output_names(info: ModelInfo) -> list[str]:
    return info.settings["outputs"] if info.is_network else [info.settings["output"]]


@_accepts_former_model_argument
def sample_predictive(
    result: xr.DataTree,
    X_new: object,
    *,
    temperature: float = 1.0,
    random_seed: int | None = None,
    max_draws: int = DEFAULT_MAX_DRAWS,
) -> xr.DataArray:
    r"""Draws of y from the posterior predictive distribution at each new x.

    For every posterior draw kept and every x, a component is drawn with
    probabilities :math:`\pi_k(x)^{1/T} / \sum_j \pi_j(x)^{1/T}` and then
    :math:`y \sim \mathcal{N}(\mu_k(x), T\,\sigma_k^2(x))`. The temperature
    :math:`T = 1` samples the model as fitted; :math:`T < 1` sharpens towards
    the dominant component and its mean (:math:`T \to 0` returns the mean of
    the most probable component), :math:`T > 1` flattens, as in Graves (2013).

    Parameters
    ----------
    result, X_new, max_draws
        As for :func:`predict_density`.
    temperature : float, default 1.0
        The sampling temperature T > 0.
    random_seed : int, optional
        Seed of the random number generator.

    Returns
    -------
    xarray.DataArray
        ``y`` (sample, obs_id, output) in raw units, one value per posterior draw kept.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
        raise ValueError(f"Argument `temperature` must be a number > 0 but got {temperature!r}.")
    out = _outputs(result, X_new, max_draws)
    rng = np.random.default_rng(random_seed)
    if temperature != 1 and "scales" not in out.natural:
        raise ValueError(
            f"Argument `temperature` applies to Gaussian components; leave it at 1 for {out.response.family!r} "
            f"components (got {temperature!r})."
        )
    tempered = out.log_weights / temperature
    tempered -= logsumexp(tempered, axis=-1, keepdims=True)
    component = np.argmax(tempered + rng.gumbel(size=tempered.shape), axis=-1)[..., None, None]
    picked = {name: np.take_along_axis(v, component, axis=-2)[..., 0, :] for name, v in out.natural.items()}
    for name in ("scales", "offdiag"):  # T times the covariance
        if name in picked:
            picked[name] = np.sqrt(temperature) * picked[name]
    if "offdiag" in picked:
        noise = rng.standard_normal(picked["means"].shape)
        draws = picked["means"] + correlate(noise, picked["scales"], picked["offdiag"])
    else:
        draws = out.response.draw(rng, *picked.values())
    return xr.DataArray(
        draws,
        dims=("sample", "obs_id", "output"),
        coords={"obs_id": np.arange(out.X_new.n_obs), "output": _output_names(out.info)},
        name="y",
        attrs={"temperature": float(temperature)},
    )


@renamed_arguments(hdi_prob="ci_prob")
@_accepts_former_model_argument
def predict_components(
    result: xr.DataTree,
    X_new: object,
    *,
    ci_prob: float = DEFAULT_CI_PROB,
    max_draws: int = DEFAULT_MAX_DRAWS,
) -> xr.Dataset:
    r"""Posterior summaries of the mixture weights, means and scales at each new x.

    The components of a mixture density network are exchangeable, so draws
    from different modes of the posterior (NUTS chains especially) may number
    them differently. Before summarizing, each draw's components are matched
    to a pivot draw, the one of highest likelihood, by minimum-cost assignment
    (Hungarian) on their functions over the training inputs: the squared
    distance between standardized means, log-scales and log-weights, averaged
    over x. The summaries are then per-component and comparable across x.

    Parameters
    ----------
    result, X_new, ci_prob, max_draws
        As for :func:`predict_density`.

    Returns
    -------
    xarray.Dataset
        ``weights`` (obs_id, component), ``means`` and ``scales`` (obs_id,
        component, output): posterior means in raw units; each with an
        ``_hdi`` companion carrying a ``ci_bound`` dim. attrs give the number
        of draws and how many were renumbered.
    """
    ci_prob = _check_probability(ci_prob, name="ci_prob")
    out = _outputs(result, X_new, max_draws, aligned=True)
    if out.info.is_network:
        training = _outputs(result, out.info.data.values, max_draws)
        perms = _match_components(training)
    else:  # a mixture of regressions is relabelled by its coefficients already
        perms = np.broadcast_to(np.arange(out.log_weights.shape[-1]), out.log_weights.shape[::2])
    log_weights = np.take_along_axis(out.log_weights, perms[:, None, :], axis=-1)
    natural = {name: np.take_along_axis(v, perms[:, None, :, None], axis=-2) for name, v in out.natural.items()}
    outputs = _output_names(out.info)
    coords = {"obs_id": np.arange(out.X_new.n_obs), "component": np.arange(log_weights.shape[2]), "output": outputs}
    if "offdiag" in natural:  # an MDN's full covariance: each component's covariance, and marginal sds as scales
        covariances = _covariances(natural["scales"], natural.pop("offdiag"))
        natural["scales"] = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))
        natural["covariances"] = covariances
        coords["output_bis"] = outputs
    dims_of = {"weights": ("obs_id", "component")} | {name: ("obs_id", "component", "output") for name in natural}
    dims_of["covariances"] = ("obs_id", "component", "output", "output_bis")
    variables = {}
    for name, values in {"weights": np.exp(log_weights), **natural}.items():
        dims = dims_of[name]
        variables[name] = (dims, values.mean(axis=0))
        variables[f"{name}_hdi"] = _hdi(values, dims, {k: coords[k] for k in dims}, ci_prob)
    n_renumbered = int(np.sum(np.any(perms != np.arange(perms.shape[1]), axis=1)))
    return xr.Dataset(
        variables,
        coords=coords,
        attrs={"ci_prob": ci_prob, "n_draws": log_weights.shape[0], "n_renumbered": n_renumbered},
    )


def _covariances(scales: np.ndarray, offdiag: np.ndarray) -> np.ndarray:
    """L L^T (..., Q, Q) from an MDN's Cholesky factors: diagonal ``scales`` (..., Q), ``offdiag`` below it."""
    n_outputs = scales.shape[-1]
    chol = np.zeros((*scales.shape, n_outputs))
    chol[..., np.arange(n_outputs), np.arange(n_outputs)] = scales
    for index, (q, r) in enumerate(offdiagonal_pairs(n_outputs)):
        chol[..., q, r] = offdiag[..., index]
    return chol @ np.swapaxes(chol, -1, -2)


def _match_components(training: _Outputs) -> np.ndarray:
    """Per draw, the permutation (S, K) mapping pivot components to that draw's components (an MDN's)."""
    y_sd = np.asarray(training.info.settings["y_sd"])
    means = training.natural["means"]
    scales = np.sqrt(marginal_variances(training.natural["scales"], training.natural.get("offdiag")))
    features = np.concatenate(
        [training.log_weights[..., None], means / y_sd, np.log(scales)], axis=-1
    )  # (S, n, K, 1 + 2Q)
    y = training.info.extras["y"].values
    rows = slice(None)
    log_lik = logsumexp(training.log_weights + training.component_log_density(y[None, :, None, :], rows), axis=-1).sum(
        axis=-1
    )
    # The best draw is the pivot; draws tied with it up to rounding (a relabelled copy sums the same
    # terms in another order) go to the earliest, so that the numbering does not hang on the last bit.
    best = log_lik.max()
    pivot = features[int(np.argmax(log_lik >= best - 1e-9 * max(abs(best), 1.0)))]
    perms = np.empty(features.shape[:1] + features.shape[2:3], dtype=int)
    for s, draw in enumerate(features):
        # cost[j, k]: pivot component j against this draw's component k.
        cost = np.mean(np.sum((pivot[:, :, None, :] - draw[:, None, :, :]) ** 2, axis=-1), axis=0)
        perms[s] = linear_sum_assignment(cost)[1]
    return perms
