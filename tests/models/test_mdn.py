"""The mixture density network factory: its log-density against scipy, structure, priors and data containers."""

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest
import xarray as xr
from pytensor.graph.basic import equal_computations
from scipy import stats
from scipy.special import log_softmax, logsumexp

import bayesmix as bm
from bayesmix.mixing.network import SCALE_FLOOR
from bayesmix.models._base import get_info
from bayesmix.models.mdn import conditional_moments, mixture_log_density, network_outputs
from tests.model_graph import GRAPH_CHECK_MODE

ACTIVATIONS = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}


def _softplus(z):
    return np.logaddexp(0.0, z)


def _reference_log_likelihood(point, X, y, hidden, activation, K):
    """The MDN's pointwise log-likelihood written out in numpy and scipy, independently of the model."""
    x_std = (X - X.mean(0)) / X.std(0)
    y_mean, y_sd = y.mean(0), y.std(0)
    h = x_std
    for i in range(1, len(hidden) + 1):
        h = ACTIVATIONS[activation](h @ point[f"w_layer{i}"] + point[f"b_layer{i}"])
    if K > 1:
        log_w = log_softmax(h @ point["w_logits"] + point["b_logits"], axis=-1)
    else:
        log_w = np.zeros((len(X), 1))
    means = np.einsum("nh,hkq->nkq", h, point["w_means"]) + point["b_means"]
    scales = _softplus(np.einsum("nh,hkq->nkq", h, point["w_scales"]) + point["b_scales"]) + SCALE_FLOOR
    component = stats.norm.logpdf(y[:, None, :], y_mean + y_sd * means, y_sd * scales).sum(-1)
    return logsumexp(log_w + component, axis=-1)


@pytest.mark.parametrize(
    ("n_features", "n_outputs", "K", "hidden", "activation"),
    [(1, 1, 3, (5,), "tanh"), (2, 2, 2, (4, 3), "relu"), (3, 1, 1, (6,), "tanh")],
    ids=["1d-K3", "2d-y2-K2-two-layers", "3d-K1"],
)
def test_log_likelihood_matches_scipy(n_features, n_outputs, K, hidden, activation):
    rng = np.random.default_rng(n_features + 10 * K)
    X = rng.normal(size=(25, n_features)) * 4 + 2
    y = rng.normal(size=(25, n_outputs)) * 30 - 7
    model = bm.models.mdn(X, y, n_components=K, hidden=hidden, activation=activation)
    point = {name: rng.normal(size=value.shape) for name, value in model.initial_point().items()}

    expected = _reference_log_likelihood(point, X, y, hidden, activation, K)
    model_pointwise = model.compile_logp(vars=[model["y"]], sum=False, mode=GRAPH_CHECK_MODE)(point)[0]
    np.testing.assert_allclose(model_pointwise, expected, rtol=1e-10)
    # The evaluator behind log_likelihood and the prediction functions agrees too.
    outputs = network_outputs(get_info(model), {k: v[None] for k, v in point.items()}, X)
    np.testing.assert_allclose(mixture_log_density(y, *outputs)[0], expected, rtol=1e-10)
    # Prior terms: Normal(0, 1/sqrt(fan_in)) on weights, Normal(0, 1) on biases.
    prior = sum(
        stats.norm.logpdf(point[name], 0, 1 / np.sqrt(point[name].shape[0]) if name.startswith("w_") else 1).sum()
        for name in point
    )
    np.testing.assert_allclose(model.compile_logp(mode=GRAPH_CHECK_MODE)(point), prior + expected.sum(), rtol=1e-10)


def test_structure_dims_and_data_containers():
    cycle = bm.datasets.load("mcycle")
    model = bm.models.mdn(cycle[["times"]], cycle["accel"], n_components=2, hidden=(8, 4))
    assert model.named_vars_to_dims["w_layer1"] == ("feature", "hidden")
    assert model.named_vars_to_dims["w_layer2"] == ("hidden", "hidden_2")
    assert model.named_vars_to_dims["w_means"] == ("hidden_2", "component", "output")
    assert model.named_vars_to_dims["y"] == ("obs_id", "output")
    assert list(model.coords["feature"]) == ["times"] and list(model.coords["output"]) == ["accel"]
    assert {d.name for d in model.data_vars} == {"X", "y_data", "X_mean", "X_sd", "y_mean", "y_sd"}
    settings = get_info(model).settings
    assert settings["x_mean"] == pytest.approx([cycle["times"].mean()])
    assert settings["y_sd"] == pytest.approx([cycle["accel"].std(ddof=0)])
    assert "w_logits" in model.named_vars
    assert "w_logits" not in bm.models.mdn(cycle["times"], cycle["accel"], n_components=1).named_vars


