"""The unrolled small-matrix linear algebra against numpy and scipy, below and above the unrolling limit."""

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy.linalg import solve_triangular

from bayesmix.components import _linalg


def random_covariances(n_batch, n_features, rng):
    a = rng.normal(size=(n_batch, n_features, n_features))
    return a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(n_features)


@pytest.mark.parametrize("n_features", [1, 2, 3, _linalg.MAX_UNROLLED_FEATURES, _linalg.MAX_UNROLLED_FEATURES + 1])
def test_cholesky_gram_and_whiten_match_numpy(n_features):
    rng = np.random.default_rng(n_features)
    covariances = random_covariances(4, n_features, rng)
    residuals = rng.normal(size=(30, 4, n_features))

    factor = _linalg.cholesky(pt.as_tensor(covariances), n_features).eval()
    expected_factor = np.linalg.cholesky(covariances)
    np.testing.assert_allclose(factor, expected_factor, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_linalg.gram(pt.as_tensor(factor), n_features).eval(), covariances, rtol=1e-10)
    half_log_det = 0.5 * np.linalg.slogdet(covariances)[1]
    np.testing.assert_allclose(_linalg.log_determinant(pt.as_tensor(factor), n_features).eval(), half_log_det)

    whitened = _linalg.whiten(pt.as_tensor(expected_factor), pt.as_tensor(residuals), n_features).eval()
    expected = np.stack(
        [solve_triangular(expected_factor[k], residuals[:, k].T, lower=True).T for k in range(4)], axis=1
    )
    np.testing.assert_allclose(whitened, expected, rtol=1e-9, atol=1e-12)


def test_the_unrolled_code_has_no_batched_linear_algebra_and_the_wide_code_does():
    from pytensor.graph.traversal import applys_between

    def linear_algebra_ops(n_features):
        matrix = pt.tensor3("matrix")
        residuals = pt.tensor3("residuals")
        out = _linalg.whiten(_linalg.cholesky(matrix, n_features), residuals, n_features)
        return {type(node.op).__name__ for node in applys_between([matrix, residuals], [out])} & {"Blockwise"}

    assert linear_algebra_ops(_linalg.MAX_UNROLLED_FEATURES) == set()
    assert linear_algebra_ops(_linalg.MAX_UNROLLED_FEATURES + 1) == {"Blockwise"}
