"""The hand-written log-density nutpie samples finite Gaussian mixtures with (bayesmix/inference/_nutpie_gmm.py)."""

import warnings

import arviz_stats as azs
import numpy as np
import pymc as pm
import pytest
from pymc.model.transform.optimization import freeze_dims_and_data

import bayesmix as bm
from bayesmix.inference import _nutpie_gmm
from bayesmix.inference._gmm_kernel import constrained, log_concentration, logp_and_gradient, nutpie_callbacks
from bayesmix.models._base import get_info


def _three_clusters(n_features: int, per_cluster: int = 40) -> np.ndarray:
    rng = np.random.default_rng(n_features)
    centers = np.repeat(3.0 * np.arange(3)[:, None], per_cluster, axis=0)
    return centers + rng.normal(size=(3 * per_cluster, n_features)) * np.linspace(0.5, 2.0, n_features)


def _model_and_values(covariance: str, n_features: int, order_means: bool = False, per_cluster: int = 40):
    """A model with non-default constants in every prior, its packed constants and a value splitter."""
    priors = {"weights": bm.Prior("Dirichlet", a=[1.0, 2.0, 3.5]), "lkj_eta": 1.5}
    X = _three_clusters(n_features, per_cluster)
    model = bm.models.gmm(X, 3, covariance=covariance, priors=priors, order_means=order_means)
    point = model.initial_point()
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    sizes = np.cumsum([0] + [point[name].size for name in names])

    def split(theta):
        blocks = zip(names, sizes[:-1], sizes[1:], strict=True)
        return {name: theta[a:b].reshape(point[name].shape) for name, a, b in blocks}

    return model, _nutpie_gmm.pack(get_info(model), int(sizes[-1])), split, int(sizes[-1])


@pytest.mark.parametrize("n_features", [1, 2, 3])
@pytest.mark.parametrize(
    ("covariance", "order_means"),
    [("full", False), ("diag", False), ("spherical", False), ("tied", False), ("full", True), ("diag", True)],
)
def test_kernel_log_density_and_gradient_are_pymcs(covariance, order_means, n_features):
    _assert_kernel_is_pymcs(*_model_and_values(covariance, n_features, order_means))


@pytest.mark.parametrize(
    ("covariance", "order_means", "n_features"),
    [
        ("full", False, 4),
        ("full", False, 5),
        ("full", True, 6),
        ("tied", True, 6),
        ("diag", True, 5),
        ("spherical", True, 6),
    ],
)
def test_kernel_is_pymcs_up_to_six_features(covariance, order_means, n_features):
    """The kernel is the default sampler up to 6 features. PyMC's graph is compiled by JAX here: the C
    backend takes 40-80 s per model at 6 features on an empty cache, JAX 2-11 s."""
    _assert_kernel_is_pymcs(*_model_and_values(covariance, n_features, order_means), mode="JAX")


def test_kernel_is_pymcs_across_blocks_of_observations():
    """600 observations: two whole blocks of 256 and a partial one (the cases above fit in one)."""
    _assert_kernel_is_pymcs(*_model_and_values("full", 2, per_cluster=200))


def _assert_kernel_is_pymcs(model, packed, split, n_dim, mode=None):
    if mode == "JAX":  # JAX needs static shapes; freezing reorders the value variables, so name them
        names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
        model = freeze_dims_and_data(model)
        rv_of = {model.rvs_to_values[rv].name: rv for rv in model.free_RVs}
        logp = model.compile_logp(jacobian=True, mode=mode)
        dlogp = model.compile_dlogp(vars=[rv_of[name] for name in names], jacobian=True, mode=mode)
    else:
        logp = model.compile_logp(jacobian=True)
        dlogp = model.compile_dlogp(jacobian=True)
    rng = np.random.default_rng(0)
    for _ in range(4):
        theta = rng.normal(scale=0.8, size=n_dim)
        gradient = np.empty(n_dim)
        value = logp_and_gradient(theta, gradient, packed)
        np.testing.assert_allclose(value, logp(split(theta)), rtol=1e-12)
        expected = dlogp(split(theta))
        np.testing.assert_allclose(gradient, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())


