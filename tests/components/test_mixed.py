"""component={column: family}: columns of several families in one mixture, with and without missing cells."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmix as bm
from bayesmix.components import get_component
from bayesmix.components._mixture_density import mixture_log_density
from tests.components.model_point import likelihood_at_a_random_point
from tests.components.stepmix_reference import stepmix

COLUMNS = {"a": "gaussian", "b": "gaussian", "smoker": "bernoulli", "island": "categorical", "visits": "poisson"}
ISLANDS = np.array(["x", "y", "z"])


def _simulated(n: int = 500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two classes (weights 0.6, 0.4) that differ in every column; a and b correlate within the second."""
    rng = np.random.default_rng(seed)
    z = (rng.random(n) < 0.4).astype(int)
    correlated = np.einsum(
        "nij,nj->ni",
        np.linalg.cholesky(np.array([[[1.0, 0.0], [0.0, 0.5]], [[1.0, 0.6], [0.6, 1.0]]]))[z],
        rng.standard_normal((n, 2)),
    )
    island = np.array([rng.choice(3, p=p) for p in np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])[z]])
    X = pd.DataFrame(
        {
            "a": np.array([0.0, 3.0])[z] + correlated[:, 0],
            "b": np.array([0.0, 2.0])[z] + correlated[:, 1],
            "smoker": (rng.random(n) < np.array([0.2, 0.8])[z]).astype(float),
            "island": ISLANDS[island],
            "visits": rng.poisson(np.array([1.0, 5.0])[z]).astype(float),
        }
    )
    return X, z


def _with_holes(X: pd.DataFrame, share: float = 0.2, seed: int = 1) -> pd.DataFrame:
    return X.mask(np.random.default_rng(seed).random(X.shape) < share)


def test_the_density_of_a_row_is_the_product_of_its_families_densities_by_scipy():
    X, _ = _simulated(30)
    family = get_component(COLUMNS)
    data = family.check_data(X)
    assert data.feature_names == ["a", "b", "visits", "smoker", "island"]  # Gaussian block first
    rng = np.random.default_rng(2)
    means = rng.normal(size=(2, 2))
    covariances = np.array([[[1.0, 0.3], [0.3, 2.0]], [[0.5, -0.2], [-0.2, 1.0]]])
    rates, smoke = np.array([[1.5], [4.0]]), np.array([[0.3], [0.9]])
    islands = np.array([[[0.5, 0.3, 0.2]], [[0.1, 0.1, 0.8]]])
    got = family.log_density(data.values, means, covariances, rates, smoke, islands)
    for k in range(2):
        want = (
            stats.multivariate_normal(means[k], covariances[k]).logpdf(X[["a", "b"]].to_numpy())
            + stats.poisson(rates[k, 0]).logpmf(X["visits"])
            + stats.bernoulli(smoke[k, 0]).logpmf(X["smoker"])
            + np.log(islands[k, 0][np.searchsorted(ISLANDS, X["island"])])
        )
        np.testing.assert_allclose(got[:, k], want, rtol=1e-12)


@pytest.mark.parametrize(("mixing", "holes"), [("finite", False), ("finite", True), ("dp", True)])
def test_the_models_likelihood_equals_the_numpy_density(mixing, holes):
    X, _ = _simulated(60)
    if holes:
        X = _with_holes(X, 0.25)
    options = {"component": COLUMNS, "missing": "marginalize" if holes else None}
    if mixing == "dp":
        model = bm.models.dp_mixture(X, truncation=3, **options)
    else:
        model = bm.models.mixture(X, 2, **options)
    rng = np.random.default_rng(3)
    family = get_component(COLUMNS)
    logp_X, values = likelihood_at_a_random_point(model, family, rng)
    data = family.check_data(X, missing=holes)
    want = mixture_log_density(family, data.values, *values).sum()
    assert np.isfinite(want)
    np.testing.assert_allclose(logp_X, want, rtol=1e-9)
    assert {"gaussian_means", "gaussian_covariances", "poisson_rates", "bernoulli_probabilities"} <= set(
        model.named_vars
    )
    assert model.named_vars_to_dims["gaussian_covariances"] == ("component", "gaussian_feature", "gaussian_feature_bis")


