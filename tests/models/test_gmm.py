import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmix as bm
from bayesmix.models._base import get_info
from tests.model_graph import GRAPH_CHECK_MODE, unconstrained_point

COVARIANCES = ["full", "diag", "spherical", "tied"]


def _evaluate_at_random_point(model, rng):
    """Pointwise observed log-density and constrained parameters at a random point."""
    point = {k: v + rng.normal(scale=0.5, size=np.shape(v)) for k, v in model.initial_point().items()}
    params = model.replace_rvs_by_values([model["weights"], model["means"], model["covariances"]])
    fn = model.compile_fn(
        [model.logp(vars=[model["X"]], sum=False)[0], *params],
        inputs=model.value_vars,
        on_unused_input="ignore",
        mode=GRAPH_CHECK_MODE,
    )
    return fn(point)


def _scipy_mixture_logpdf(X, w, mu, cov):
    dens = sum(w[k] * stats.multivariate_normal(mu[k], cov[k]).pdf(X) for k in range(len(w)))
    return np.log(dens)


@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("order_means", [False, True])
def test_log_density_matches_scipy(covariance, order_means):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3)) * [1.0, 5.0, 0.2] + [0.0, 10.0, -1.0]
    model = bm.models.gmm(X, 3, covariance=covariance, order_means=order_means)
    for _ in range(3):
        logp, w, mu, cov = _evaluate_at_random_point(model, rng)
        np.testing.assert_allclose(logp, _scipy_mixture_logpdf(X, w, mu, cov), rtol=1e-9)
        if order_means:
            assert np.all(np.diff(mu[:, 0]) > 0)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_covariance_structure(covariance):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 2))
    _, _, _, cov = _evaluate_at_random_point(bm.models.gmm(X, 3, covariance=covariance), rng)
    off_diagonal = cov[:, 0, 1]
    if covariance in ("diag", "spherical"):
        np.testing.assert_array_equal(off_diagonal, 0.0)
    if covariance == "spherical":
        np.testing.assert_allclose(cov[:, 0, 0], cov[:, 1, 1])
    if covariance == "tied":
        np.testing.assert_allclose(cov, np.broadcast_to(cov[0], cov.shape))
    if covariance == "full":
        assert np.all(off_diagonal != 0.0)


def test_one_dimensional_input_and_one_component():
    rng = np.random.default_rng(5)
    x = rng.normal(size=40)
    model = bm.models.gmm(x, 1)
    logp, w, mu, cov = _evaluate_at_random_point(model, rng)
    np.testing.assert_allclose(w, [1.0])
    np.testing.assert_allclose(logp, stats.norm(mu[0, 0], np.sqrt(cov[0, 0, 0])).logpdf(x), rtol=1e-9)


def test_dataframe_columns_become_feature_coords(faithful):
    model = bm.models.gmm(faithful, 2)
    assert list(model.coords["feature"]) == ["eruptions", "waiting"]
    assert model.named_vars_to_dims["means"] == ("component", "feature")
    assert model.named_vars_to_dims["covariances"] == ("component", "feature", "feature_bis")
    assert model.named_vars_to_dims["X"] == ("obs_id", "feature")


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_vectorized_components_no_python_loop(faithful, covariance):
    """The likelihood's graph is the same size whatever K: components are batched, never looped.

    On two features the covariance factorization and the whitening of the
    residuals are unrolled into elementwise operations (bayesmix.components._linalg):
    no batched Cholesky or triangular solve is left, for any covariance type.
    """
    from pytensor.graph.traversal import applys_between

    def likelihood_nodes(n_components):
        model = bm.models.gmm(faithful, n_components, covariance=covariance)
        logp = model.logp(vars=[model["X"]], sum=False)[0]
        return list(applys_between(model.value_vars, [logp]))

    two, five = likelihood_nodes(2), likelihood_nodes(5)
    assert len(two) == len(five)
    batched_linear_algebra = [node for node in five if any(op in str(node.op) for op in ("Solve", "Cholesky"))]
    assert batched_linear_algebra == []


