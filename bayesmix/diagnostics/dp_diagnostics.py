"""Diagnostics of a Dirichlet-process mixture, judged on label-invariant quantities.

A truncated Dirichlet process keeps many more components than the data
occupy. The empty ones wander over their prior, and a small cluster may be
held by different components in different chains, or come and go, without
any disagreement about the fitted distribution; R-hat on every component's
parameters would blame them all. What the chains must agree on is what does
not depend on the labels:

- ``alpha``, the concentration (when it is learned);
- ``log_likelihood``, the total log-likelihood of the data;
- ``occupied``, the number of clusters holding at least one observation in
  a partition drawn from each draw's membership probabilities;
- ``log_density``, the mixture's log-density at five observed rows (at the
  10%, ..., 90% quantiles of the first feature): where the clusters sit.

The verdict judges these. The components that hold data (at least one
observation in at least half of the drawn partitions, after relabelling)
are listed beside them for reading, not judged.
"""

from __future__ import annotations

import functools

import numpy as np
import xarray as xr
from sklearn.metrics import adjusted_rand_score

from bayesmix._log_likelihood import total_log_likelihood
from bayesmix._result import mixture_parameters, observed_data_of
from bayesmix.components._mixture_density import chunked_over_draws, membership_probabilities, mixture_log_density
from bayesmix.diagnostics.mixture_diagnostics import (
    RHAT_MAX,
    Diagnostics,
    _baseline_table,
    _chain_disagreement,
    _convergence_table,
    _parameter_dataset,
    _posterior_memberships,
    _sampler_table,
    baseline_agreement,
    baseline_problems,
    log_likelihood_summary,
    low_ess_problems,
    no_problems_message,
    rank_test_problems,
)
from bayesmix.diagnostics.sampler_checks import sampler_problems, started_from_em

N_PROBES = 5
# The partitions behind ``occupied`` are drawn with this seed, so that diagnosing a result twice agrees.
PARTITION_SEED = 0
# A component holds data when it holds an observation in at least this share of the drawn partitions.
HELD_SHARE = 0.5
JUDGED = "alpha, the total log-likelihood, the number of occupied clusters and the log-density at five points"


def diagnose_dirichlet_process(result: xr.DataTree, family, baseline) -> Diagnostics:
    """:func:`bayesmix.diagnose` for a relabelled Dirichlet-process fit (``baseline``: EM with as many components)."""
    posterior = result["posterior"].to_dataset()
    n_chains = posterior.sizes["chain"]
    used = component_use(result, family)
    functionals = label_invariant_quantities(result, family, used)
    convergence = _convergence_table(functionals, n_chains)
    held = used.mean(axis=(0, 1)) >= HELD_SHARE
    params = _parameter_dataset(posterior.drop_vars("alpha", errors="ignore"), family).isel(component=held)
    components = _convergence_table(params, n_chains)
    table = ari = None
    ll = log_likelihood_summary(functionals["log_likelihood"].values.ravel())
    if baseline is not None:
        table = _baseline_table(params, baseline.isel(component=held), family)
        memberships = _posterior_memberships(observed_data_of(result).values, posterior, family)
        ari = float(adjusted_rand_score(baseline["responsibilities"].argmax("component"), memberships.argmax(-1)))
        ll = log_likelihood_summary(functionals["log_likelihood"].values.ravel(), float(baseline["log_likelihood"]))
    stats = result["sample_stats"].to_dataset() if "sample_stats" in result.children else xr.Dataset()
    from_em = started_from_em(result.attrs)
    # where divergences concentrate is looked for among the components that hold data, not the empty ones
    located = posterior.isel(component=np.flatnonzero(held)) if held.any() else posterior
    problems = [p.message for p in sampler_problems(located, stats, started_from_em=from_em)]
    verdict = _verdict(functionals, convergence, problems, n_chains, result.attrs.get("method"))
    verdict = _with_baseline(verdict, baseline_problems(table, ari, ll), table, ari)
    n_held = int(held.sum())
    notes = [
        f"Judged on label-invariant quantities ({JUDGED}). The {n_held} of {held.size} components that hold "
        "data (an observation or more in at least half of the drawn partitions) are listed after them, not "
        "judged: a small cluster that different chains hold in different components, or that comes and goes, "
        "changes their R-hat without any disagreement about the fitted distribution."
    ]
    return Diagnostics(
        convergence=convergence,
        sampler=_sampler_table(result),
        baseline=table,
        adjusted_rand_index=ari,
        log_likelihood=ll,
        verdict=verdict,
        ok=verdict[0].startswith("No problems"),
        relabel_summary=result["relabel"].attrs.get("summary", ""),
        notes=notes,
        components=components,
        functionals=functionals,
    )


