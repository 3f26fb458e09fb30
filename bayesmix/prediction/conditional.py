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

The model argument is the ``pymc.Model`` that was fitted (or one built by the
same :func:`bayesmix.models.mdn` call): it supplies the network's forward
pass and the standardization of x and y, so inputs and outputs are in raw units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

from bayesmix._result import check_result, settings_of
from bayesmix._validation import Data, check_positive_int
from bayesmix.models._base import ModelInfo
from bayesmix.models.mdn import iter_outputs, mdn_info, stacked_parameters
from bayesmix.prediction.mixture import DEFAULT_HDI_PROB, DEFAULT_MAX_DRAWS, _check_probability, _hdi, check_new_data

__all__ = ["predict_components", "predict_density", "sample_predictive"]
_LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True)
class _Outputs:
    """The mixture at each new x for each posterior draw kept, raw units."""

    log_weights: np.ndarray  # (S, n, K)
    means: np.ndarray  # (S, n, K, Q)
    scales: np.ndarray  # (S, n, K, Q)
    info: ModelInfo
    X_new: Data


def _outputs(result: object, model: object, X_new: object, max_draws: object) -> _Outputs:
    result = check_result(result)
    info = mdn_info(model)
    if result.attrs["bayesmix_family"] != "mdn":
        raise ValueError(
            f"Argument `result` is a {result.attrs['bayesmix_family']!r} fit; these functions need "
            "a fit of bayesmix.models.mdn (for mixtures use bayesmix.predict_proba and friends)."
        )
    if settings_of(result) != json.loads(json.dumps(info.settings)):
        raise ValueError(
            "Arguments `result` and `model` do not match: the fit was made with another network or "
            "other training data; pass the model that was fitted."
        )
    max_draws = check_positive_int(max_draws, name="max_draws")
    data = check_new_data(X_new, info.data)
    params = stacked_parameters(info, result["posterior"].to_dataset())
    n_draws = next(iter(params.values())).shape[0]
    step = max(1, -(-n_draws // max_draws))
    params = {k: v[::step] for k, v in params.items()}
    pieces = [outputs for _, outputs in iter_outputs(info, params, data.values)]
    log_weights, means, scales = (np.concatenate(p) for p in zip(*pieces, strict=True))
    return _Outputs(log_weights, means, scales, info, data)


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


def predict_density(
    result: xr.DataTree,
    model: pm.Model,
    X_new: object,
    y_grid: object,
    *,
    hdi_prob: float = DEFAULT_HDI_PROB,
    max_draws: int = DEFAULT_MAX_DRAWS,
) -> xr.DataArray:
    r"""The posterior predictive density of y over a grid, for each new x, with HDI bands.

    .. math::

        p(y \mid x, \mathcal{D}) = \frac1S \sum_{s=1}^S \sum_k \pi_k^{(s)}(x)
            \prod_q \mathcal{N}\big(y_q \mid \mu_{kq}^{(s)}(x), \sigma_{kq}^{(s)}(x)^2\big)

    Parameters
    ----------
    result : xarray.DataTree
        A fit of :func:`bayesmix.models.mdn` (NUTS, ADVI or MAP).
    model : pymc.Model
        The model that was fitted.
    X_new : array-like or DataFrame, shape (n_obs, n_features)
        Inputs in raw units.
    y_grid : array-like, shape (n_points,) or (n_points, n_outputs)
        Points of y (raw units) at which to evaluate the density.
    hdi_prob : float, default 0.94
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
        points and ``y_point`` (y, output) holds them).
    """
    hdi_prob = _check_probability(hdi_prob, name="hdi_prob")
    out = _outputs(result, model, X_new, max_draws)
    grid = _check_grid(y_grid, out.means.shape[-1])
    n_obs = out.X_new.n_obs
    density = np.empty((n_obs, grid.shape[0]))
    bands = np.empty((n_obs, grid.shape[0], 2))
    for i in range(n_obs):
        # (S, G): the density of each draw at every grid point for this x.
        z = (grid[None, :, None, :] - out.means[:, i, None]) / out.scales[:, i, None]
        component = np.sum(-0.5 * z**2 - np.log(out.scales[:, i, None]) - 0.5 * _LOG_2PI, axis=-1)
        per_draw = np.exp(logsumexp(out.log_weights[:, i, None] + component, axis=-1))
        density[i] = per_draw.mean(axis=0)
        bands[i] = _hdi(per_draw, ("y",), {}, hdi_prob).values
    outputs = out.info.settings["outputs"]
    coords = {"obs_id": np.arange(n_obs)}
    if len(outputs) == 1:
        coords["y"] = grid[:, 0]
    else:
        coords |= {"y": np.arange(grid.shape[0]), "y_point": (("y", "output"), grid), "output": outputs}
    coords |= {"hdi_lower": (("obs_id", "y"), bands[..., 0]), "hdi_upper": (("obs_id", "y"), bands[..., 1])}
    return xr.DataArray(
        density,
        dims=("obs_id", "y"),
        coords=coords,
        name="density",
        attrs={"hdi_prob": hdi_prob, "n_draws": out.means.shape[0]},
    )


def sample_predictive(
    result: xr.DataTree,
    model: pm.Model,
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
    result, model, X_new, max_draws
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
    out = _outputs(result, model, X_new, max_draws)
    rng = np.random.default_rng(random_seed)
    tempered = out.log_weights / temperature
    tempered -= logsumexp(tempered, axis=-1, keepdims=True)
    component = np.argmax(tempered + rng.gumbel(size=tempered.shape), axis=-1)[..., None, None]
    means = np.take_along_axis(out.means, component, axis=-2)[..., 0, :]
    scales = np.take_along_axis(out.scales, component, axis=-2)[..., 0, :]
    draws = means + np.sqrt(temperature) * scales * rng.standard_normal(means.shape)
    return xr.DataArray(
        draws,
        dims=("sample", "obs_id", "output"),
        coords={"obs_id": np.arange(out.X_new.n_obs), "output": out.info.settings["outputs"]},
        name="y",
        attrs={"temperature": float(temperature)},
    )


def predict_components(
    result: xr.DataTree,
    model: pm.Model,
    X_new: object,
    *,
    hdi_prob: float = DEFAULT_HDI_PROB,
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
    result, model, X_new, hdi_prob, max_draws
        As for :func:`predict_density`.

    Returns
    -------
    xarray.Dataset
        ``weights`` (obs_id, component), ``means`` and ``scales`` (obs_id,
        component, output): posterior means in raw units; each with an
        ``_hdi`` companion carrying a ``ci_bound`` dim. attrs give the number
        of draws and how many were renumbered.
    """
    hdi_prob = _check_probability(hdi_prob, name="hdi_prob")
    out = _outputs(result, model, X_new, max_draws)
    training = _outputs(result, model, out.info.data.values, max_draws)
    perms = _match_components(training)
    log_weights = np.take_along_axis(out.log_weights, perms[:, None, :], axis=-1)
    means = np.take_along_axis(out.means, perms[:, None, :, None], axis=-2)
    scales = np.take_along_axis(out.scales, perms[:, None, :, None], axis=-2)
    coords = {
        "obs_id": np.arange(out.X_new.n_obs),
        "component": np.arange(means.shape[2]),
        "output": out.info.settings["outputs"],
    }
    dims_of = {"weights": ("obs_id", "component"), "means": ("obs_id", "component", "output")}
    dims_of["scales"] = dims_of["means"]
    variables = {}
    for name, values in {"weights": np.exp(log_weights), "means": means, "scales": scales}.items():
        dims = dims_of[name]
        variables[name] = (dims, values.mean(axis=0))
        variables[f"{name}_hdi"] = _hdi(values, dims, {k: coords[k] for k in dims}, hdi_prob)
    n_renumbered = int(np.sum(np.any(perms != np.arange(perms.shape[1]), axis=1)))
    return xr.Dataset(
        variables,
        coords=coords,
        attrs={"hdi_prob": hdi_prob, "n_draws": means.shape[0], "n_renumbered": n_renumbered},
    )


def _match_components(training: _Outputs) -> np.ndarray:
    """Per draw, the permutation (S, K) mapping pivot components to that draw's components."""
    y_sd = np.asarray(training.info.settings["y_sd"])
    features = np.concatenate(
        [
            training.log_weights[..., None],
            training.means / y_sd,
            np.log(training.scales),
        ],
        axis=-1,
    )  # (S, n, K, 1 + 2Q)
    y = training.info.extras["y"].values
    z = (y[None, :, None, :] - training.means) / training.scales
    log_lik = logsumexp(training.log_weights + np.sum(-0.5 * z**2 - np.log(training.scales), axis=-1), axis=-1).sum(
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
