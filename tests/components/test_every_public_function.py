"""Every public function over every component family, finite and Dirichlet process: one table."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesmix as bm
from bayesmix.components import get_component

ART = bm.datasets.load("biochemists")[["art", "ment"]].iloc[:200]
HBK = bm.datasets.load("hbk")[["X1", "X2"]]
FAITHFUL = bm.datasets.load("faithful")
# two latent classes of six binary items, well apart (lsat6's two classes overlap too much for the
# agreement with EM that this table checks after 150 draws)
_RNG = np.random.default_rng(12)
_CLASS = (_RNG.random(300) < 0.4).astype(int)
ITEMS = pd.DataFrame(
    (_RNG.random((300, 6)) < np.array([[0.1, 0.8, 0.3, 0.9, 0.2, 0.7], [0.8, 0.2, 0.7, 0.4, 0.9, 0.1]])[_CLASS]),
    columns=[f"q{j}" for j in range(6)],
)
# gender, marriage and number of young children as three categorical items
HOUSEHOLD = bm.datasets.load("biochemists")[["fem", "mar", "kid5"]].iloc[:200]

CASES = {
    "gaussian": (FAITHFUL, "full"),
    "student_t": (HBK, "diag"),
    "poisson": (ART, None),
    "negative_binomial": (ART, None),
    "bernoulli": (ITEMS, None),
    "categorical": (HOUSEHOLD, None),
}
FIT = {"draws": 150, "tune": 200, "chains": 2, "progressbar": False}


@pytest.fixture(scope="module", params=[*CASES, "dp_poisson", "dp_student_t", "dp_bernoulli"])
def fitted(request):
    name = request.param
    dp = name.startswith("dp_")
    component = name.removeprefix("dp_")
    X, covariance = CASES[component]
    options = {"component": component, "covariance": covariance or "full"}
    model = bm.models.dp_mixture(X, truncation=5, **options) if dp else bm.models.mixture(X, 2, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        result = bm.fit(model, random_seed=3, **FIT)
    return component, dp, X, covariance, result


def test_fit_records_the_family_and_the_log_likelihood(fitted):
    component, dp, _, _, result = fitted
    assert result.attrs["bayesmix_component"] == component
    assert result.attrs["bayesmix_family"] == ("dp_mixture" if dp else "mixture")
    # What computed the log-density nutpie sampled: the kernel for Gaussians, PyTensor's graph compiled by numba
    # for the count families and Bernoulli, by JAX for the others (so backend="numba" runs for real here, and
    # the next test checks what it sampled against EM).
    expected = "kernel" if component == "gaussian" else get_component(component).nutpie_backend
    assert result.attrs["nuts_backend"] == expected
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data"} <= set(result.children)
    ll = result["log_likelihood"]["X"]
    assert ll.dims == ("chain", "draw", "obs_id") and np.isfinite(ll).all()
    family = get_component(component)
    for name, dims in family.parameter_dims().items():
        assert result["posterior"][name].dims == ("chain", "draw", *dims)


def test_relabel_and_diagnose_against_the_familys_em(fitted):
    component, dp, X, covariance, result = fitted
    if dp:  # judged on label-invariant quantities, whatever the family
        relabelled = bm.relabel(result)
        report = bm.diagnose(relabelled)
        judged = set(report.convergence.index.str.split("[").str[0])
        assert {"alpha", "log_likelihood", "occupied", "log_density"} == judged
        assert report.components is not None and len(report.components)
    else:
        baseline = bm.em(X, 2, component=component, covariance=covariance or "full", random_seed=0)
        relabelled = bm.relabel(result, reference=baseline, method="stephens")
        report = bm.diagnose(relabelled, baseline=baseline)
        family = get_component(component)
        assert set(report.baseline.index.str.split("[").str[0]) <= {"weights", *family.parameters}
        assert 0.5 < report.adjusted_rand_index <= 1.0
    assert report.verdict and not report.convergence.empty


def test_prediction_functions(fitted):
    component, _, X, _, result = fitted
    new = X.iloc[:5]
    proba = bm.predict_proba(result, new, max_draws=100)
    np.testing.assert_allclose(proba["probability"].sum("component"), 1.0)
    assert bm.predict(result, new, max_draws=100)["component"].shape == (5,)
    density = bm.score_samples(result, new, max_draws=100)["log_density"].values
    per_draw = result["log_likelihood"]["X"].isel(obs_id=slice(0, 5))
    # the training rows' predictive log-density is the log mean of their per-draw likelihoods
    want = np.log(np.exp(per_draw.stack(s=("chain", "draw"))).mean("s")).values
    np.testing.assert_allclose(density, want, rtol=0.05)
    scores = bm.anomaly_scores(result)
    assert scores.sizes["obs_id"] == len(X)
    draws = bm.sample(result, 50, random_seed=0)
    assert draws["X"].shape == (50, X.shape[1])
    if get_component(component).discrete and component != "categorical":
        assert (draws["X"] >= 0).all() and (draws["X"] == np.round(draws["X"])).all()
    if component == "bernoulli":
        assert set(np.unique(draws["X"])) <= {0.0, 1.0}
    if component == "categorical":  # labels, each among its own feature's categories
        for j, column in enumerate(X.columns):
            assert set(draws["X"].values[:, j]) <= set(X[column].astype(str))


def test_save_load_round_trip(fitted, tmp_path):
    *_, result = fitted
    path = bm.save(result, tmp_path / "fit.nc")
    loaded = bm.load(path)
    xr.testing.assert_identical(loaded["posterior"].to_dataset(), result["posterior"].to_dataset())
    assert loaded.attrs["bayesmix_component"] == result.attrs["bayesmix_component"]


def test_clustering_of_dp_fits(fitted):
    _, dp, X, _, result = fitted
    if not dp:
        pytest.skip("cluster_count, coclustering and point_partition apply to Dirichlet-process fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.TruncationWarning)
        counts = bm.cluster_count(result, max_draws=100, random_seed=0)
    assert counts["probability"].sum("n_clusters").values == pytest.approx(1.0)
    assert bm.coclustering(result, max_draws=100, random_seed=0).shape == (len(X), len(X))
    assert bm.point_partition(result, max_draws=100, random_seed=0).sizes["obs_id"] == len(X)


def test_compare_across_families_of_the_same_data():
    models = {c: bm.models.mixture(ART, 2, component=c) for c in ("poisson", "negative_binomial")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        results = {c: bm.fit(m, random_seed=1, **FIT) for c, m in models.items()}
    table = bm.compare(results)
    assert set(table.index) == set(models)
    # art is over-dispersed beyond two Poisson components: the negative binomial wins clearly
    assert (
        table.index[0] == "negative_binomial" and table.loc["poisson", "elpd_diff"] < -2 * table.loc["poisson", "dse"]
    )
