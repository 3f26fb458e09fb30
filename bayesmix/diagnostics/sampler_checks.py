"""NUTS problems in words: divergences, saturated tree depth and low E-BFMI.

Each problem is described with the parameter most implicated in it and what
to try next, so that :func:`bayesmix.fit` can warn about it at once and
:func:`bayesmix.diagnose` can put it in its verdict.

Which parameter is implicated is found chain by chain, so that label
switching between chains cannot blur it:

* divergences: the parameter whose divergent draws sit furthest from the
  middle of its chain, by the mean normalized rank of those draws (a z-score
  against the uniform ranks expected if divergences fell anywhere);
* saturated tree depth: the parameter with the smallest bulk ESS within the
  chains (the slowest direction, which forces the longest trajectories);
* low E-BFMI: the parameter whose draws correlate most strongly (by rank)
  with the energy, which is where the momentum resampling cannot reach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import arviz_stats as azs
import numpy as np
import xarray as xr
from scipy.stats import rankdata, spearmanr

from bayesmix._result import entry_labels

BFMI_MIN = 0.3
MAX_TREE_DEPTH_FRACTION = 0.01
NUMPYRO_MAX_TREE_DEPTH = 10
# The structural parts of a mixture posterior that a sampler moves; deterministic
# copies (covariances, means from means_ordered) would name the same direction twice.
SKIPPED = ("covariances", "corr_chol")
# fit_settings["init"] of a fit whose chains started at a point estimate (bayesmix.fit's init).
EM_STARTS = ("em", "given", "variational_dp")
# What to try, clause by clause; EM_START only for a fit that did not start from EM.
EM_START = "start from EM (init='auto', fit's default, rather than 'prior')"
REMEDIES = {
    "divergences": (
        "raise target_accept (e.g. fit(..., target_accept=0.95)) and draw more",
        EM_START,
        "try fewer components or a simpler covariance type",
    ),
    "tree_depth": (
        "tune longer (e.g. tune=2000) so the mass matrix adapts",
        EM_START,
        "try fewer components or a simpler covariance type",
        "allow deeper trees (maxdepth= for nutpie, max_treedepth= for PyMC, default 10)",
    ),
    "e_bfmi": ("tune longer (e.g. tune=2000)", "try fewer components or a simpler covariance type"),
}
# A network's posterior has no EM start and no covariance types; its levers are its size.
MDN_REMEDIES = {
    "divergences": (
        "raise target_accept (e.g. fit(..., target_accept=0.95))",
        "use a smaller network (e.g. hidden=(4,)) or fewer components",
        "fit with method='advi'",
    ),
    "tree_depth": (
        "tune longer (e.g. tune=2000)",
        "use a smaller network (e.g. hidden=(4,)) or fewer components",
        "allow deeper trees (maxdepth= for nutpie, max_treedepth= for PyMC)",
        "fit with method='advi'",
    ),
    "e_bfmi": ("tune longer (e.g. tune=2000)", "use a smaller network or fewer components"),
}


def started_from_em(attrs: dict) -> bool:
    """Whether a fit result's chains started at an EM (or variational DP) solution, from its attrs."""
    return json.loads(attrs.get("fit_settings", "{}")).get("init") in EM_STARTS


def _one_sentence(clauses: list[str]) -> str:
    """'a, b, or c'."""
    return clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + ", or " + clauses[-1]


class SamplerWarning(UserWarning):
    """NUTS reported divergences, saturated tree depth or low E-BFMI."""


@dataclass(frozen=True)
class SamplerProblem:
    kind: str  # "divergences", "tree_depth" or "e_bfmi"
    parameter: str | None
    message: str


