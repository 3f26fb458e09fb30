"""The unrolled correlation-Cholesky bijector against PyMC's, and the LKJ prior it leaves unchanged."""

import numpy as np
import nutpie
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from pymc.distributions.transforms import CholeskyCorrTransform
from scipy import stats

import bayesmix as bm
from bayesmix.components._correlation import UnrolledCholeskyCorr


def random_correlation_factors(n_batch, n, rng):
    a = rng.normal(size=(n_batch, n, n))
    covariances = a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(n)
    sd = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))
    return np.linalg.cholesky(covariances / (sd[..., :, None] * sd[..., None, :]))


def strictly_lower(matrix, n):
    return np.stack([matrix[..., i, j] for i in range(1, n) for j in range(i)], axis=-1)


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_the_same_bijector_as_pymcs_up_to_the_order_of_coordinates(n):
    rng = np.random.default_rng(n)
    factors = random_correlation_factors(5, n, rng)
    ours, pymcs = UnrolledCholeskyCorr(n), CholeskyCorrTransform(n=n)

    y = ours.forward(pt.as_tensor(factors)).eval()
    assert y.shape == (5, n * (n - 1) // 2)
    # y_ij = C_ij / C_ii, in row-major order of the strictly lower triangle
    diagonal = np.diagonal(factors, axis1=-2, axis2=-1)
    np.testing.assert_allclose(y, strictly_lower(factors / diagonal[..., :, None], n), rtol=1e-12)
    np.testing.assert_allclose(ours.backward(pt.as_tensor(y)).eval(), factors, rtol=1e-12, atol=1e-14)

    # PyMC's coordinates of the same factors are a permutation of ours, and the log-Jacobian agrees.
    y_pymc = pymcs.forward(pt.as_tensor(factors)).eval()
    np.testing.assert_allclose(np.sort(y_pymc, axis=-1), np.sort(y, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(
        ours.log_jac_det(pt.as_tensor(y)).eval(), pymcs.log_jac_det(pt.as_tensor(y_pymc)).eval(), rtol=1e-12
    )


@pytest.mark.parametrize("n", [2, 3, 4])
def test_log_jacobian_is_the_log_determinant_of_the_map_to_the_free_entries(n):
    """The free entries of C are its strictly lower triangle; the diagonal follows from unit rows."""
    rng = np.random.default_rng(10 + n)
    y = pt.vector("y")
    ours = UnrolledCholeskyCorr(n)
    free = pt.stack([ours.backward(y)[i, j] for i in range(1, n) for j in range(i)])
    jacobian = pytensor.function([y], pytensor.gradient.jacobian(free, y))
    log_jac_det = pytensor.function([y], ours.log_jac_det(y))
    for _ in range(3):
        point = rng.normal(size=n * (n - 1) // 2)
        _, expected = np.linalg.slogdet(jacobian(point))
        np.testing.assert_allclose(log_jac_det(point), expected, rtol=1e-10)


def test_model_log_density_is_unchanged(monkeypatch):
    """The full-covariance model's log-density, Jacobian included, equals that under PyMC's own bijector."""
    from bayesmix.components import _covariance

    X = bm.datasets.load("faithful").to_numpy(float)
    model = bm.models.gmm(X, 3, covariance="full")
    monkeypatch.setattr(_covariance, "unrolled", lambda n_features: False)
    pymc_model = bm.models.gmm(X, 3, covariance="full")
    assert model.rvs_to_transforms[model["corr_chol"]].__class__ is UnrolledCholeskyCorr
    assert pymc_model.rvs_to_transforms[pymc_model["corr_chol"]].__class__ is CholeskyCorrTransform

    rng = np.random.default_rng(0)
    # Interpreted, inner graphs included (no code generation): the numbers, not the speed, are under test.
    with pytensor.config.change_flags(mode="FAST_COMPILE"):
        logp, pymc_logp = model.compile_logp(), pymc_model.compile_logp()
    name = "corr_chol_cholesky_corr__"
    for _ in range(3):
        point = {k: v + rng.normal(scale=0.3, size=v.shape) for k, v in model.initial_point().items()}
        factor = UnrolledCholeskyCorr(2).backward(pt.as_tensor(point[name]))
        pymc_point = point | {name: CholeskyCorrTransform(n=2).forward(factor).eval()}
        np.testing.assert_allclose(logp(point), pymc_logp(pymc_point), rtol=1e-12)


def test_prior_correlations_follow_the_lkj_marginal():
    """NUTS on the prior alone: each correlation of LKJ(eta) in D dims is Beta(eta - 1 + D/2) on (-1, 1)."""
    n, eta = 3, 2.0
    with pm.Model() as model:
        pm.LKJCorr("corr_chol", n=n, eta=eta, default_transform=UnrolledCholeskyCorr(n))
    compiled = nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax")
    trace = nutpie.sample(compiled, draws=1000, tune=500, chains=2, seed=3, progress_bar=False)
    factor = trace.posterior["corr_chol"].values.reshape(-1, n, n)
    correlation = factor @ np.swapaxes(factor, -1, -2)
    a = eta - 1 + n / 2
    for i, j in [(1, 0), (2, 0), (2, 1)]:
        r = correlation[:, i, j]
        assert stats.kstest((r + 1) / 2, stats.beta(a, a).cdf).pvalue > 1e-3


@pytest.mark.parametrize("covariance", ["full", "tied"])
def test_initial_point_does_not_build_the_lkj_sampler(covariance):
    """corr_chol starts at the identity given as a number, so the initial-point graph holds no LKJ sampler.

    Derived from the variable, it kept the LKJ sampler's Scan to read a shape,
    and compiling that cost 15-17 s per fit from an empty cache.
    """
    from pymc.initial_point import make_initial_point_expression
    from pytensor.graph.traversal import ancestors

    X = bm.datasets.load("faithful").to_numpy(float)
    model = bm.models.gmm(X, 2, covariance=covariance)
    expressions = make_initial_point_expression(
        free_rvs=model.free_RVs,
        rvs_to_transforms=model.rvs_to_transforms,
        initval_strategies=model.rvs_to_initial_values,
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    ops = {type(v.owner.op).__name__ for v in ancestors(expressions) if v.owner is not None}
    assert "LKJCorrRV" not in ops and "Scan" not in ops
    np.testing.assert_allclose(model.initial_point()["corr_chol_cholesky_corr__"], 0.0)
