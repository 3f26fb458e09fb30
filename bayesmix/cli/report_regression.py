"""The report's pictures of a mixture of regressions: the fitted regressions with their bands, and the gate."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from bayesmix.models.mixreg import info_from_result, linear_predictors, stacked

# Posterior draws evaluated per picture, thinned evenly.
MAX_DRAWS = 400
BAND = (0.05, 0.95)


def em_baseline(result: xr.DataTree, seed: int | None) -> xr.Dataset:
    """The EM fit of the same mixture of regressions, as the run seeded it (it started the chains)."""
    from bayesmix.models.mixreg import em_start

    return em_start(info_from_result(result), seed if seed is not None else 0)


def _draws(result: xr.DataTree):
    info = info_from_result(result)
    response = info.component_family.response
    return info, response, stacked(result["posterior"].to_dataset(), info.settings, response, MAX_DRAWS)


def _profile_rows(info, column: str, n_points: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Inputs along one column (its observed range), every other column at its mean: (grid, X rows)."""
    j = info.data.feature_names.index(column)
    values = info.data.values[:, j]
    grid = np.linspace(values.min(), values.max(), n_points)
    rows = np.repeat(info.data.values.mean(axis=0, keepdims=True), n_points, axis=0)
    rows[:, j] = grid
    return grid, rows


def regression_figure(result: xr.DataTree, baseline: xr.Dataset | None) -> tuple[plt.Figure, str]:
    """y against the expert with the most distinct values (the most continuous), points coloured by their most
    probable component (shaded by its probability), each component's mean of y (the other experts at their
    means) with its 90% band, and EM's lines dashed."""
    from scipy.special import softmax

    from bayesmix.models.mixreg import component_log_density

    info, response, params = _draws(result)
    settings = info.settings
    names = info.data.feature_names
    column = max(settings["experts"], key=lambda c: np.unique(info.data.values[:, names.index(c)]).size)
    j = names.index(column)
    x, y = info.data.values[:, j], info.extras["y"].values[:, 0]
    memberships = softmax(component_log_density(settings, response, params, info.data.values, y), axis=-1).mean(0)
    grid, rows = _profile_rows(info, column)
    _, eta = linear_predictors(settings, params, rows)  # (S, n, K)
    extras = [params[name] for name in response.extras]
    mean_y = response.natural_parameters(eta, *extras)[0]  # the mean of y in every family's first parameter
    fig, ax = plt.subplots(figsize=(6.4, 4))
    best = memberships.argmax(axis=1)
    colours = [f"C{k}" for k in best]
    ax.scatter(x, y, s=9, c=colours, alpha=np.clip(memberships.max(axis=1), 0.15, 1.0), linewidths=0)
    for k in range(mean_y.shape[-1]):
        low, high = np.quantile(mean_y[..., k], BAND, axis=0)
        ax.fill_between(grid, low, high, color=f"C{k}", alpha=0.25, lw=0)
        ax.plot(grid, np.median(mean_y[..., k], axis=0), color=f"C{k}", lw=1.5, label=f"component {k}")
    if baseline is not None:
        em = {name: np.asarray(baseline[name].values)[None] for name in params if name in baseline}
        _, em_eta = linear_predictors(settings, em, rows)
        em_mean = response.natural_parameters(em_eta, *(em[name] for name in response.extras))[0]
        for k in range(em_mean.shape[-1]):
            ax.plot(grid, em_mean[0, :, k], "k--", lw=0.8, label="EM" if k == 0 else None)
    others = "" if len(settings["experts"]) == 1 else " (other experts at their means)"
    ax.set(xlabel=column, ylabel=settings["output"], title=f"each component's mean of y, 90% band{others}")
    ax.legend(fontsize=8)
    return fig, "fitted regressions"


def gate_figure(result: xr.DataTree) -> tuple[plt.Figure | None, str]:
    """The gate's probability of each component against the first gating covariate (the others at their
    means), posterior median and 90% band."""
    info, _, params = _draws(result)
    settings = info.settings
    if not settings.get("gating"):
        return None, ""
    column = settings["gating"][0]
    grid, rows = _profile_rows(info, column)
    log_weights, _ = linear_predictors(settings, params, rows)
    weights = np.exp(log_weights)
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for k in range(weights.shape[-1]):
        low, high = np.quantile(weights[..., k], BAND, axis=0)
        ax.fill_between(grid, low, high, color=f"C{k}", alpha=0.25, lw=0)
        ax.plot(grid, np.median(weights[..., k], axis=0), color=f"C{k}", label=f"component {k}")
    ax.set(xlabel=column, ylabel="gate probability", ylim=(0, 1), title="the gate: weight of each component")
    ax.legend(fontsize=8)
    return fig, "gate probabilities"
