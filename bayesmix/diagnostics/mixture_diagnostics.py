"""Posterior diagnostics: convergence after relabelling, and the posterior against EM."""

from __future__ import annotations

import functools
import html
import warnings
from dataclasses import dataclass, field
from itertools import product

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr
from sklearn.metrics import adjusted_rand_score

from bayesmix._log_likelihood import total_log_likelihood
from bayesmix._result import (
    SAMPLE_DIMS,
    check_result,
    entry_labels,
    family_of,
    mixture_parameters,
    observed_data_of,
    thinning_step,
)
from bayesmix.components._mixture_density import mean_over_draws, membership_probabilities
from bayesmix.diagnostics.sampler_checks import sampler_problems, started_from_em
from bayesmix.models._base import kind_of
from bayesmix.relabel import relabel

HDI_PROB = 0.94
RHAT_MAX = 1.01
# The rank plots' multi-chain uniformity test (arviz-stats' mchain_uniformity_test): a parameter is flagged when
# its p-value is below this level divided by the number of parameters judged, so that a fit whose chains all
# sample one posterior is flagged somewhere with probability about 1%, whatever its number of parameters.
RANK_TEST_ALPHA = 0.01
# The test's cost grows with the square of the draws (21 parameters: 0.2 s at 250 draws per chain, 2.2 s at
# 1,000, 130 s at 10,000), so it runs on every k-th draw, at most this many per chain; the plots use the same.
RANK_TEST_MAX_DRAWS = 250
ESS_MIN_PER_CHAIN = 100
COMPONENTS_HEADING = "Components holding data (after relabelling; listed, not judged)"
# Posterior memberships are averaged over at most this many (evenly thinned) draws, and over fewer for
# large data (draws x rows at most MEMBERSHIP_EVALUATIONS, never below MIN_MEMBERSHIP_DRAWS): 1,000 draws of
# 1e6 rows took 4 minutes in numpy, and the posterior of so many rows is narrow enough that 100 draws give
# its mean memberships.
MAX_MEMBERSHIP_DRAWS = 1000
MIN_MEMBERSHIP_DRAWS = 100
MEMBERSHIP_EVALUATIONS = 20_000_000