def component_use(result: xr.DataTree, family) -> np.ndarray:
    """Whether each component holds an observation in a partition drawn from each draw: (chain, draw, component)."""
    posterior = result["posterior"].to_dataset()
    flat = mixture_parameters(posterior, family)  # chain-major, every draw
    rng = np.random.default_rng(PARTITION_SEED)
    used = chunked_over_draws(functools.partial(_used, family, rng), observed_data_of(result).values, *flat)
    return used.reshape(posterior.sizes["chain"], posterior.sizes["draw"], -1)


def label_invariant_quantities(result: xr.DataTree, family, used: np.ndarray) -> xr.Dataset:
    """``alpha`` (when learned), ``log_likelihood``, ``occupied`` and ``log_density`` at the probe rows, per draw;
    ``used`` is :func:`component_use`."""
    posterior = result["posterior"].to_dataset()
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    X = observed_data_of(result).values
    flat = mixture_parameters(posterior, family)
    rows = probe_rows(X)
    log_density = mixture_log_density(family, X[rows], *flat)
    total = total_log_likelihood(result)
    ds = xr.Dataset(coords=coords)
    if "alpha" in posterior:
        ds["alpha"] = posterior["alpha"].transpose("chain", "draw")
    ds["log_likelihood"] = (("chain", "draw"), total.values)
    ds["occupied"] = (("chain", "draw"), used.sum(-1).astype(float))
    probes = [f"row {r}" for r in rows]
    ds["log_density"] = (("chain", "draw", "probe"), log_density.reshape(*shape, len(rows)))
    return ds.assign_coords(probe=probes)


def _used(family, rng: np.random.Generator, X: np.ndarray, *params: np.ndarray) -> np.ndarray:
    """Which labels occur in one partition drawn from each draw's membership probabilities: (S, K)."""
    probabilities = membership_probabilities(family, X, *params)  # (S, N, K)
    u = rng.random((*probabilities.shape[:2], 1))
    labels = np.minimum((u > probabilities.cumsum(-1)).sum(-1), probabilities.shape[-1] - 1)
    used = np.zeros((labels.shape[0], probabilities.shape[-1]), bool)
    np.put_along_axis(used, labels, True, axis=1)
    return used


def probe_rows(X: np.ndarray) -> np.ndarray:
    """Complete rows at evenly spaced quantiles (10% to 90%) of the first feature."""
    complete = np.flatnonzero(~np.isnan(X).any(axis=1))
    order = complete[np.argsort(X[complete, 0], kind="stable")]
    positions = np.round(np.linspace(0.1, 0.9, N_PROBES) * (order.size - 1)).astype(int)
    return order[np.unique(positions)]


def _verdict(functionals, convergence, problems, n_chains, method) -> list[str]:
    if method in ("advi", "fullrank_advi"):
        return [*problems, "Variational fit: R-hat and ESS do not apply; the posterior sd is usually underestimated."]
    found: list[str] = []
    if "r_hat" in convergence:
        bad = convergence[convergence["r_hat"] > RHAT_MAX].sort_values("r_hat", ascending=False)
        for label, row in bad.head(3).iterrows():
            n_far, n = _chain_disagreement(functionals, label)
            found.append(
                f"R-hat {row['r_hat']:.3f} on {label}: "
                + (
                    f"{n_far} of {n} chains settled on another partition (other numbers or places of clusters); "
                    "run more or longer chains."
                    if n_far
                    else "the chains agree on location but mix slowly; run longer chains."
                )
            )
        if len(bad) > 3:
            found.append(f"{len(bad) - 3} more label-invariant quantities have R-hat > {RHAT_MAX}.")
        found += rank_test_problems(convergence)
    if "ess_bulk" in convergence:
        found += low_ess_problems(convergence, n_chains, "label-invariant quantities")
    found += problems
    if found:
        return found
    return [no_problems_message(convergence, n_chains) + f" on {JUDGED}."]


def _with_baseline(verdict: list[str], problems: list[str], table, ari) -> list[str]:
    """The verdict with the baseline's problems added, or its agreement said on a clean verdict."""
    if problems:
        return [*(v for v in verdict if not v.startswith("No problems")), *problems]
    if table is not None and verdict[0].startswith("No problems"):
        return [verdict[0][:-1] + baseline_agreement(table, ari) + "."]
    return verdict
