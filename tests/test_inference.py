import json
import warnings

import numpy as np
import pytest
import xarray as xr

import bayesmix as bm
from tests.model_graph import GRAPH_CHECK_MODE, unconstrained_point

GROUPS = {"posterior", "sample_stats", "log_likelihood", "observed_data"}


def _check_result(result, n_chains, n_draws, n_obs, K=2):
    assert GROUPS <= set(result.children)
    post = result["posterior"]
    assert post["weights"].dims == ("chain", "draw", "component")
    assert post["means"].dims == ("chain", "draw", "component", "feature")
    assert post["covariances"].dims == ("chain", "draw", "component", "feature", "feature_bis")
    assert post.sizes["chain"] == n_chains and post.sizes["draw"] == n_draws
    ll = result["log_likelihood"]["X"]
    assert ll.dims == ("chain", "draw", "obs_id") and ll.shape == (n_chains, n_draws, n_obs)
    assert np.isfinite(ll.values).all()
    assert result["observed_data"]["X"].shape[0] == n_obs
    attrs = result.attrs
    assert attrs["bayesmix_family"] == "mixture" and attrs["bayesmix_component"] == "gaussian"
    assert json.loads(attrs["bayesmix_settings"])["n_components"] == K
    assert "means" in json.loads(attrs["bayesmix_priors"])
    assert attrs["bayesmix_version"] == bm.__version__
    assert attrs["wall_time_s"] > 0


def test_nutpie_fit_has_groups_dims_and_attrs(faithful_fit):
    _check_result(faithful_fit, 4, 1000, 272)
    assert faithful_fit.attrs["sampler"] == "nutpie" and faithful_fit.attrs["method"] == "nuts"


def test_log_likelihood_equals_the_models_own_log_density(faithful):
    """The numpy pointwise log-likelihood agrees with PyMC's logp of the observed variable."""
    model = bm.models.gmm(faithful, 2, covariance="diag")
    result = bm.fit(model, draws=20, tune=50, chains=1, random_seed=1, progressbar=False)
    fn = model.compile_fn(
        model.logp(vars=[model["X"]], sum=False)[0],
        inputs=model.value_vars,
        on_unused_input="ignore",
        mode=GRAPH_CHECK_MODE,
    )
    post = result["posterior"]
    for d in (0, 19):
        point = unconstrained_point(model, {name: post[name].values[0, d] for name in ("weights", "means", "scales")})
        np.testing.assert_allclose(result["log_likelihood"]["X"].values[0, d], fn(point), rtol=1e-8)


@pytest.fixture(scope="module")
def spherical_reference(faithful):
    """nutpie on faithful, K = 2, spherical covariance: 4 x 1000 draws (the kernel: about a second)."""
    return bm.fit(bm.models.gmm(faithful, 2, covariance="spherical"), random_seed=0, progressbar=False)


@pytest.mark.parametrize("sampler", ["pymc", "numpyro"])
def test_other_samplers_sample_the_same_posterior(faithful, sampler, spherical_reference):
    model = bm.models.gmm(faithful, 2, covariance="spherical")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = bm.fit(model, sampler=sampler, draws=150, tune=150, chains=2, random_seed=3, progressbar=False)
    _check_result(result, 2, 150, 272)
    # The same posterior as nutpie's long run: means and weights within half a posterior sd (the Monte Carlo
    # error of 300 draws is about a tenth of one).
    reference = spherical_reference["posterior"]
    for name in ("weights", "means"):
        gap = np.abs(result["posterior"][name].mean(("chain", "draw")) - reference[name].mean(("chain", "draw")))
        assert (gap < 0.5 * reference[name].std(("chain", "draw"))).all(), (name, gap.values)
    assert result.attrs["sampler"] == sampler
    # Plain numpy draws (numpyro hands back JAX arrays), so relabelling can index them.
    assert all(type(var.data) is np.ndarray for var in result["posterior"].to_dataset().data_vars.values())
    bm.relabel(result)
    # The sampler really used, as recorded by the sampling library itself.
    library = result["sample_stats"].attrs.get("inference_library", result["posterior"].attrs.get("inference_library"))
    assert library == sampler


@pytest.mark.parametrize("method", ["advi", "fullrank_advi"])
def test_advi_returns_the_same_groups_and_keeps_the_elbo(faithful, method):
    model = bm.models.gmm(faithful, 2, covariance="diag")
    result = bm.fit(model, method=method, draws=200, n_steps=3000, random_seed=4, progressbar=False)
    _check_result(result, 1, 200, 272)
    elbo = result["fit_history"]["elbo"].values
    assert elbo.shape == (3000,)
    assert elbo[-100:].mean() > elbo[:100].mean()  # the optimizer climbed
    assert np.isfinite(result["sample_stats"]["lp"]).all()


def test_em_init_starts_all_chains_in_one_labelling(faithful, faithful_em):
    model = bm.models.gmm(faithful, 2)
    result = bm.fit(model, init=faithful_em, draws=200, tune=300, chains=4, random_seed=5, progressbar=False)
    first_means = result["posterior"]["means"].sel(feature="eruptions").mean("draw")
    # Every chain keeps EM's labelling: component 0 is the short-eruption one.
    assert (first_means.sel(component=0) < first_means.sel(component=1)).all()


