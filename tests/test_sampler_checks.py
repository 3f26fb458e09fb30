"""NUTS problems become warnings that name the parameter and say what to try."""

import warnings

import numpy as np
import pytest
import xarray as xr

import bayesmix as bm
from bayesmix.diagnostics.sampler_checks import sampler_problems


def _synthetic(n_chains=2, n_draws=400, seed=0):
    """A posterior with three parameters and clean sampler statistics."""
    rng = np.random.default_rng(seed)
    shape = (n_chains, n_draws)
    posterior = xr.Dataset(
        {
            "weights": (("chain", "draw", "component"), rng.dirichlet([5, 5], size=shape)),
            "means": (("chain", "draw", "component", "feature"), rng.normal(size=(*shape, 2, 1))),
            "scales": (("chain", "draw", "component", "feature"), rng.gamma(5.0, 0.2, size=(*shape, 2, 1))),
        },
        coords={"component": [0, 1], "feature": ["x"]},
    )
    stats = xr.Dataset(
        {
            "diverging": (("chain", "draw"), np.zeros(shape, bool)),
            "maxdepth_reached": (("chain", "draw"), np.zeros(shape, bool)),
            "energy": (("chain", "draw"), rng.normal(size=shape)),
        }
    )
    return posterior, stats


def test_a_clean_run_has_no_problems():
    assert sampler_problems(*_synthetic()) == []


def test_divergences_are_pinned_on_the_parameter_where_they_concentrate():
    posterior, stats = _synthetic()
    # Divergences where scales[1, x] is smallest: the funnel's neck.
    scale = posterior["scales"].sel(component=1, feature="x").values
    diverging = scale < np.quantile(scale, 0.05, axis=1, keepdims=True)
    stats["diverging"] = (("chain", "draw"), diverging)
    (problem,) = sampler_problems(posterior, stats)
    assert problem.kind == "divergences"
    assert problem.parameter == "scales[1, x]"
    assert f"{diverging.sum()} divergent transitions" in problem.message
    assert "target_accept" in problem.message


def test_the_em_start_is_advised_only_to_a_fit_that_did_not_start_there():
    posterior, stats = _synthetic()
    stats["diverging"] = (("chain", "draw"), np.broadcast_to(np.arange(400) % 50 == 0, (2, 400)))
    (from_prior,) = sampler_problems(posterior, stats)
    (from_em,) = sampler_problems(posterior, stats, started_from_em=True)
    assert "start from EM (init='auto'" in from_prior.message
    assert "start from EM" not in from_em.message
    assert from_em.message.endswith(
        "raise target_accept (e.g. fit(..., target_accept=0.95)) and draw more, "
        "or try fewer components or a simpler covariance type."
    )


def test_saturated_tree_depth_names_the_slowest_parameter():
    posterior, stats = _synthetic()
    # means[0, x] as a slow random walk: the smallest ESS.
    walk = np.cumsum(np.random.default_rng(1).normal(size=(2, 400)), axis=1)
    means = posterior["means"].values.copy()
    means[:, :, 0, 0] = walk
    posterior["means"] = (posterior["means"].dims, means)
    saturated = np.zeros((2, 400), bool)
    saturated[:, ::10] = True  # 10% of draws
    stats["maxdepth_reached"] = (("chain", "draw"), saturated)
    (problem,) = sampler_problems(posterior, stats)
    assert problem.kind == "tree_depth"
    assert problem.parameter == "means[0, x]"
    assert "10.0% of draws hit the maximum tree depth" in problem.message
    assert "tune longer" in problem.message


def test_low_bfmi_names_the_parameter_that_moves_with_the_energy():
    posterior, stats = _synthetic()
    # A slowly wandering energy (E-BFMI far below 0.3) that weights[0] follows.
    energy = np.cumsum(np.random.default_rng(2).normal(size=(2, 400)), axis=1)
    stats["energy"] = (("chain", "draw"), energy)
    weights = posterior["weights"].values.copy()
    weights[:, :, 0] = 1 / (1 + np.exp(-energy / energy.std()))
    weights[:, :, 1] = 1 - weights[:, :, 0]
    posterior["weights"] = (posterior["weights"].dims, weights)
    (problem,) = sampler_problems(posterior, stats)
    assert problem.kind == "e_bfmi"
    assert problem.parameter in ("weights[0]", "weights[1]")
    assert "E-BFMI below 0.3 in chain(s) [0, 1]" in problem.message


def test_fit_warns_when_trees_saturate():
    """End to end: a depth limit of 2 makes nearly every draw saturate."""
    X = np.random.default_rng(0).normal(size=(12, 1))
    model = bm.models.gmm(X, 3, covariance="diag")
    with pytest.warns(bm.SamplerWarning, match=r"hit the maximum tree depth; the slowest direction is \w+\["):
        result = bm.fit(model, draws=100, tune=100, chains=2, random_seed=3, progressbar=False, maxdepth=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = " ".join(bm.diagnose(result).verdict)
    assert "hit the maximum tree depth" in verdict