@dataclass
class Diagnostics:
    """Diagnostics of a mixture posterior, computed after relabelling.

    Attributes
    ----------
    convergence : pandas.DataFrame
        Per parameter: posterior mean, sd, 94% HDI, rank-normalized R-hat,
        bulk and tail ESS, MCSE of the mean, and ``rank_p``, the p-value of
        the rank plots' test that every chain's ranks are uniform.
    sampler : pandas.DataFrame
        Per chain: divergences, E-BFMI, fraction of draws at the maximum tree depth.
    baseline : pandas.DataFrame or None
        Per parameter: the EM estimate beside the posterior mean, sd and 94%
        HDI, ``z = (EM - mean) / sd`` and whether EM lies in the HDI.
    adjusted_rand_index : float or None
        Agreement between the posterior modal assignment and EM's.
    log_likelihood : dict
        The posterior distribution of the total log-likelihood (mean, sd)
        against the EM log-likelihood, and the share of draws below EM's
        (for an MDN, the keys ``map`` and ``fraction_below_map``).
    verdict : list of str
        What is wrong and where, in words; one line saying all is well otherwise.
    ok : bool
        True when the verdict found no problem.
    relabel_summary : str
        How the draws were relabelled before diagnosing.
    notes : list of str
        How the result was prepared.
    baseline_name : str
        "EM" for the mixtures, "MAP" for an MDN.
    components : pandas.DataFrame or None
        For a Dirichlet-process fit, whose ``convergence`` holds the
        label-invariant quantities the verdict judges: the parameters of the
        components that hold data, after relabelling, listed and not judged.
    functionals : xarray.Dataset or None
        For a Dirichlet-process fit, the label-invariant quantities per draw
        (``alpha``, ``log_likelihood``, ``occupied``, ``log_density``).
    """

    convergence: pd.DataFrame
    sampler: pd.DataFrame
    baseline: pd.DataFrame | None
    adjusted_rand_index: float | None
    log_likelihood: dict
    verdict: list[str]
    ok: bool
    relabel_summary: str
    notes: list[str] = field(default_factory=list)
    baseline_name: str = "EM"
    components: pd.DataFrame | None = None
    functionals: xr.Dataset | None = field(default=None, repr=False)

    def __str__(self) -> str:
        lines = ["Verdict:", *(f"  - {v}" for v in self.verdict), "", f"Relabelling: {self.relabel_summary}"]
        heading = f"Convergence{self._qualifier}:"
        lines += [*(f"Note: {n}" for n in self.notes), "", heading]
        lines.append(self.convergence.to_string(float_format=lambda x: f"{x:.4g}"))
        if self.components is not None:
            lines += ["", f"{COMPONENTS_HEADING}:", self.components.to_string(float_format=lambda x: f"{x:.4g}")]
        if len(self.sampler.columns):
            lines += ["", "Sampler:", self.sampler.to_string(float_format=lambda x: f"{x:.3g}")]
        if self.baseline is not None:
            lines += [
                "",
                f"Posterior against {self.baseline_name}:",
                self.baseline.to_string(float_format=lambda x: f"{x:.4g}"),
            ]
            if self.adjusted_rand_index is not None:
                lines.append(f"Adjusted Rand index, posterior modal assignment vs EM: {self.adjusted_rand_index:.3f}")
        if self.log_likelihood:
            ll = self.log_likelihood
            text = f"Total log-likelihood: posterior mean {ll['posterior_mean']:.2f} (sd {ll['posterior_sd']:.2f})"
            for key in ("em", "map"):
                if key in ll:
                    text += f"; {key.upper()} {ll[key]:.2f}, above {100 * ll[f'fraction_below_{key}']:.1f}% of draws"
            lines.append(text)
        return "\n".join(lines)

    __repr__ = __str__

    @property
    def _qualifier(self) -> str:
        """What the convergence table is computed on, for its heading."""
        if self.components is not None:
            return " (label-invariant quantities)"
        return " (after relabelling)" if self.baseline_name == "EM" else ""

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#b35900"
        items = "".join(f"<li>{html.escape(v)}</li>" for v in self.verdict)
        parts = [
            f"<div><h4 style='color:{colour}'>Verdict</h4><ul>{items}</ul>",
            f"<p><i>{html.escape(self.relabel_summary)}</i></p>",
            *(f"<p>{html.escape(n)}</p>" for n in self.notes),
            f"<h4>Convergence{self._qualifier}</h4>",
            self.convergence.to_html(float_format=lambda x: f"{x:.4g}"),
        ]
        if self.components is not None:
            parts += [f"<h4>{COMPONENTS_HEADING}</h4>", self.components.to_html(float_format=lambda x: f"{x:.4g}")]
        if len(self.sampler.columns):
            parts += ["<h4>Sampler</h4>", self.sampler.to_html(float_format=lambda x: f"{x:.3g}")]
        if self.baseline is not None:
            parts += [
                f"<h4>Posterior against {self.baseline_name}</h4>",
                self.baseline.to_html(float_format=lambda x: f"{x:.4g}"),
            ]
            if self.adjusted_rand_index is not None:
                parts.append(
                    f"<p>Adjusted Rand index (posterior modal assignment vs EM): {self.adjusted_rand_index:.3f}</p>"
                )
        return "".join(parts) + "</div>"