def test_em_init_with_ordered_means_and_tied_covariance(faithful, faithful_em):
    model = bm.models.gmm(faithful, 2, covariance="tied", order_means=True)
    result = bm.fit(model, init=faithful_em, draws=100, tune=200, chains=2, random_seed=6, progressbar=False)
    _check_result(result, 2, 100, 272)


def test_same_seed_same_draws(faithful):
    model = bm.models.gmm(faithful, 2, covariance="spherical")
    a = bm.fit(model, draws=30, tune=30, chains=2, random_seed=9, progressbar=False)
    b = bm.fit(model, draws=30, tune=30, chains=2, random_seed=9, progressbar=False)
    xr.testing.assert_equal(a["posterior"].to_dataset(), b["posterior"].to_dataset())
    xr.testing.assert_equal(a["log_likelihood"].to_dataset(), b["log_likelihood"].to_dataset())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"method": "gibbs"},
            ValueError,
            r"Unknown method 'gibbs'; choose one of \['nuts', 'advi', 'fullrank_advi', 'map'\]",
        ),
        (
            {"sampler": "stan"},
            ValueError,
            r"Unknown sampler 'stan'; choose one of \['nutpie', 'pymc', 'numpyro'\]",
        ),
        ({"draws": 0}, ValueError, "`draws` must be >= 1"),
        ({"chains": -2}, ValueError, "`chains` must be >= 1"),
        ({"random_seed": "abc"}, TypeError, "random_seed"),
        ({"init": {"means": 1}}, TypeError, "must be 'auto'.*or an EM result"),
        ({"init": "kmeans"}, ValueError, "must be 'auto'.*but got 'kmeans'"),
    ],
)
def test_fit_bad_arguments(faithful, kwargs, error, message):
    model = bm.models.gmm(faithful, 2)
    with pytest.raises(error, match=message):
        bm.fit(model, **kwargs)


def test_fit_rejects_foreign_models_and_mismatched_init(faithful):
    import pymc as pm

    with pytest.raises(TypeError, match=r"must be a pymc\.Model"):
        bm.fit("model")
    with pytest.raises(ValueError, match="not built by a bayesmix factory"):
        bm.fit(pm.Model())
    em3 = bm.em(faithful, 3, random_seed=0)
    with pytest.raises(ValueError, match=r"has 3 components .* but the model has 2"):
        bm.fit(bm.models.gmm(faithful, 2), init=em3)


def test_em_start_is_jittered_so_equal_em_weights_do_not_stall_nutpie():
    """Regression: nutpie froze the model and silently dropped our jitter, so every chain started
    exactly at EM; with EM weights of exactly 1/2 the weight gradient was exactly zero and nutpie
    refused to start ("bad initial gradient")."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0.0, 0.1, (15, 3)), rng.normal(1.0, 0.1, (15, 3))])
    baseline = bm.em(X, 2, random_seed=0)
    assert baseline["weights"].values[0] == 0.5
    result = bm.fit(bm.models.gmm(X, 2), init=baseline, draws=20, tune=50, chains=2, random_seed=0, progressbar=False)
    assert np.isfinite(result["log_likelihood"]["X"].values).all()


def test_advi_fits_one_component_on_one_feature():
    # PyTensor 3.3.7's numba backend failed to compile ADVI on this model; ADVI now runs on JAX.
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(200, 1))
    result = bm.fit(bm.models.gmm(X, 1), method="advi", n_steps=3000, draws=200, random_seed=0, progressbar=False)
    posterior = result["posterior"]
    # Under the weak default priors the mean's posterior is about N(mean(X), sd(X)^2 / n): sd 0.14 here.
    # The Monte Carlo error of 200 draws' mean is 0.01; ADVI's own error adds a little (measured: 0.005).
    assert abs(float(posterior["means"].mean()) - X.mean()) < 0.05
    assert 0.10 < float(posterior["means"].std()) < 0.18
    assert abs(float(np.sqrt(posterior["covariances"]).mean()) - X.std()) < 0.05


def test_default_start_is_em_and_puts_every_chain_in_one_labelling(faithful):
    """Seed 11 from the prior's start leaves two chains in each labelling (notebook 02); from EM none."""
    model = bm.models.gmm(faithful, 2)
    short = {"draws": 100, "tune": 200, "chains": 4, "random_seed": 11, "progressbar": False}
    fits = {init: bm.fit(model, init=init, **short) for init in ("auto", "prior")}
    assert json.loads(fits["auto"].attrs["fit_settings"])["init"] == "em"
    assert json.loads(fits["prior"].attrs["fit_settings"])["init"] == "prior"
    eruptions = {
        init: fit["posterior"]["means"].sel(feature="eruptions", component=0).mean("draw").values
        for init, fit in fits.items()
    }
    assert np.ptp(eruptions["auto"]) < 0.2  # every chain labels the short eruptions 0
    assert np.ptp(eruptions["prior"]) > 1.0  # the labellings differ between chains


def test_a_degenerate_em_solution_is_not_a_start():
    """Twenty identical points: every EM solution collapses, so the chains start from the prior, quietly."""
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 20, axis=0)
    X[:20] += np.random.default_rng(0).normal(size=(20, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", bm.DegenerateSolutionWarning)
        warnings.simplefilter("ignore", bm.SamplerWarning)
        result = bm.fit(bm.models.gmm(X, 2), draws=50, tune=50, chains=2, random_seed=0, progressbar=False)
    assert json.loads(result.attrs["fit_settings"])["init"] == "prior (EM's solution is degenerate)"
