"""One measurement: a contender on a case, twice in one process, then R-hat and ESS after relabelling."""

from __future__ import annotations

import time
import warnings

import numpy as np
import xarray as xr

from bayesmix.bench.cases import Case, all_cases
from bayesmix.bench.contenders import make


def convergence(case: Case, draws: dict, reference: xr.Dataset) -> dict:
    """Largest R-hat and smallest bulk ESS of weights, means and covariances after relabelling to EM.

    The draws of every contender go through the same :func:`bayesmix.relabel`,
    so chains that settled in different labellings are aligned before R-hat
    and ESS are computed.
    """
    import arviz_stats as azs

    from bayesmix.relabel import relabel

    K, D = case.n_components, case.n_features
    coords = {"component": np.arange(K), "feature": [f"x{d}" for d in range(D)]}
    coords["feature_bis"] = coords["feature"]
    posterior = xr.Dataset(
        {
            "weights": (("chain", "draw", "component"), draws["weights"]),
            "means": (("chain", "draw", "component", "feature"), draws["means"]),
            "covariances": (("chain", "draw", "component", "feature", "feature_bis"), draws["covariances"]),
        },
        coords=coords,
    )
    observed = xr.Dataset({"X": (("obs_id", "feature"), case.X)}, coords={"feature": coords["feature"]})
    tree = xr.DataTree.from_dict({"posterior": posterior, "observed_data": observed})
    tree.attrs["bayesmix_family"] = "gmm"
    params = relabel(tree, reference=reference)["posterior"].to_dataset()[["weights", "means", "covariances"]]
    if K == 1:
        params = params.drop_vars("weights")
    rhat = max(float(v.max()) for v in azs.rhat(params).data_vars.values())
    ess = min(float(v.min()) for v in azs.ess(params, method="bulk").data_vars.values())
    return {"max_rhat": rhat, "min_bulk_ess": ess}


def measure(case_name: str, contender: str, seed: int, large_draws: int, draws: int | None = None) -> dict:
    """Time a contender's first (compiling) and second fit of a case and diagnose both."""
    import bayesmix as bm

    warnings.simplefilter("ignore")
    case = all_cases(large_draws, draws)[case_name]
    reference = bm.em(case.X, case.n_components, random_seed=0)
    start = time.perf_counter()
    runner = make(contender, case)
    first = runner.sample(seed)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    second = runner.sample(seed + 1)
    second_s = time.perf_counter() - start
    return {
        "case": case_name,
        "contender": contender,
        "n_obs": case.n_obs,
        "draws": case.draws,
        "tune": case.tune,
        "chains": case.chains,
        "first_s": first_s,
        "second_s": second_s,
        "first": convergence(case, first, reference) | {"divergences": first["divergences"]},
        "second": convergence(case, second, reference) | {"divergences": second["divergences"]},
    }


def measure_em(case_name: str, repeats: int = 3) -> dict:
    """bayesmix.em against scikit-learn's GaussianMixture with the same settings; median of ``repeats``."""
    from sklearn.mixture import GaussianMixture

    import bayesmix as bm

    warnings.simplefilter("ignore")
    case = all_cases()[case_name]
    K = case.n_components
    times = {"bayesmix": [], "sklearn": []}
    for _ in range(repeats):
        start = time.perf_counter()
        ours = bm.em(case.X, K, random_seed=0)
        times["bayesmix"].append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs = GaussianMixture(
            K, covariance_type="full", n_init=10, reg_covar=1e-6, tol=1e-6, max_iter=2000, random_state=0
        ).fit(case.X)
        times["sklearn"].append(time.perf_counter() - start)
    return {
        "case": case_name,
        "n_obs": case.n_obs,
        "bayesmix_s": float(np.median(times["bayesmix"])),
        "sklearn_s": float(np.median(times["sklearn"])),
        "bayesmix_loglik": float(ours["log_likelihood"]),
        "sklearn_loglik": float(theirs.score(case.X) * case.n_obs),
    }