def diagnose(result: xr.DataTree, *, baseline: xr.Dataset | xr.DataTree | None = None) -> Diagnostics:
    """Diagnose a mixture posterior after relabelling, optionally against an EM baseline.

    Parameters
    ----------
    result : xarray.DataTree
        A fit from :func:`bayesmix.fit`. If it has not been relabelled it is
        relabelled first (to ``baseline`` when given, else to the pivot draw)
        and the notes say so. A fit of :func:`bayesmix.models.mdn` is
        diagnosed on label-invariant functionals instead (its total
        log-likelihood and the conditional mean and sd of y at five probe
        inputs), since its weights are not identified.
    baseline : xarray.Dataset or xarray.DataTree, optional
        An EM result from :func:`bayesmix.em` with the same number of
        components (for a mixture of regressions ``bayesmix.em(X, K, y=y, ...)``, whose memberships and
        coefficients it is compared with); for an MDN, the MAP fit of the same model
        (``bayesmix.fit(model, method="map")``).

    Returns
    -------
    Diagnostics
        Tables and a verdict in words; prints as text and renders as HTML in notebooks.

    Notes
    -----
    Genuine multimodality that relabelling cannot remove (chains that still
    disagree after every draw has been aligned to one reference) is reported
    in the verdict, never averaged away.
    """
    result = check_result(result)
    if kind_of(result.attrs).is_regression:
        from bayesmix.diagnostics.mixreg_diagnostics import diagnose_regression

        return diagnose_regression(result, baseline)
    if kind_of(result.attrs).is_network:
        from bayesmix.diagnostics.mdn_diagnostics import diagnose_network

        return diagnose_network(result, baseline)
    family = family_of(result)
    if baseline is not None:  # before relabelling, which would report it as its `reference`
        _check_baseline(baseline, result["posterior"].to_dataset(), family)
    result, notes = relabelled(result, baseline)
    if kind_of(result.attrs).is_dirichlet_process:
        from bayesmix.diagnostics.dp_diagnostics import diagnose_dirichlet_process

        report = diagnose_dirichlet_process(result, family, baseline)
        report.notes[:0] = notes
        return report
    posterior = result["posterior"].to_dataset()
    params = _parameter_dataset(posterior, family)
    data = observed_data_of(result)
    return diagnostics_of(
        result,
        params,
        baseline,
        lambda: _posterior_memberships(data.values, posterior, family),
        lambda: _baseline_table(params, baseline, family),
        notes,
    )


def relabelled(result: xr.DataTree, baseline) -> tuple[xr.DataTree, list[str]]:
    """The result relabelled (to the baseline when given) unless it was, and the note that says so."""
    if "relabel" in result.children:
        return result, []
    return relabel(result, reference=baseline), ["The result had not been relabelled; diagnose() relabelled it first."]


def diagnostics_of(
    result: xr.DataTree, params: xr.Dataset, baseline, memberships, baseline_table, notes
) -> Diagnostics:
    """The tables and the verdict of a relabelled result, from its parameters to judge (``params``), and, when
    there is a ``baseline``, functions giving the posterior mean memberships (n_obs, K) and the table of the
    posterior against the baseline."""
    posterior = result["posterior"].to_dataset()
    n_chains = posterior.sizes["chain"]
    convergence = _convergence_table(params, n_chains)
    sampler = _sampler_table(result)
    log_lik = _total_log_likelihood(result)
    ll_summary = log_likelihood_summary(log_lik)
    table = ari = None
    if baseline is not None:
        table = baseline_table()
        ari = float(adjusted_rand_score(baseline["responsibilities"].argmax("component"), memberships().argmax(-1)))
        ll_summary = log_likelihood_summary(log_lik, float(baseline["log_likelihood"]))
    stats = result["sample_stats"].to_dataset() if "sample_stats" in result.children else xr.Dataset()
    from_em = started_from_em(result.attrs)
    problems = sampler_problems(posterior, stats, started_from_em=from_em)
    verdict = _verdict(
        params, convergence, sampler, problems, table, ari, ll_summary, n_chains, result.attrs.get("method"), from_em
    )
    ok = verdict[0].startswith("No problems")
    summary = result["relabel"].attrs.get("summary", "")
    return Diagnostics(convergence, sampler, table, ari, ll_summary, verdict, ok, summary, notes)


def log_likelihood_summary(log_lik: np.ndarray, em: float | None = None) -> dict:
    """The posterior mean and sd of the total log-likelihood, and EM's value with the share of draws below it."""
    summary = {"posterior_mean": float(log_lik.mean()), "posterior_sd": float(log_lik.std())}
    if em is not None:
        summary |= {"em": em, "fraction_below_em": float((log_lik < em).mean())}
    return summary