def test_the_log_density_graph_does_not_depend_on_the_data_values():
    """Two data sets of one shape give the same graph up to its inputs: compiled code is found in the cache.

    PyTensor's numba cache keys a compiled function by its operations and its constants' values, so a
    data-dependent constant (the standardization) would make every new data set a new compilation.
    """
    cycle = bm.datasets.load("mcycle")
    rng = np.random.default_rng(2)
    other_x, other_y = rng.normal(50.0, 9.0, size=40), rng.normal(3.0, 0.5, size=40)
    models = [
        bm.models.mdn(x, y, n_components=2, hidden=(3,))
        for x, y in [(cycle["times"], cycle["accel"]), (other_x, other_y)]
    ]

    def inputs(model):
        dim_lengths = [model.dim_lengths[dim] for dim in sorted(model.dim_lengths)]
        return [*model.value_vars, *sorted(model.data_vars, key=lambda d: d.name), *dim_lengths]

    a, b = models
    assert equal_computations([a.logp()], [b.logp()], in_xs=inputs(a), in_ys=inputs(b))
    # The check can fail: a graph with a data-dependent constant is not equal.
    shifted = b.logp() + pt.as_tensor(float(other_y.mean()))
    assert not equal_computations(
        [a.logp() + pt.as_tensor(float(cycle["accel"].mean()))], [shifted], in_xs=inputs(a), in_ys=inputs(b)
    )


def test_weight_prior_scales_with_fan_in():
    rng = np.random.default_rng(0)
    model = bm.models.mdn(rng.normal(size=(20, 4)), rng.normal(size=20), hidden=(16,))
    draws = pm.draw([model["w_layer1"], model["w_logits"], model["b_means"]], draws=2000, random_seed=1)
    assert draws[0].std() == pytest.approx(1 / 2, rel=0.05)  # fan_in 4
    assert draws[1].std() == pytest.approx(1 / 4, rel=0.05)  # fan_in 16
    assert draws[2].std() == pytest.approx(1.0, rel=0.05)
    wide = bm.models.mdn(rng.normal(size=(20, 4)), rng.normal(size=20), priors={"weights": bm.Prior("Normal", sigma=3)})
    assert pm.draw(wide["w_layer1"], draws=2000, random_seed=1).std() == pytest.approx(3 / 2, rel=0.05)


def test_named_outputs_and_unnamed_outputs():
    X = np.linspace(0, 1, 10)
    assert list(bm.models.mdn(X, X**2).coords["output"]) == ["y0"]
    assert list(bm.models.mdn(X, pd.DataFrame({"a": X, "b": -X})).coords["output"]) == ["a", "b"]


def test_constant_input_feature_warns_and_is_centred_only():
    X = np.c_[np.linspace(0, 1, 12), np.full(12, 5.0)]
    with pytest.warns(bm.DegenerateDataWarning, match="'x1' \\(always 5\\)"):
        model = bm.models.mdn(X, np.sin(X[:, 0]))
    assert get_info(model).settings["x_sd"][1] == 1.0


def test_set_data_and_posterior_predictive_reuse_the_model_for_new_inputs():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, 30)
    model = bm.models.mdn(X, 2 * X + rng.normal(0, 0.1, 30), n_components=2, hidden=(3,))
    point = {name: rng.normal(size=value.shape) for name, value in model.initial_point().items()}
    n_draws = 4000
    posterior = xr.Dataset(
        {
            name: (
                ("chain", "draw", *model.named_vars_to_dims[name]),
                np.broadcast_to(value, (1, n_draws, *value.shape)),
            )
            for name, value in point.items()
        }
    )
    X_new = np.array([[0.1], [0.5], [1.2]])
    with model:
        pm.set_data({"X": X_new, "y_data": np.zeros((3, 1))}, coords={"obs_id": np.arange(3)})
        predictive = pm.sample_posterior_predictive(
            posterior, random_seed=2, progressbar=False, freeze_vars=list(point)
        )
    y_new = predictive["posterior_predictive"]["y"].values.reshape(n_draws, 3)
    mean, sd = conditional_moments(*network_outputs(get_info(model), {k: v[None] for k, v in point.items()}, X_new))
    # 4000 draws: the sample mean is within 4 standard errors of the mixture's mean.
    np.testing.assert_array_less(np.abs(y_new.mean(0) - mean[0, :, 0]), 4 * sd[0, :, 0] / np.sqrt(n_draws))
    np.testing.assert_allclose(y_new.std(0), sd[0, :, 0], rtol=0.1)
