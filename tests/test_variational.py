"""ADVI's draws and their log-density, compiled by JAX, against PyMC's own functions."""

import warnings

import numpy as np
import pymc as pm
import pytest
from pymc.model.transform.optimization import freeze_dims_and_data

import bayesmix as bm
from bayesmix.inference._variational import log_density_of_draws, posterior_of_draws, unconstrained_draws
from tests.model_graph import GRAPH_CHECK_MODE


@pytest.fixture(scope="module")
def dp_approximation(faithful):
    """A short mean-field ADVI of a DP mixture (stick-breaking, LKJ and log transforms)."""
    model = freeze_dims_and_data(bm.models.dp_gmm(faithful, truncation=3))
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        approx = pm.fit(n=300, method="advi", random_seed=0, progressbar=False, backend="jax")
    return model, approx


def test_draws_have_the_approximations_mean_and_spread(dp_approximation):
    model, approx = dp_approximation
    draws = unconstrained_draws(approx, 4000, seed=1, mode="JAX")
    flat = np.concatenate([draws[v.name].reshape(4000, -1) for v in model.value_vars], axis=1)
    mean, std = approx.mean.eval(), approx.std.eval()
    # Each coordinate's sample mean within 5 Monte Carlo standard errors, its sd within 5%.
    assert np.all(np.abs(flat.mean(axis=0) - mean) < 5 * std / np.sqrt(4000))
    np.testing.assert_allclose(flat.std(axis=0), std, rtol=0.05)
    assert not np.array_equal(
        flat,
        np.concatenate(
            [unconstrained_draws(approx, 4000, seed=2, mode="JAX")[v.name].reshape(4000, -1) for v in model.value_vars],
            axis=1,
        ),
    )


def test_posterior_and_log_density_match_pymcs_own_functions(dp_approximation):
    model, approx = dp_approximation
    draws = unconstrained_draws(approx, 20, seed=1, mode="JAX")
    posterior = posterior_of_draws(model, draws, mode="JAX")
    lp = log_density_of_draws(model, draws, mode="JAX")
    names = [v.name for v in model.value_vars]
    outputs = [v for v in model.unobserved_value_vars if v.name in model.named_vars]
    by_pymc = model.compile_fn(outputs, inputs=model.value_vars, mode=GRAPH_CHECK_MODE, point_fn=False)
    logp_by_pymc = model.compile_logp(jacobian=False, mode=GRAPH_CHECK_MODE)
    assert set(posterior.data_vars) == {"alpha", "weights", "means", "scales", "corr_chol", "covariances"}
    assert posterior["covariances"].dims == ("chain", "draw", "component", "feature", "feature_bis")
    assert list(posterior["feature"].values) == ["eruptions", "waiting"]
    for d in range(20):
        point = {name: draws[name][d] for name in names}
        expected = by_pymc(*point.values())
        for var, value in zip(outputs, expected, strict=True):
            np.testing.assert_allclose(posterior[var.name].values[0, d], value, rtol=1e-10, err_msg=var.name)
        np.testing.assert_allclose(lp[0, d], logp_by_pymc(point), rtol=1e-10)


def test_the_mdns_advi_runs_on_jax_and_matches_pymcs_log_density(faithful):
    # The MDN's ADVI gradient once failed to trace in JAX (its einsum; see
    # bayesmix.models._network.component_outputs), and fell back to C.
    model = bm.models.mdn(faithful[["waiting"]], faithful["eruptions"], n_components=2, hidden=(4,))
    result = bm.fit(model, method="advi", n_steps=300, draws=20, random_seed=0, progressbar=False)
    assert result["fit_history"].attrs["backend"] == "jax"
    # Every MDN parameter is unconstrained: its draws are the value variables themselves.
    logp_by_pymc = model.compile_logp(jacobian=False, mode=GRAPH_CHECK_MODE)
    posterior = result["posterior"]
    for d in range(20):
        point = {v.name: posterior[v.name].values[0, d] for v in model.value_vars}
        np.testing.assert_allclose(result["sample_stats"]["lp"].values[0, d], logp_by_pymc(point), rtol=1e-10)
    assert np.unique(posterior["w_means"].values[0], axis=0).shape[0] == 20
