"""Diagnostics of a mixture of regressions: the mixture's, on its coefficients, after relabelling."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import xarray as xr
from scipy.special import softmax
from sklearn.metrics import adjusted_rand_score

from bayesmix.diagnostics import mixture_diagnostics as mixture
from bayesmix.diagnostics.sampler_checks import sampler_problems, started_from_em
from bayesmix.models.mixreg import check_solution, component_log_density, info_from_result, parameter_names, stacked
from bayesmix.relabel import relabel


def diagnose_regression(result: xr.DataTree, baseline: xr.Dataset | None) -> mixture.Diagnostics:
    """:func:`bayesmix.diagnose` for a fit of :func:`bayesmix.models.mixreg`: convergence of the intercepts,
    coefficients, the family's parameters and the weights (or the gate) after relabelling, and the posterior
    against the EM baseline (``bayesmix.em(X, K, y=y, ...)``) with the agreement of the modal memberships."""
    info = info_from_result(result)
    settings, response = info.settings, info.component_family.response
    if baseline is not None:
        check_solution(info, baseline, name="baseline")
    notes = []
    if "relabel" not in result.children:
        result = relabel(result, reference=baseline)
        notes.append("The result had not been relabelled; diagnose() relabelled it first.")
    posterior = result["posterior"].to_dataset()
    names = parameter_names(settings, response)
    params = posterior[names]
    n_chains = posterior.sizes["chain"]
    convergence = mixture._convergence_table(params, n_chains)
    sampler = mixture._sampler_table(result)
    log_lik = mixture._total_log_likelihood(result)
    ll_summary = {"posterior_mean": float(log_lik.mean()), "posterior_sd": float(log_lik.std())}
    table = ari = None
    if baseline is not None:
        table = mixture._baseline_table(params, baseline, SimpleNamespace(parameters=tuple(names)))
        memberships = _posterior_memberships(info, posterior)
        ari = float(adjusted_rand_score(baseline["responsibilities"].argmax("component"), memberships.argmax(-1)))
        em_ll = float(baseline["log_likelihood"])
        ll_summary |= {"em": em_ll, "fraction_below_em": float((log_lik < em_ll).mean())}
    stats = result["sample_stats"].to_dataset() if "sample_stats" in result.children else xr.Dataset()
    from_em = started_from_em(result.attrs)
    problems = sampler_problems(posterior, stats, started_from_em=from_em)
    verdict = mixture._verdict(
        params, convergence, sampler, problems, table, ari, ll_summary, n_chains, result.attrs.get("method"), from_em
    )
    ok = verdict[0].startswith("No problems")
    summary = result["relabel"].attrs.get("summary", "")
    return mixture.Diagnostics(convergence, sampler, table, ari, ll_summary, verdict, ok, summary, notes)


def _posterior_memberships(info, posterior: xr.Dataset) -> np.ndarray:
    """Posterior mean membership probabilities (n_obs, K) of the observed (x, y) pairs."""
    settings, response = info.settings, info.component_family.response
    params = stacked(posterior, settings, response)
    n_draws = params["intercepts"].shape[0]
    step = max(1, -(-n_draws // mixture.MAX_MEMBERSHIP_DRAWS))
    params = {k: v[::step] for k, v in params.items()}
    joint = component_log_density(settings, response, params, info.data.values, info.extras["y"].values[:, 0])
    return softmax(joint, axis=-1).mean(axis=0)
