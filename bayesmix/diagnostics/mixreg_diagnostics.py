"""Diagnostics of a mixture of regressions: the mixture's, on its coefficients, after relabelling."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import xarray as xr
from scipy.special import softmax

from bayesmix.diagnostics import mixture_diagnostics as mixture
from bayesmix.models.mixreg import check_solution, component_log_density, info_from_result, parameter_names, stacked


def diagnose_regression(result: xr.DataTree, baseline: xr.Dataset | None) -> mixture.Diagnostics:
    """:func:`bayesmix.diagnose` for a fit of :func:`bayesmix.models.mixreg`: convergence of the intercepts,
    coefficients, the family's parameters and the weights (or the gate) after relabelling, and the posterior
    against the EM baseline (``bayesmix.em(X, K, y=y, ...)``) with the agreement of the modal memberships."""
    info = info_from_result(result)
    settings, response = info.settings, info.component_family.response
    if baseline is not None:
        check_solution(info, baseline, name="baseline")
    result, notes = mixture.relabelled(result, baseline)
    posterior = result["posterior"].to_dataset()
    names = parameter_names(settings, response)
    params = posterior[names]
    return mixture.diagnostics_of(
        result,
        params,
        baseline,
        lambda: _posterior_memberships(info, posterior),
        lambda: mixture._baseline_table(params, baseline, SimpleNamespace(parameters=tuple(names))),
        notes,
    )


def _posterior_memberships(info, posterior: xr.Dataset) -> np.ndarray:
    """Posterior mean membership probabilities (n_obs, K) of the observed (x, y) pairs."""
    settings, response = info.settings, info.component_family.response
    params = stacked(posterior, settings, response, mixture.membership_draws(info.data.n_obs))
    joint = component_log_density(settings, response, params, info.data.values, info.extras["y"].values[:, 0])
    return softmax(joint, axis=-1).mean(axis=0)