def test_one_class_is_each_familys_own_maximum():
    """With K = 1 the columns of different families are independent, so the EM's maximum is the sum of each
    block's own (closed-form) maximum."""
    X, _ = _simulated(300)
    mixed = bm.em(X, 1, component=COLUMNS, n_init=1, random_seed=0)
    parts = [
        bm.em(X[["a", "b"]], 1, n_init=1, random_seed=0),
        bm.em(X[["visits"]], 1, component="poisson", n_init=1, random_seed=0),
        bm.em(X[["smoker"]], 1, component="bernoulli", n_init=1, random_seed=0),
        bm.em(X[["island"]], 1, component="categorical", n_init=1, random_seed=0),
    ]
    assert float(mixed["log_likelihood"]) == pytest.approx(sum(float(p["log_likelihood"]) for p in parts), abs=1e-6)
    assert int(mixed["n_parameters"]) == sum(int(p["n_parameters"]) for p in parts)
    np.testing.assert_allclose(mixed["gaussian_covariances"].values, parts[0]["covariances"].values, atol=1e-8)


@pytest.mark.parametrize("holes", [False, True])
def test_the_em_reaches_stepmixs_maximum_on_binary_categorical_and_diagonal_gaussian_columns(holes):
    """StepMix's nested model covers diagonal Gaussian, binary and categorical columns, with missing cells too."""
    X, _ = _simulated(400)
    X = X.drop(columns="visits")
    if holes:
        X = _with_holes(X, 0.15)
    columns = {c: f for c, f in COLUMNS.items() if c != "visits"}
    options = {"missing": "marginalize"} if holes else {}
    ours = bm.em(X, 2, component=columns, covariance="diag", n_init=5, random_seed=0, **options)
    nan = "_nan" if holes else ""
    codes = X["island"].map({label: code for code, label in enumerate(ISLANDS)}).to_numpy()
    table = np.column_stack([X[["a", "b"]].to_numpy(), X["smoker"].to_numpy(), codes])
    descriptor = {
        "gauss": {"model": f"gaussian_diag{nan}", "n_columns": 2},
        "smoker": {"model": f"binary{nan}", "n_columns": 1},
        "island": {"model": f"categorical{nan}", "n_columns": 1},
    }
    theirs = stepmix(descriptor, 2).fit(table)
    assert float(ours["log_likelihood"]) == pytest.approx(theirs.score(table) * len(X), abs=2e-3)


