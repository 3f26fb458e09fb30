"""Does a Dirichlet-process Gaussian mixture converge with the defaults? (issue 34's goal)

Run ``python benchmarks/dp_convergence.py`` (``--seeds 1 2``, ``--settings default
halfnormal_scales ...``). For faithful (2-D) and galaxies (1-D, 82 velocities) it fits
``bm.fit(bm.models.dp_gmm(X), random_seed=seed)`` under each setting below, one after
the other in one process, and prints a markdown table of the wall time (compilation
included) and the rank-normalized R-hat and bulk ESS of the label-invariant quantities
``bayesmix.diagnose`` judges a DP fit on: alpha, the total log-likelihood, the number
of occupied clusters (in a partition drawn from each draw), and the worst of the
log-densities at five points. The goal: R-hat <= 1.01 and bulk ESS >= 400 for alpha,
the log-likelihood and the occupied clusters, within 60 s on 2 cores.

Settings:

- ``default``: the defaults (truncation 20, 4 chains x (1000 + 1000), InverseGamma(2, s/2) scales), also
  ``models/faithful.toml``'s DP candidate;
- ``halfnormal_scales``: the finite mixtures' HalfNormal(s) prior on the component sds, the DP's default
  before it was made zero-avoiding;
- ``short``: truncation 10, 4 x (500 + 500), the demo's DP candidate before it took the defaults;
- ``draws_5000``: the defaults with 5,000 draws per chain;
- ``truncation_10``: truncation 10;
- ``low_rank``: nutpie's low-rank mass-matrix adaptation (``sampler_kwargs={"adaptation": "low_rank"}``).
"""

from __future__ import annotations

import argparse
import time
import warnings

import arviz_stats as azs
import numpy as np

import bayesmix as bm
from bayesmix._result import family_of
from bayesmix._validation import check_data
from bayesmix.components._gaussian_model import data_scale
from bayesmix.diagnostics.dp_diagnostics import component_use, label_invariant_quantities
from bayesmix.priors import Prior

GOAL = {"r_hat": 1.01, "ess_bulk": 400, "seconds": 60}


def settings(name: str, X) -> tuple[dict, dict]:
    """Model options and fit options of a setting."""
    if name == "halfnormal_scales":
        return {"priors": {"scales": Prior("HalfNormal", sigma=data_scale(check_data(X))[1])}}, {}
    return {
        "default": ({}, {}),
        "short": ({"truncation": 10}, {"draws": 500, "tune": 500}),
        "draws_5000": ({}, {"draws": 5000}),
        "truncation_10": ({"truncation": 10}, {}),
        "low_rank": ({}, {"sampler_kwargs": {"adaptation": "low_rank"}}),
    }[name]


def measure(X, setting: str, seed: int) -> dict:
    model_options, fit_options = settings(setting, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        result = bm.fit(bm.models.dp_gmm(X, **model_options), random_seed=seed, progressbar=False, **fit_options)
        seconds = time.perf_counter() - start
    family = family_of(result)
    quantities = label_invariant_quantities(result, family, component_use(result, family))
    return {"seconds": seconds, "r_hat": azs.rhat(quantities), "ess": azs.ess(quantities, method="bulk")}


def row(data_name: str, setting: str, seed: int, m: dict) -> str:
    r_hat, ess = m["r_hat"], m["ess"]
    cells = []
    met = m["seconds"] <= GOAL["seconds"]
    for name in ("alpha", "log_likelihood", "occupied"):
        rh, es = float(r_hat[name]), float(ess[name])
        met &= rh <= GOAL["r_hat"] and es >= GOAL["ess_bulk"]
        cells.append(f"{rh:.3f} / {es:.0f}")
    cells.append(f"{float(r_hat['log_density'].max()):.3f} / {float(ess['log_density'].min()):.0f}")
    return (
        f"| {data_name} | {setting} | {seed} | {m['seconds']:.1f} | "
        + " | ".join(cells)
        + f" | {'yes' if met else 'no'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["default", "halfnormal_scales", "short", "draws_5000", "truncation_10", "low_rank"],
    )
    parser.add_argument("--data", nargs="+", default=["faithful", "galaxies"])
    args = parser.parse_args()
    print(
        "| data | setting | seed | wall s | alpha R-hat / ESS | log-lik R-hat / ESS | occupied R-hat / ESS "
        "| log-density worst R-hat / ESS | goal met |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for data_name in args.data:
        X = bm.datasets.load(data_name).to_numpy(float)
        for setting in args.settings:
            for seed in args.seeds:
                print(row(data_name, setting, seed, measure(X, setting, seed)), flush=True)
    print(f"\nnumpy {np.__version__}, bayesmix {bm.__version__}")


if __name__ == "__main__":
    main()