def test_nutpies_callback_is_the_current_kernel():
    """The C callback nutpie calls gives exactly the kernel's value and gradient.

    numba's disk cache notices changes to a function's own file only, so the
    callbacks live in the kernel's file; a callback cached elsewhere would
    keep an old kernel after an edit and sample a wrong posterior silently.
    """
    import ctypes

    def pointer(array):
        return array.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

    for covariance in ("full", "tied"):
        _, packed, _, n_dim = _model_and_values(covariance, 2)
        theta = np.random.default_rng(1).normal(scale=0.8, size=n_dim)
        expected_gradient = np.empty(n_dim)
        expected = logp_and_gradient(theta, expected_gradient, packed)
        gradient, logp = np.empty(n_dim), np.empty(1)
        status = nutpie_callbacks()[0].ctypes(
            n_dim, pointer(theta), pointer(gradient), pointer(logp), packed.ctypes.data_as(ctypes.c_void_p)
        )
        assert status == 0
        assert logp[0] == expected
        np.testing.assert_array_equal(gradient, expected_gradient)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"alpha": 0.7},
        {"covariance": "diag"},
        # beta = 0.4, not 0.5: PyTensor keeps a Python float that float32 holds exactly (0.5) as a
        # float32 constant, and PyMC's Gamma log-density then differs from the exact one by 3.8e-9.
        {"covariance": "tied", "priors": {"alpha": bm.Prior("Gamma", alpha=2.0, beta=0.4), "lkj_eta": 3.0}},
        {"covariance": "spherical", "n_features": 4},
        {"n_features": 5},
    ],
    ids=["alpha-gamma", "alpha-fixed", "diag", "tied-gamma-2-0.4", "spherical-4d", "full-5d"],
)
def test_kernel_log_density_and_gradient_are_pymcs_for_a_dirichlet_process(settings):
    """Stick-breaking weights (PyMC's StickBreakingWeights) and the concentration's Gamma prior.

    The kernel samples the sticks as z_j = log(-log(1 - v_j)) and the concentration as s (see
    ``log_concentration``), where PyMC has the simplex transform's coordinates and log(alpha): its
    density is PyMC's at the corresponding point times the Jacobian of the map, its gradient its
    density's, and ``_in_stick_coordinates`` (nutpie's initial points) inverts the map.
    """
    settings = dict(settings)
    n_features = settings.pop("n_features", 2)
    model = bm.models.dp_gmm(_three_clusters(n_features), truncation=6, **settings)
    point = model.initial_point()
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    sizes = np.cumsum([0] + [point[name].size for name in names])
    n_dim = int(sizes[-1])

    def split(theta):
        return {n: theta[a:b].reshape(point[n].shape) for n, a, b in zip(names, sizes[:-1], sizes[1:], strict=True)}

    packed = _nutpie_gmm.pack(get_info(model), n_dim)
    free = int("alpha_log__" in names)
    block = free + 5  # the concentration (when learned), then the 5 sticks, come first

    def to_model(theta):
        log_weights = constrained(theta, packed)[1]
        x = theta.copy()
        x[free:block] = log_weights[:-1] - log_weights.mean()
        if free:
            x[0] = log_concentration(theta, log_weights[-1], packed)
        return x

    if n_features > 3:  # JAX needs static shapes; freezing reorders the value variables, so name them
        model = freeze_dims_and_data(model)
    logp = model.compile_logp(jacobian=True, mode="JAX" if n_features > 3 else None)

    def kernel(theta):
        return logp_and_gradient(theta, np.empty(n_dim), packed)

    rng = np.random.default_rng(0)
    for _ in range(4):
        theta = rng.normal(scale=0.8, size=n_dim)
        gradient = np.empty(n_dim)
        value = logp_and_gradient(theta, gradient, packed)
        h = 1e-6
        jacobian = np.empty((block, block))
        for i in range(block):
            step = np.zeros(n_dim)
            step[i] = h
            jacobian[:, i] = (to_model(theta + step)[:block] - to_model(theta - step)[:block]) / (2 * h)
        expected = logp(split(to_model(theta))) + np.linalg.slogdet(jacobian)[1]
        np.testing.assert_allclose(value, expected, rtol=1e-10)
        differences = np.empty(n_dim)
        for i in range(n_dim):
            step = np.zeros(n_dim)
            step[i] = 1e-5
            differences[i] = (kernel(theta + step) - kernel(theta - step)) / 2e-5
        np.testing.assert_allclose(gradient, differences, rtol=1e-5, atol=1e-6 * np.abs(differences).max())
        model_point = to_model(theta)
        start = _nutpie_gmm._in_stick_coordinates(lambda model_point=model_point: model_point, packed)()
        np.testing.assert_allclose(start, theta, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("covariance", "order_means"), [("full", False), ("spherical", True), ("tied", False)])
def test_kernel_constrained_values_are_the_models(covariance, order_means):
    model, packed, split, n_dim = _model_and_values(covariance, 3, order_means)
    # unobserved_value_vars: the model's variables as functions of the sampler's values
    outputs = [var for var in model.unobserved_value_vars if not var.name.endswith("__")]
    names = [var.name for var in outputs]
    evaluate = model.compile_fn(outputs, inputs=model.value_vars)
    theta = np.random.default_rng(1).normal(scale=0.8, size=n_dim)
    weights, _, means, scales, factors, covariances = constrained(theta, packed)
    ours = {"weights": weights, "means": means, "scales": scales, "covariances": covariances}
    ours |= {"means_ordered": means[:, 0], "means_other": means[:, 1:]}
    ours["corr_chol"] = factors if covariance == "full" else factors[0]
    for name, value in zip(names, evaluate(split(theta)), strict=True):
        np.testing.assert_allclose(np.reshape(ours[name], value.shape), value, rtol=1e-12, err_msg=name)


