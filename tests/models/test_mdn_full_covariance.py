"""The MDN with a full covariance over several outputs: its density against scipy, and the robot arm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import log_softmax, logsumexp

import bayesmix as bm
from bayesmix.datasets import end_point, robot_arm
from bayesmix.mixing.network import SCALE_FLOOR
from bayesmix.models._base import get_info
from bayesmix.models.mdn import mixture_log_density, network_outputs
from tests.model_graph import GRAPH_CHECK_MODE


def _softplus(z):
    return np.logaddexp(0.0, z)


def _reference(point, X, y, K):
    """The full-covariance MDN's pointwise log-likelihood with scipy's multivariate normal, from the weights."""
    x_std = (X - X.mean(0)) / X.std(0)
    y_mean, y_sd = y.mean(0), y.std(0)
    h = np.tanh(x_std @ point["w_layer1"] + point["b_layer1"])
    log_w = log_softmax(h @ point["w_logits"] + point["b_logits"], axis=-1)
    means = np.einsum("nh,hkq->nkq", h, point["w_means"]) + point["b_means"]
    scales = _softplus(np.einsum("nh,hkq->nkq", h, point["w_scales"]) + point["b_scales"]) + SCALE_FLOOR
    offdiag = np.einsum("nh,hkm->nkm", h, point["w_offdiag"]) + point["b_offdiag"]
    Q = y.shape[1]
    rows, cols = np.tril_indices(Q, -1)
    order = np.lexsort((cols, rows))  # row-major: (1, 0), (2, 0), (2, 1), ...
    out = np.empty((len(X), K))
    for i in range(len(X)):
        for k in range(K):
            chol = np.diag(scales[i, k])
            chol[rows[order], cols[order]] = offdiag[i, k]
            chol = np.diag(y_sd) @ chol
            out[i, k] = stats.multivariate_normal.logpdf(y[i], y_mean + y_sd * means[i, k], chol @ chol.T)
    return logsumexp(log_w + out, axis=-1)


@pytest.mark.parametrize("n_outputs", [2, 3])
def test_full_covariance_log_likelihood_matches_scipy(n_outputs):
    rng = np.random.default_rng(n_outputs)
    X = rng.normal(size=(20, 2)) * 3 + 1
    y = rng.normal(size=(20, n_outputs)) @ rng.normal(size=(n_outputs, n_outputs)) * 5 + 2
    model = bm.models.mdn(X, y, n_components=2, hidden=(4,), covariance="full")
    assert model.named_vars_to_dims["w_offdiag"] == ("hidden", "component", "offdiag")
    assert len(model.coords["offdiag"]) == n_outputs * (n_outputs - 1) // 2
    point = {name: rng.normal(size=value.shape) for name, value in model.initial_point().items()}
    expected = _reference(point, X, y, 2)
    pointwise = model.compile_logp(vars=[model["y"]], sum=False, mode=GRAPH_CHECK_MODE)(point)[0]
    np.testing.assert_allclose(pointwise, expected, rtol=1e-9)
    outputs = network_outputs(get_info(model), {k: v[None] for k, v in point.items()}, X)
    np.testing.assert_allclose(mixture_log_density(y, *outputs)[0], expected, rtol=1e-9)


def test_full_covariance_with_one_output_is_the_diagonal_model():
    x = np.linspace(0, 1, 30)
    full = bm.models.mdn(x, np.sin(4 * x), n_components=2, hidden=(3,), covariance="full")
    assert "w_offdiag" not in full.named_vars


def test_raw_units_scale_each_row_of_the_cholesky_factor_by_its_output_sd():
    X = np.random.default_rng(0).normal(size=(5, 1))
    y = np.random.default_rng(1).normal(size=(5, 2))
    model = bm.models.mdn(X, y, n_components=1, hidden=(2,), covariance="full")
    point = {name: np.zeros_like(value) for name, value in model.initial_point().items()}
    point["b_offdiag"] = np.array([[1.5]])  # L = [[s, 0], [1.5, s]] in standardized units, s = softplus(0) + floor
    info = get_info(model)
    _, _, scales, offdiag = network_outputs(info, {k: v[None] for k, v in point.items()}, X)
    s = _softplus(0.0) + SCALE_FLOOR
    sd = y.std(0)
    np.testing.assert_allclose(scales[0, 0, 0], sd * s)
    np.testing.assert_allclose(offdiag[0, 0, 0], [sd[1] * 1.5])


@pytest.fixture(scope="module")
def arm():
    """Bishop's robot arm with a little noise on the end point, and a full-covariance MDN's MAP fit."""
    data = robot_arm(400, noise=0.01, random_seed=0)
    model = bm.models.mdn(
        data[["x1", "x2"]], data[["theta1", "theta2"]], n_components=2, hidden=(8,), covariance="full"
    )
    return model, bm.fit(model, method="map", n_init=4, random_seed=0, progressbar=False)


def test_robot_arm_predictive_puts_its_mass_on_elbow_up_and_elbow_down(arm):
    _model, result = arm
    # an elbow far from straight (theta2 = pi), where the end point's noise of 0.01 leaves the elbow angle
    # known to about 0.07 (|dx / dtheta2| = L1 L2 sin(theta2) / |x| = 0.15)
    theta1, theta2 = 0.9, 2.0
    x1, x2 = end_point(theta1, theta2)
    # the mirror configuration reaches the same point: the elbow reflected across the shoulder-to-end line
    mirror = (2 * np.arctan2(x2, x1) - theta1, 2 * np.pi - theta2)
    np.testing.assert_allclose(end_point(*mirror), (x1, x2), atol=1e-12)
    shoulder, elbow = np.meshgrid(np.linspace(0.1, 1.4, 131), np.linspace(1.3, 5.0, 371), indexing="ij")
    grid = np.c_[shoulder.ravel(), elbow.ravel()]
    density = bm.predict_density(result, pd.DataFrame({"x1": [x1], "x2": [x2]}), grid).values[0]
    mass = density / density.sum()
    near = [np.hypot(grid[:, 0] - a, grid[:, 1] - b) < 0.2 for a, b in ((theta1, theta2), mirror)]  # ~3 sd
    assert mass[near[0]].sum() > 0.25 and mass[near[1]].sum() > 0.25  # both solutions carry mass
    assert mass[near[0] | near[1]].sum() > 0.95  # and little lies anywhere else, between them included
    between = np.argmin(np.hypot(grid[:, 0] - (theta1 + mirror[0]) / 2, grid[:, 1] - (theta2 + mirror[1]) / 2))
    assert density[between] < 1e-3 * min(density[near[0]].max(), density[near[1]].max())


def test_draws_of_a_component_have_its_covariance():
    from bayesmix.models.mdn import _mixture_random

    scales, offdiag = np.array([[0.5, 2.0]]), np.array([[1.2]])
    chol = np.array([[0.5, 0.0], [1.2, 2.0]])
    draws = _mixture_random(
        np.zeros((20_000, 1)),
        np.full((20_000, 1, 2), [3.0, -1.0]),
        np.broadcast_to(scales, (20_000, 1, 2)),
        np.broadcast_to(offdiag, (20_000, 1, 1)),
        rng=np.random.default_rng(0),
    )
    np.testing.assert_allclose(draws.mean(0), [3.0, -1.0], atol=0.05)
    np.testing.assert_allclose(np.cov(draws.T), chol @ chol.T, rtol=0.05)
