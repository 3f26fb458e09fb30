"""Diagnostics of a mixture density network's posterior, on label-invariant functionals.

A network's weights are not identified: permuting hidden units or mixture
components, or flipping the signs around a tanh unit, leaves the function
unchanged, so R-hat on the weights would flag chains that agree perfectly.
What must agree is the fitted conditional distribution. The diagnostics are
therefore computed on the total log-likelihood and on the conditional mean
and sd of y at five probe inputs (training rows at the 10%...90% quantiles of
the first feature), and the MAP baseline is compared on the same quantities.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesmix._log_likelihood import total_log_likelihood
from bayesmix._result import check_result
from bayesmix.diagnostics.mixture_diagnostics import (
    HDI_PROB,
    RHAT_MAX,
    Diagnostics,
    _chain_disagreement,
    _convergence_table,
    _flatten,
    _sampler_table,
    _summary_columns,
    low_ess_problems,
    no_problems_message,
)
from bayesmix.diagnostics.sampler_checks import sampler_problems
from bayesmix.models.mdn import (
    conditional_moments,
    info_from_result,
    iter_outputs,
    probe_rows,
    stacked_parameters,
)


def diagnose_network(result: xr.DataTree, baseline: xr.DataTree | None) -> Diagnostics:
    """:func:`bayesmix.diagnose` for an MDN fit, optionally against its MAP fit."""
    posterior = result["posterior"].to_dataset()
    functionals = _functionals(result)
    n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    convergence = _convergence_table(functionals, n_chains) if n_draws > 1 else _point_table(functionals)
    sampler = _sampler_table(result)
    stats = result["sample_stats"].to_dataset() if "sample_stats" in result.children else xr.Dataset()
    problems = [p.message for p in sampler_problems(posterior, stats, conditional=True)]
    log_lik = functionals["log_likelihood"].values.ravel()
    ll = {"posterior_mean": float(log_lik.mean()), "posterior_sd": float(log_lik.std())}
    table = None
    if baseline is not None:
        _check_baseline(baseline, result)
        reference = _functionals(baseline).isel(chain=0, draw=0, drop=True)
        table = _against_point(functionals, reference)
        map_ll = float(reference["log_likelihood"])
        ll |= {"map": map_ll, "fraction_below_map": float((log_lik < map_ll).mean())}
    verdict = _verdict(functionals, convergence, problems, table, ll, n_chains, n_draws, result.attrs.get("method"))
    notes = [
        "Computed on label-invariant functionals of the network, its total log-likelihood and the conditional "
        "mean and sd of y at five probe inputs: the network's weights themselves are not identified."
    ]
    return Diagnostics(
        convergence=convergence,
        sampler=sampler,
        baseline=table,
        adjusted_rand_index=None,
        log_likelihood=ll,
        verdict=verdict,
        ok=verdict[0].startswith("No problems"),
        relabel_summary="Not relabelled: the diagnostics use label-invariant functionals.",
        notes=notes,
        baseline_name="MAP",
    )


def _functionals(result: xr.DataTree) -> xr.Dataset:
    """Total log-likelihood (chain, draw) and conditional mean and sd of y at the probe inputs."""
    info = info_from_result(result)
    posterior = result["posterior"].to_dataset()
    rows = probe_rows(info)
    params = stacked_parameters(info, posterior)
    moments = [conditional_moments(*outputs) for _, outputs in iter_outputs(info, params, info.data.values[rows])]
    mean, sd = (np.concatenate(m) for m in zip(*moments, strict=True))
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    probes = [f"x={info.data.values[r, 0]:.4g}" for r in rows]
    dims = ("chain", "draw", "probe", "output")
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    coords |= {"probe": probes, "output": info.settings["outputs"]}
    total = total_log_likelihood(result)
    return xr.Dataset(
        {
            "log_likelihood": (("chain", "draw"), total.transpose("chain", "draw").values),
            "conditional_mean": (dims, mean.reshape(*shape, *mean.shape[1:])),
            "conditional_sd": (dims, sd.reshape(*shape, *sd.shape[1:])),
        },
        coords=coords,
    )


def _point_table(functionals: xr.Dataset):
    return _flatten(functionals.isel(chain=0, draw=0), "value").to_frame()


def _check_baseline(baseline: object, result: xr.DataTree) -> None:
    if not isinstance(baseline, xr.DataTree) or baseline.attrs.get("method") != "map":
        raise TypeError(
            "Argument `baseline` of an MDN fit must be its MAP fit, bayesmix.fit(model, method='map'), "
            f"but got {type(baseline).__name__}."
        )
    check_result(baseline, name="baseline")
    if baseline.attrs["bayesmix_settings"] != result.attrs["bayesmix_settings"]:
        raise ValueError(
            "Argument `baseline` is a MAP fit of another network or other data; fit the same model with method='map'."
        )


def _against_point(functionals: xr.Dataset, reference: xr.Dataset):
    table = _flatten(reference, "map").to_frame().join([*_summary_columns(functionals)])
    table["z"] = (table["map"] - table["mean"]) / table["sd"]
    table["map_in_hdi"] = (table["map"] >= table["hdi_3%"]) & (table["map"] <= table["hdi_97%"])
    return table


def _verdict(functionals, convergence, problems, table, ll, n_chains, n_draws, method) -> list[str]:
    found: list[str] = []
    variational = method in ("advi", "fullrank_advi")
    if n_draws == 1:
        return ["No problems to report: a MAP point estimate has no posterior uncertainty to diagnose."]
    if "r_hat" in convergence and not variational:
        bad = convergence[convergence["r_hat"] > RHAT_MAX].sort_values("r_hat", ascending=False)
        if len(bad):
            worst = bad.index[0]
            n_far, n = _chain_disagreement(functionals, worst)
            what = (
                f"{n_far} of {n} chains settled on another fitted function, a mode beyond the network's "
                "symmetries; run longer chains, use a smaller network, or compare with method='map'"
                if n_far
                else "the chains agree on location but mix slowly; run longer chains"
            )
            found.append(
                f"R-hat > {RHAT_MAX} on {len(bad)} functional(s) of the network, worst {worst} "
                f"({bad['r_hat'].iloc[0]:.3f}): {what}."
            )
    if "ess_bulk" in convergence and not variational:
        found += low_ess_problems(convergence, n_chains, "functional(s)")
    found += problems
    if table is not None:
        outside = table[~table["map_in_hdi"] & ~table.index.str.startswith("log_likelihood")]
        if len(outside):
            worst = outside["z"].abs().idxmax()
            found.append(
                f"The MAP lies outside the {HDI_PROB:.0%} HDI for {len(outside)} of {len(table) - 1} conditional "
                f"moments, worst {worst} (z = {outside.loc[worst, 'z']:.1f}): the optimized and the Bayesian "
                "network disagree there."
            )
        if ll["fraction_below_map"] < 0.5:
            found.append(
                f"The MAP's log-likelihood ({ll['map']:.1f}) is below most posterior draws: the optimizer "
                "stopped at a poor local optimum (raise n_init)."
            )
    if variational:
        found.append("Variational fit: R-hat and ESS do not apply; the posterior sd is usually underestimated.")
    if found:
        return found
    return [no_problems_message(convergence, n_chains) + "."]
