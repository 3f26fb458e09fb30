"""ADVI's draws and their log-density, compiled by JAX, against PyMC's own functions."""

import warnings

import numpy as np
import pymc as pm
import pytest
from pymc.model.transform.optimization import freeze_dims_and_data

import bayesmix as bm
from bayesmix.inference._variational import (
    log_densities_of_draws,
    log_density_of_draws,
    posterior_of_draws,
    unconstrained_draws,
)
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


def test_log_q_is_pymcs_own_log_density_of_the_approximation_and_log_p_adds_the_jacobian(dp_approximation):
    """log q at draws PyMC drew itself equals PyMC's symbolic log q of those draws (the draws split into
    variables by the approximation's ordering); log p is PyMC's logp with the Jacobian of the transforms, and
    differs from lp, which has none."""
    from pymc.pytensorf import compile as compile_pytensor

    model, approx = dp_approximation
    (group,) = approx.groups
    flat, logq = approx.set_size_and_deterministic([group.symbolic_random, group.symbolic_logq_not_scaled], 15, 0)
    flat, logq = compile_pytensor([], [flat, logq], random_seed=3)()
    draws = {name: flat[:, where].reshape(15, *shape) for name, (_, where, shape, _) in group.ordering.items()}
    log_p, log_q = log_densities_of_draws(approx, model, draws, mode="JAX")
    np.testing.assert_allclose(log_q[0], logq, rtol=1e-10)
    with_jacobian = model.compile_logp(jacobian=True, mode=GRAPH_CHECK_MODE)
    names = [v.name for v in model.value_vars]
    for d in range(15):
        np.testing.assert_allclose(log_p[0, d], with_jacobian({n: draws[n][d] for n in names}), rtol=1e-10)
    assert np.all(np.abs(log_p - log_density_of_draws(model, draws, mode="JAX")) > 1e-3)


def test_advi_fits_are_compared_by_psis_corrected_for_draws_from_q(faithful):
    """compare() on an ADVI fit is arviz-stats' loo_approximate_posterior with the fit's log p and log q, not
    plain PSIS-LOO, which treats the draws as posterior draws."""
    import arviz_stats as azs

    from bayesmix.comparison import loo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = bm.fit(bm.models.gmm(faithful, 2), method="advi", n_steps=3000, draws=500, random_seed=0)
    stats = result["sample_stats"]
    assert {"lp", "log_p", "log_q"} <= set(stats.data_vars)
    (ours,) = loo({"advi": result}).values()
    corrected = azs.loo_approximate_posterior(result, stats["log_p"], stats["log_q"], pointwise=True)
    plain = azs.loo(result, pointwise=True)
    assert ours.elpd == pytest.approx(corrected.elpd, rel=1e-12)
    assert abs(corrected.elpd - plain.elpd) > 1e-3