def _parameter_dataset(posterior: xr.Dataset, family) -> xr.Dataset:
    """Weights, the family's parameters (matrices by their lower triangle) and alpha.

    A parameter shared by every component (a tied covariance) is listed once, as component 0's.
    """
    ds = posterior[[v for v in ("weights", *family.parameters, "alpha") if v in posterior]]
    for name, da in ds.data_vars.items():
        if name != "weights" and da.sizes.get("component", 1) > 1 and bool((da == da.isel(component=0)).all()):
            ds[name] = da = da.isel(component=[0])
        if "feature_bis" in da.dims:
            features = list(ds["feature"].values)
            lower = xr.DataArray(
                np.tril(np.ones((len(features), len(features)), bool)),
                dims=("feature", "feature_bis"),
                coords={"feature": features, "feature_bis": features},
            )
            ds[name] = da.where(lower)
    return ds


def _flatten(ds: xr.Dataset, column: str) -> pd.Series:
    pieces = []
    for name, da in ds.data_vars.items():
        dims = [d for d in da.dims if d != "ci_bound"]
        pieces.append(pd.Series(da.transpose(*dims).values.ravel(), index=entry_labels(da.rename(name))))
    return pd.concat(pieces).rename(column)


def _summary_columns(params: xr.Dataset) -> list[pd.Series]:
    """Posterior mean, sd and 94% HDI bounds per parameter."""
    hdi = azs.hdi(params, prob=HDI_PROB)
    return [
        _flatten(params.mean(SAMPLE_DIMS), "mean"),
        _flatten(params.std(SAMPLE_DIMS), "sd"),
        _flatten(hdi.sel(ci_bound="lower", drop=True), "hdi_3%"),
        _flatten(hdi.sel(ci_bound="upper", drop=True), "hdi_97%"),
    ]


def _convergence_table(params: xr.Dataset, n_chains: int) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        columns = _summary_columns(params)
        if n_chains > 1 or params.sizes["draw"] >= 4:
            columns += [
                _flatten(azs.rhat(params), "r_hat") if n_chains > 1 else None,
                _flatten(azs.ess(params, method="bulk"), "ess_bulk"),
                _flatten(azs.ess(params, method="tail"), "ess_tail"),
                _flatten(azs.mcse(params), "mcse_mean"),
                _rank_test(params) if n_chains > 1 else None,
            ]
    table = pd.concat([c for c in columns if c is not None], axis=1)
    table = table[table["sd"].notna() & (table["sd"] > 0)]  # structural zeros and upper triangles
    return table


def rank_test_step(n_draws: int) -> int:
    """The thinning of the rank test and the rank plots: every k-th draw, at most RANK_TEST_MAX_DRAWS per chain."""
    return thinning_step(n_draws, RANK_TEST_MAX_DRAWS)


def rank_test_draws(ds):
    """The draws the rank test and the rank plots use."""
    return ds.isel(draw=slice(None, None, rank_test_step(ds.sizes["draw"])))


def _rank_test(params: xr.Dataset) -> pd.Series:
    """The p-value of the multi-chain uniformity test of each parameter's ranks, as ArviZ's rank plots show it."""
    ranks = rank_test_draws(params).azstats.compute_ranks(dim=SAMPLE_DIMS, relative=True)
    p_values, _, _ = ranks.azstats.mchain_uniformity_test(dim=SAMPLE_DIMS)
    return _flatten(p_values, "rank_p")


def rank_test_level(n_parameters: int) -> float:
    """The p-value below which the rank test flags a parameter among ``n_parameters`` (Bonferroni)."""
    return RANK_TEST_ALPHA / max(n_parameters, 1)


def rank_test_problems(convergence: pd.DataFrame) -> list[str]:
    """The verdict line for parameters whose chains' ranks are not uniform (the rank plots' red flags)."""
    if "rank_p" not in convergence:
        return []
    n_tested = int(convergence["rank_p"].notna().sum())
    level = rank_test_level(n_tested)
    flagged = convergence[convergence["rank_p"] < level].sort_values("rank_p")
    if not len(flagged):
        return []
    worst = flagged.index[0]
    return [
        f"The rank plots flag {len(flagged)} parameter(s), worst {worst} (p = {flagged['rank_p'].iloc[0]:.2g}, "
        f"below {level:.2g}: 1% over the {n_tested} parameters): some chain's draws "
        "sit apart from the others' there; run longer chains."
    ]