def sampler_problems(
    posterior: xr.Dataset, stats: xr.Dataset, *, conditional: bool = False, started_from_em: bool = False
) -> list[SamplerProblem]:
    """The NUTS problems in ``stats``, each naming the parameter most implicated and the remedies.

    ``conditional``: the fit is an MDN's, whose remedies differ from a mixture's.

    ``started_from_em``: the chains started at an EM (or variational DP) solution, so
    the remedies leave out starting there.
    """
    if "diverging" not in stats or posterior.sizes.get("draw", 0) < 4:
        return []  # not NUTS, or too short to say anything
    clauses = MDN_REMEDIES if conditional else REMEDIES
    remedies = {
        kind: _one_sentence([c for c in options if not (started_from_em and c == EM_START)])
        for kind, options in clauses.items()
    }
    entries = _parameter_entries(posterior)
    problems = []
    diverging = stats["diverging"].values.astype(bool)
    if diverging.any():
        n_div = int(diverging.sum())
        name = _divergence_parameter(entries, diverging)
        problems.append(
            SamplerProblem(
                "divergences",
                name,
                f"{n_div} divergent transitions ({100 * n_div / diverging.size:.1f}% of draws), "
                f"concentrated in {name}; {remedies['divergences']}.",
            )
        )
    saturated = _tree_depth_saturated(stats)
    if saturated is not None and saturated.mean() > MAX_TREE_DEPTH_FRACTION:
        name = _slowest_parameter(entries)
        problems.append(
            SamplerProblem(
                "tree_depth",
                name,
                f"{100 * saturated.mean():.1f}% of draws hit the maximum tree depth; the slowest direction is "
                f"{name}; {remedies['tree_depth']}.",
            )
        )
    if "energy" in stats:
        energy = stats["energy"].transpose("chain", "draw").values
        bfmi = np.asarray(azs.bfmi(xr.DataTree.from_dict({"sample_stats": stats}))["energy"].values).ravel()
        low = np.flatnonzero(bfmi < BFMI_MIN)
        if low.size:
            name = _energy_parameter(entries, energy, low)
            problems.append(
                SamplerProblem(
                    "e_bfmi",
                    name,
                    f"E-BFMI below {BFMI_MIN} in chain(s) {low.tolist()} (lowest {bfmi.min():.2f}); the energy "
                    f"moves most with {name}; {remedies['e_bfmi']}.",
                )
            )
    return problems


def _parameter_entries(posterior: xr.Dataset) -> dict[str, np.ndarray]:
    """Every non-constant scalar entry of the parameters, as (chain, draw) arrays."""
    entries = {}
    for name, da in posterior.data_vars.items():
        if name in SKIPPED:
            continue
        other_dims = [d for d in da.dims if d not in ("chain", "draw")]
        stacked = da.transpose("chain", "draw", *other_dims).values.reshape(da.sizes["chain"], da.sizes["draw"], -1)
        labels = entry_labels(da)
        for j, label in enumerate(labels):
            values = stacked[:, :, j]
            if np.isfinite(values).all() and np.ptp(values) > 0:
                entries[label] = values
    return entries


def _divergence_parameter(entries: dict[str, np.ndarray], diverging: np.ndarray) -> str:
    """The entry whose divergent draws have the most extreme mean within-chain rank."""
    scores = dict.fromkeys(entries, 0.0)
    for chain in np.flatnonzero(diverging.any(axis=1)):
        mask = diverging[chain]
        n = mask.size
        for label, values in entries.items():
            ranks = (rankdata(values[chain]) - 0.5) / n
            # Mean of m uniform ranks has sd 1 / sqrt(12 m); weight chains by their divergences.
            scores[label] += abs(ranks[mask].mean() - 0.5) * np.sqrt(12 * mask.sum())
    return max(scores, key=scores.get)


def _slowest_parameter(entries: dict[str, np.ndarray]) -> str:
    """The entry with the smallest within-chain bulk ESS, summed over chains."""
    ess = {
        label: sum(float(azs.ess(values[c][None, :], method="bulk")) for c in range(values.shape[0]))
        for label, values in entries.items()
    }
    return min(ess, key=ess.get)


def _energy_parameter(entries: dict[str, np.ndarray], energy: np.ndarray, chains: np.ndarray) -> str:
    """The entry most correlated (Spearman) with the energy in the low-E-BFMI chains."""
    scores = {
        label: float(np.mean([abs(spearmanr(values[c], energy[c]).statistic) for c in chains]))
        for label, values in entries.items()
    }
    return max(scores, key=lambda k: np.nan_to_num(scores[k]))


def _tree_depth_saturated(stats: xr.Dataset) -> np.ndarray | None:
    for name in ("maxdepth_reached", "reached_max_treedepth"):  # nutpie, PyMC
        if name in stats:
            return stats[name].values.astype(bool)
    if "tree_depth" in stats:  # numpyro reports only the depth; its default maximum is 10
        return stats["tree_depth"].values >= NUMPYRO_MAX_TREE_DEPTH
    return None