def test_classes_are_recovered_with_a_fifth_of_the_cells_missing(tmp_path):
    """Simulated mixed data with 20% of cells missing at random: the classes, the Gaussian block's correlation,
    the answer and count parameters all come back about as well as from the complete table."""
    complete, truth = _simulated(500)
    holes = _with_holes(complete, 0.2)
    reference = bm.em(complete, 2, component=COLUMNS, n_init=3, random_seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        model = bm.models.mixture(holes, 2, component=COLUMNS, missing="marginalize")
        result = bm.fit(model, draws=300, tune=300, chains=2, random_seed=4, progressbar=False)
    result = bm.relabel(result, reference=reference)
    posterior = result["posterior"]
    for name in ("gaussian_means", "poisson_rates", "bernoulli_probabilities", "categorical_probabilities"):
        mean, sd = posterior[name].mean(("chain", "draw")), posterior[name].std(("chain", "draw"))
        assert (np.abs(mean - reference[name]) < 4 * sd + 1e-3).all(), name
    covariances = posterior["gaussian_covariances"].mean(("chain", "draw")).values
    assert covariances[1, 0, 1] / np.sqrt(covariances[1, 0, 0] * covariances[1, 1, 1]) > 0.4  # truth 0.6
    labels = bm.predict(result, holes)["component"].values
    complete_labels = reference["responsibilities"].values.argmax(axis=1)

    def accuracy(labels):  # up to the label permutation
        return max((labels == truth).mean(), (labels != truth).mean())

    assert accuracy(complete_labels) > 0.95 and accuracy(labels) > accuracy(complete_labels) - 0.04

    filled = bm.impute(result, holes, random_seed=0)
    assert len(filled) == int(holes.isna().sum().sum())
    island_cells = filled["feature"] == "island"
    assert set(filled.loc[island_cells, "value"]) <= set(ISLANDS) and filled.loc[island_cells, "mean"].isna().all()
    numeric = filled["feature"].isin(["a", "b", "visits"])
    assert filled.loc[numeric, "mean"].notna().all() and filled.loc[numeric, "value"].isna().all()
    true = complete.to_numpy()[filled["obs_id"], [list(complete.columns).index(f) for f in filled["feature"]]]
    a_cells = (filled["feature"] == "a").to_numpy()
    covered = (filled.loc[a_cells, "hdi_lower"] <= true[a_cells].astype(float)) & (
        true[a_cells].astype(float) <= filled.loc[a_cells, "hdi_upper"]
    )
    assert 0.88 <= covered.mean() <= 0.99  # 94% intervals

    loaded = bm.load(bm.save(result, tmp_path / "mixed.nc"))
    pd.testing.assert_frame_equal(bm.impute(loaded, holes, random_seed=0), filled)
    drawn = bm.sample(loaded, 5, random_seed=0)
    assert set(np.unique(drawn["X"].sel(feature="island").values)) <= set(ISLANDS)


def test_bad_mappings_are_clear_errors():
    X, _ = _simulated(40)
    with pytest.raises(ValueError, match=r"`component` names column\(s\) \['height'\] that `X` lacks"):
        bm.models.mixture(X, 2, component={**COLUMNS, "height": "gaussian"})
    with pytest.raises(ValueError, match=r"column\(s\) \['visits'\] that `component` does not map"):
        bm.em(X, 2, component={c: f for c, f in COLUMNS.items() if c != "visits"})
    with pytest.raises(TypeError, match=r"must be a pandas DataFrame when `component` maps columns"):
        bm.models.mixture(X[["a", "b"]].to_numpy(), 2, component={"a": "gaussian", "b": "gaussian"})
    with pytest.raises(ValueError, match=r"Unknown component 'normal'"):
        bm.models.mixture(X, 2, component={**COLUMNS, "a": "normal"})
    with pytest.raises(ValueError, match=r"column\(s\) \['smoker'\].*recode the column"):
        bm.models.mixture(X.assign(smoker=2.0), 2, component=COLUMNS)
    with pytest.raises(TypeError, match=r"non-empty mapping of column names to family names"):
        bm.models.mixture(X, 2, component={})


def test_relabelling_matches_on_every_block_not_only_the_first():
    """Two classes of 200 with the same age distribution, mirror images in their answers: the Gaussian block
    cannot tell them apart (in about a fifth of the draws the posterior's two age means come in the other
    order than EM's), the answers can. Relabelled to EM, every draw's classes answer as EM's do."""
    rng = np.random.default_rng(11)
    z = np.arange(400) < 200
    X = pd.DataFrame(
        {
            "age": rng.normal(40.0, 10.0, 400),
            "smoker": (rng.random(400) < np.where(z, 0.9, 0.1)).astype(float),
            "island": np.where(rng.random(400) < np.where(z, 0.85, 0.15), "x", "y"),
        }
    )
    columns = {"age": "gaussian", "smoker": "bernoulli", "island": "categorical"}
    reference = bm.em(X, 2, component=columns, n_init=3, random_seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        fit = bm.fit(bm.models.mixture(X, 2, component=columns), draws=200, tune=200, chains=2, random_seed=3)
    result = bm.relabel(fit, reference=reference)
    smoker = result["posterior"]["bernoulli_probabilities"].sel(bernoulli_feature="smoker").values  # (chain, draw, K)
    expected = reference["bernoulli_probabilities"].sel(bernoulli_feature="smoker").values
    assert np.all((smoker[..., 0] > smoker[..., 1]) == (expected[0] > expected[1]))