@pytest.mark.parametrize("order_means", [False, True])
def test_means_are_sampled_in_standard_units_with_the_prior_unchanged(order_means):
    """The sampler's coordinates for the means are (mu - mean) / sd of the data; the prior is not touched."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(80, 2)) * [1e-3, 1e6] + [5.0, -2e6]
    prior = bm.Prior("StudentT", nu=4.0, mu=[1.0, 3.0], sigma=[2e-3, 5e6])
    model = bm.models.gmm(X, 3, priors={"means": prior}, order_means=order_means)
    z = rng.normal(size=(3, 2))
    if order_means:
        z[:, 0] = np.sort(z[:, 0])
    means = X.mean(axis=0) + X.std(axis=0) * z
    # The standardized coordinates of those means, through the model's own transforms.
    values = {"means_ordered": means[:, 0], "means_other": means[:, 1:]} if order_means else {"means": means}
    names = list(values)
    point = unconstrained_point(model, values)
    if not order_means:
        np.testing.assert_allclose(point["means_standardized__"], z, rtol=1e-9)
    prior_logp = model.compile_logp(vars=[model[n] for n in names], jacobian=False, mode=GRAPH_CHECK_MODE)
    expected = stats.t(4.0, loc=[1.0, 3.0], scale=[2e-3, 5e6]).logpdf(means).sum()
    np.testing.assert_allclose(prior_logp(model.initial_point() | point), expected, rtol=1e-9)
    if not order_means:
        # The sampler's density in z: the prior's times the Jacobian prod(s) of mu = c + s z.
        with_jacobian = model.compile_logp(vars=[model["means"]], jacobian=True, mode=GRAPH_CHECK_MODE)
        jacobian = 3 * np.log(X.std(axis=0)).sum()
        np.testing.assert_allclose(with_jacobian(model.initial_point() | point), expected + jacobian, rtol=1e-9)


def test_default_priors_are_scaled_to_the_data(faithful):
    info = get_info(bm.models.gmm(faithful, 2))
    means = info.priors["means"]
    np.testing.assert_allclose(means.parameters["mu"], faithful.mean().to_numpy())
    np.testing.assert_allclose(means.parameters["sigma"], 2 * faithful.std(ddof=0).to_numpy())
    assert info.priors["weights"] == bm.Prior("Dirichlet", a=1.0)
    assert info.priors["lkj_eta"] == 2.0


def test_priors_override_and_are_recorded_in_the_model():
    x = np.random.default_rng(6).normal(size=100)
    priors = {
        "weights": bm.Prior("Dirichlet", a=5.0),
        "means": bm.Prior("Normal", mu=0, sigma=2),
        "scales": bm.Prior("HalfNormal", sigma=2),
        "lkj_eta": 3.0,
    }
    model = bm.models.gmm(x, 2, priors=priors)
    info = get_info(model)
    assert info.priors == priors
    # The model really uses them: the Dirichlet's concentration is 5.
    a = model["weights"].owner.inputs[-1].eval()
    np.testing.assert_allclose(a, [5.0, 5.0])


def test_prior_round_trips_through_json():
    from bayesmix.priors import priors_from_json, priors_to_json

    priors = {"means": bm.Prior("StudentT", nu=3, mu=[0.0, 1.0], sigma=2), "lkj_eta": 2.0}
    assert priors_from_json(priors_to_json(priors)) == priors
    assert json.loads(priors_to_json(priors))["means"]["distribution"] == "StudentT"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_components": 0}, ValueError, "Expected `n_components` >= 1"),
        ({"n_components": 500}, ValueError, "Expected n_samples >= n_components but got n_components = 500"),
        ({"n_components": 2.5}, TypeError, "positive integer"),
        ({"covariance": "banded"}, ValueError, r"Unknown covariance 'banded'; choose one of \['full'"),
        (
            {"priors": {"locations": bm.Prior("Normal")}},
            ValueError,
            r"Unknown prior key\(s\) \['locations'\]",
        ),
        ({"priors": {"scales": bm.Prior("Normal", sigma=1)}}, ValueError, "cannot serve as the prior of the"),
        ({"priors": {"means": bm.Prior("Normal", mu=[0, 1, 2])}}, ValueError, "does not broadcast"),
        ({"priors": {"means": bm.Prior("Normal", sd=1)}}, ValueError, "invalid parameters"),
        ({"priors": {"lkj_eta": -1.0}}, ValueError, "must be > 0"),
        ({"priors": {"means": {"mu": 0}}}, ValueError, "needs a 'distribution' key"),
        ({"order_means": "yes"}, TypeError, "order_means"),
    ],
)
def test_bad_arguments_raise_clear_errors(faithful, kwargs, error, message):
    kwargs = {"n_components": 2} | kwargs
    with pytest.raises(error, match=message):
        bm.models.gmm(faithful, **kwargs)


@pytest.mark.parametrize(
    ("X", "error", "message"),
    [
        (
            np.array([[1.0, np.nan], [2.0, 3.0], [1.0, 1.0]]),
            ValueError,
            r"NaN or infinite values in 1 row\(s\) \(positions 0\)",
        ),
        (np.empty((0, 2)), ValueError, "is empty"),
        (np.zeros((4, 2, 2)), ValueError, "must be 1-D or 2-D"),
        (
            pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]}),
            TypeError,
            r"non-numeric columns \['b'\]",
        ),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "must be numeric"),
    ],
)
def test_bad_data_raise_clear_errors(X, error, message):
    with pytest.raises(error, match=message):
        bm.models.gmm(X, 1)