def test_which_models_the_kernel_samples(faithful):
    def reason(model):
        return _nutpie_gmm.unsupported(model, get_info(model))

    assert reason(bm.models.gmm(faithful, 2)) is None
    assert reason(bm.models.gmm(faithful, 3, covariance="tied")) is None
    assert reason(bm.models.dp_gmm(faithful)) is None
    assert reason(bm.models.dp_gmm(faithful, alpha=0.5)) is None
    assert "Exponential prior on alpha" in reason(
        bm.models.dp_gmm(faithful, priors={"alpha": bm.Prior("Exponential", lam=1.0)})
    )
    x = np.linspace(-1, 1, 20)
    assert "not 'mdn'" in reason(bm.models.mdn(x, x**2, n_components=2, hidden=(2,)))
    assert reason(bm.models.gmm(faithful, 2, order_means=True)) is None
    assert reason(bm.models.gmm(faithful.iloc[:, :1], 2, order_means=True)) is None
    assert reason(bm.models.gmm(faithful, 1)) is None
    assert "StudentT prior on means" in reason(
        bm.models.gmm(faithful, 2, priors={"means": bm.Prior("StudentT", nu=4, mu=0, sigma=50)})
    )
    assert "more features" in reason(bm.models.gmm(np.random.default_rng(0).normal(size=(50, 7)), 2))
    with bm.models.gmm(faithful, 2) as changed:
        pm.Potential("extra", -changed["means"].sum())
    assert "terms added" in reason(changed)


def test_backend_kernel_is_refused_where_it_does_not_apply(faithful):
    model = bm.models.gmm(faithful, 2, priors={"scales": bm.Prior("HalfCauchy", beta=5.0)})
    with pytest.raises(ValueError, match=r"backend='kernel' cannot sample this model \(a HalfCauchy prior on scales\)"):
        bm.fit(model, backend="kernel", progressbar=False)


def _fit(model, em, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bm.fit(model, init=em, random_seed=5, progressbar=False, **kwargs)


def test_kernel_and_jax_sample_the_same_posterior(faithful, faithful_em):
    """faithful, K = 2: the kernel's NUTS against nutpie on PyMC's own graph (JAX), from EM."""
    model = bm.models.gmm(faithful, 2)
    kernel = _fit(model, faithful_em)
    jax = _fit(model, faithful_em, backend="jax", draws=500)
    assert kernel.attrs["nuts_backend"] == "kernel" and jax.attrs["nuts_backend"] == "jax"
    for name in ("weights", "means", "covariances"):
        a, b = kernel["posterior"][name], jax["posterior"][name]
        assert float(azs.rhat(a).max()) <= 1.01 and float(azs.rhat(b).max()) <= 1.01
        error = np.hypot(azs.mcse(a).values, azs.mcse(b).values)
        z = np.abs(a.mean(("chain", "draw")).values - b.mean(("chain", "draw")).values) / error
        assert z.max() < 4.5, (name, z.max())
    # The expanded draws are laid out right: each covariance is the one its scales and factor make.
    posterior = kernel["posterior"]
    scaled = posterior["scales"].values[..., :, None] * posterior["corr_chol"].values
    floor = 1e-6 * faithful.to_numpy().std(axis=0) ** 2
    rebuilt = scaled @ np.swapaxes(scaled, -1, -2) + np.diag(floor)
    np.testing.assert_allclose(posterior["covariances"].values, rebuilt, rtol=1e-12)
    log_likelihood = kernel["log_likelihood"]["X"].values.sum(-1)
    assert np.isfinite(log_likelihood).all() and log_likelihood.std() > 0


@pytest.mark.parametrize("covariance", ["full", "spherical"])
def test_one_component_has_no_weight_coordinates(faithful, covariance):
    model = bm.models.gmm(faithful, 1, covariance=covariance)
    point = model.initial_point()
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    assert "weights_simplex__" not in names
    n_dim = sum(point[name].size for name in names)
    packed = _nutpie_gmm.pack(get_info(model), n_dim)
    theta = np.random.default_rng(2).normal(scale=0.5, size=n_dim)
    values, start = {}, 0
    for name in names:
        values[name] = theta[start : start + point[name].size].reshape(point[name].shape)
        start += point[name].size
    gradient = np.empty(n_dim)
    np.testing.assert_allclose(logp_and_gradient(theta, gradient, packed), model.compile_logp()(values), rtol=1e-12)
    np.testing.assert_allclose(gradient, model.compile_dlogp()(values), rtol=1e-9)
    result = bm.fit(model, draws=200, tune=300, chains=2, random_seed=1, progressbar=False)
    assert result.attrs["nuts_backend"] == "kernel"
    posterior = result["posterior"]
    assert (posterior["weights"].values == 1.0).all()
    # One Gaussian: its mean is the sample mean, within a few posterior sds.
    z = (posterior["means"].mean(("chain", "draw")).values[0] - faithful.mean().values) / posterior["means"].std(
        ("chain", "draw")
    ).values[0]
    assert np.abs(z).max() < 4