def _sampler_table(result: xr.DataTree) -> pd.DataFrame:
    stats = result["sample_stats"].to_dataset() if "sample_stats" in result.children else xr.Dataset()
    chains = result["posterior"]["chain"].values
    table = pd.DataFrame(index=pd.Index(chains, name="chain"))
    if "diverging" in stats:
        table["divergences"] = stats["diverging"].sum("draw").values.astype(int)
    if "energy" in stats and stats.sizes.get("draw", 0) > 2:
        table["e_bfmi"] = azs.bfmi(result)["energy"].values
    for name in ("maxdepth_reached", "reached_max_treedepth"):
        if name in stats:
            table["tree_depth_saturated"] = stats[name].mean("draw").values
    return table


def membership_draws(n_obs: int) -> int:
    """How many draws the posterior mean memberships of ``n_obs`` rows average over."""
    return int(np.clip(MEMBERSHIP_EVALUATIONS // max(n_obs, 1), MIN_MEMBERSHIP_DRAWS, MAX_MEMBERSHIP_DRAWS))


def _posterior_memberships(X: np.ndarray, posterior: xr.Dataset, family) -> np.ndarray:
    """Posterior mean membership probabilities (n_obs, K) on relabelled components."""
    flat = mixture_parameters(posterior, family, membership_draws(X.shape[0]))
    return mean_over_draws(functools.partial(membership_probabilities, family), X, *flat)


def _total_log_likelihood(result: xr.DataTree) -> np.ndarray:
    return total_log_likelihood(result).values.ravel()


def _check_baseline(baseline: object, posterior: xr.Dataset, family) -> None:
    needed = {"weights", *family.parameters, "responsibilities", "log_likelihood"}
    if not isinstance(baseline, xr.Dataset) or not needed <= set(baseline):
        raise TypeError(
            "Argument `baseline` must be an EM result from bayesmix.em (an xarray.Dataset with "
            f"{sorted(needed)}) but got {type(baseline).__name__}."
        )
    if baseline.sizes["component"] != posterior.sizes["component"]:
        raise ValueError(
            f"Argument `baseline` has {baseline.sizes['component']} components but the result has "
            f"{posterior.sizes['component']}; run bayesmix.em with the model's number of components."
        )


def _baseline_table(params: xr.Dataset, baseline: xr.Dataset, family) -> pd.DataFrame:
    names = [v for v in ("weights", *family.parameters) if v in params]
    post = params[names]
    em = baseline[names].where(post[names].isel(chain=0, draw=0).notnull())
    table = pd.concat([_flatten(em, "em"), *_summary_columns(post)], axis=1)
    table = table[table["sd"].notna() & (table["sd"] > 0)]
    table["z"] = (table["em"] - table["mean"]) / table["sd"]
    table["em_in_hdi"] = (table["em"] >= table["hdi_3%"]) & (table["em"] <= table["hdi_97%"])
    return table


def _chain_disagreement(params: xr.Dataset, label: str) -> tuple[int, int]:
    """How many chains sit away from the others for one parameter, by chain means."""
    name = label.partition("[")[0]
    da = params[name]
    dims = [d for d in da.dims if d not in SAMPLE_DIMS]
    if dims:  # the entry whose label this is (labels are built, not parsed: coordinates may hold brackets)
        entries = list(product(*(da[d].values for d in dims)))
        da = da.sel(dict(zip(dims, entries[entry_labels(da.rename(name)).index(label)], strict=True)))
    chain_means = np.sort(da.mean("draw").values)
    within_sd = float(np.sqrt(da.var("draw").mean()))
    # Chains whose means are more than one within-chain sd apart sit in different modes;
    # the largest group of chains is the majority, the rest disagree with it.
    group_sizes = np.diff(np.flatnonzero(np.r_[True, np.diff(chain_means) > within_sd, True]))
    return int(len(chain_means) - group_sizes.max()), len(chain_means)


def no_problems_message(convergence: pd.DataFrame, n_chains: int) -> str:
    """The start of a clean verdict: R-hat (with several chains) and the smallest bulk ESS."""
    message = f"No problems: every R-hat <= {RHAT_MAX}" if n_chains > 1 else "No problems"
    if "ess_bulk" in convergence:
        message += f", smallest bulk ESS {convergence['ess_bulk'].min():.0f}"
    return message


def low_ess_problems(convergence: pd.DataFrame, n_chains: int, what: str) -> list[str]:
    """The verdict line for bulk or tail ESS below 100 per chain, naming the worst entry (or none)."""
    need = ESS_MIN_PER_CHAIN * n_chains
    low = convergence[(convergence["ess_bulk"] < need) | (convergence["ess_tail"] < need)]
    if not len(low):
        return []
    worst = low[["ess_bulk", "ess_tail"]].min(axis=1).idxmin()
    return [
        f"Effective sample size below {need} on {len(low)} {what}, worst {worst} "
        f"(bulk {low.loc[worst, 'ess_bulk']:.0f}, tail {low.loc[worst, 'ess_tail']:.0f}); draw more."
    ]


def baseline_problems(baseline: pd.DataFrame | None, ari: float | None, ll: dict) -> list[str]:
    """The verdict's lines where the posterior and the EM baseline disagree (none without a baseline)."""
    if baseline is None:
        return []
    problems = []
    outside = baseline[~baseline["em_in_hdi"]]
    if len(outside):
        worst = outside["z"].abs().idxmax()
        problems.append(
            f"EM lies outside the 94% HDI for {len(outside)} of {len(baseline)} parameters, worst {worst} "
            f"(z = {outside.loc[worst, 'z']:.1f}): EM and the posterior disagree there."
        )
    if ari is not None and ari < 0.9:
        problems.append(f"The posterior modal assignment agrees only partly with EM's (adjusted Rand index {ari:.2f}).")
    if ll.get("fraction_below_em", 1.0) < 0.5:
        problems.append(
            f"EM's log-likelihood ({ll['em']:.1f}) is below most posterior draws: EM stopped at a worse "
            "local optimum than the posterior's bulk."
        )
    return problems


def _verdict(
    params, convergence, sampler, sampler_problems, baseline, ari, ll, n_chains, method, from_em=False
) -> list[str]:
    problems: list[str] = []
    variational = method in ("advi", "fullrank_advi")
    if "r_hat" in convergence and not variational:
        bad = convergence[convergence["r_hat"] > RHAT_MAX].sort_values("r_hat", ascending=False)
        for label, row in bad.head(3).iterrows():
            n_far, n = _chain_disagreement(params, label)
            if n_far:
                problems.append(
                    f"R-hat {row['r_hat']:.2f} on {label}: {n_far} of {n} chains disagree after relabelling; "
                    "the posterior is multimodal beyond label switching (try another K or covariance type"
                    + (")." if from_em else ", or start from EM with init='auto', fit's default).")
                )
            else:
                problems.append(
                    f"R-hat {row['r_hat']:.3f} on {label}: chains agree on location but mix slowly; run longer chains."
                )
        if len(bad) > 3:
            problems.append(f"{len(bad) - 3} more parameters have R-hat > {RHAT_MAX}.")
        problems += rank_test_problems(convergence)
    if "ess_bulk" in convergence and not variational:
        problems += low_ess_problems(convergence, n_chains, "parameter(s)")
    problems += [p.message for p in sampler_problems]
    problems += baseline_problems(baseline, ari, ll)
    if variational:
        problems.append("Variational fit: R-hat and ESS do not apply; the posterior sd is usually underestimated.")
    if problems:
        return problems
    message = no_problems_message(convergence, n_chains)
    if "divergences" in sampler:
        message += ", no divergences"
    if baseline is not None:
        message += baseline_agreement(baseline, ari)
    return [message + "."]


def baseline_agreement(baseline: pd.DataFrame, ari: float) -> str:
    """The clause a clean verdict ends with when EM agrees with the posterior."""
    return f"; EM lies in the 94% HDI of all {len(baseline)} parameters (ARI {ari:.2f})"
