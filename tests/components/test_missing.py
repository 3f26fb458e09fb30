"""missing="marginalize": NaN cells left out of each row's likelihood, exactly, in the model, EM and prediction."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmix as bm
from bayesmix.components import get_component
from bayesmix.components._mixture_density import mixture_log_density
from tests.components.model_point import likelihood_at_a_random_point

RNG = np.random.default_rng(21)
TABLES = {
    "bernoulli": pd.DataFrame((RNG.random((60, 4)) < [0.2, 0.5, 0.7, 0.9]).astype(float)),
    "poisson": pd.DataFrame(RNG.poisson([1.0, 4.0, 9.0], size=(60, 3)).astype(float)),
    "negative_binomial": pd.DataFrame(RNG.poisson([1.0, 4.0, 9.0], size=(60, 3)).astype(float)),
    "categorical": pd.DataFrame({"a": RNG.choice(["x", "y"], 60), "b": RNG.choice(["p", "q", "r"], 60)}),
}
FAMILIES = list(TABLES)


def _with_holes(X: pd.DataFrame, share: float = 0.2, seed: int = 0) -> pd.DataFrame:
    return X.mask(np.random.default_rng(seed).random(X.shape) < share)


def _random_parameters(component: str, data, K: int = 2) -> list[np.ndarray]:
    """A random point of the family's parameters for ``data`` (draw axis first, 3 draws)."""
    rng = np.random.default_rng(4)
    D = data.n_features
    if component == "bernoulli":
        return [rng.uniform(0.05, 0.95, (3, K, D))]
    if component == "poisson":
        return [rng.gamma(2.0, 2.0, (3, K, D))]
    if component == "negative_binomial":
        return [rng.gamma(2.0, 2.0, (3, K, D)), rng.gamma(2.0, 1.0, (3, K, D))]
    union = [label for labels in data.categories for label in labels]
    probabilities = np.zeros((3, K, D, len(union)))
    start = 0
    for d, labels in enumerate(data.categories):
        columns = np.arange(start, start + len(labels))
        probabilities[:, :, d][..., columns] = rng.dirichlet(np.ones(len(labels)), size=(3, K))
        start += len(labels)
    return [probabilities]


@pytest.mark.parametrize("component", FAMILIES)
def test_a_row_with_missing_cells_has_the_density_of_its_observed_cells(component):
    """The marginal of the observed cells: the same density computed on the table without those columns."""
    family = get_component(component)
    holes = _with_holes(TABLES[component])
    data = family.check_data(holes, missing=True)
    params = _random_parameters(component, data)
    got = family.log_density(data.values, *params)  # (draws, N, K)
    for i in np.flatnonzero(np.isnan(data.values).any(axis=1))[:10]:
        seen = ~np.isnan(data.values[i])
        if not seen.any():
            np.testing.assert_allclose(got[:, i], 0.0)  # nothing observed: probability one
            continue
        want = family.log_density(data.values[i : i + 1, seen], *(p[:, :, seen] for p in params))
        np.testing.assert_allclose(got[:, i], want[:, 0], rtol=1e-12)
    complete = family.check_data(TABLES[component])
    np.testing.assert_allclose(
        family.log_density(complete.values, *params),
        family.log_density(family.check_data(TABLES[component], missing=True).values, *params),
        rtol=1e-14,
    )


@pytest.mark.parametrize(("component", "mixing"), [*((c, "finite") for c in FAMILIES), ("poisson", "dp")])
def test_the_models_likelihood_with_missing_cells_equals_the_numpy_density(component, mixing):
    holes = _with_holes(TABLES[component])
    if mixing == "dp":
        model = bm.models.dp_mixture(holes, truncation=4, component=component, missing="marginalize")
    else:
        model = bm.models.mixture(holes, 2, component=component, missing="marginalize")
    family = get_component(component)
    logp_X, values = likelihood_at_a_random_point(model, family, RNG)
    data = family.check_data(holes, missing=True)
    want = mixture_log_density(family, data.values, *values).sum()
    assert np.isfinite(want)
    np.testing.assert_allclose(logp_X, want, rtol=1e-9)


def test_em_and_the_posterior_recover_classes_with_a_fifth_of_the_cells_missing():
    """Latent classes of 8 binary items, 20% of cells missing completely at random: EM and NUTS recover the
    answer probabilities about as well as from the complete table."""
    rng = np.random.default_rng(8)
    truth = np.array([[0.1, 0.8, 0.3, 0.9, 0.2, 0.7, 0.85, 0.15], [0.7, 0.2, 0.6, 0.95, 0.8, 0.1, 0.3, 0.6]])
    z = (rng.random(1500) < 0.4).astype(int)
    complete = pd.DataFrame((rng.random((1500, 8)) < truth[z]).astype(float))
    holes = _with_holes(complete, 0.2, seed=1)
    fits = {
        name: bm.em(X, 2, component="bernoulli", n_init=3, random_seed=0, missing="marginalize")
        for name, X in (("complete", complete), ("holes", holes))
    }
    order = np.argsort(-fits["holes"]["weights"].values)  # the truth's first class has weight 0.6
    error = np.abs(fits["holes"]["probabilities"].values[order] - truth).max()
    complete_error = np.abs(
        fits["complete"]["probabilities"].values[np.argsort(-fits["complete"]["weights"].values)] - truth
    ).max()
    # 3.5 standard errors of a proportion from the smaller class's 600 rows, 80% of them observed
    assert error < 3.5 * np.sqrt(0.25 / (0.8 * 600)) and complete_error < 3.5 * np.sqrt(0.25 / 600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        model = bm.models.mixture(holes, 2, component="bernoulli", missing="marginalize")
        result = bm.fit(model, draws=300, tune=300, chains=2, random_seed=2, progressbar=False)
    result = bm.relabel(result, reference=fits["holes"])
    posterior_mean = result["posterior"]["probabilities"].mean(("chain", "draw")).values
    np.testing.assert_allclose(posterior_mean, fits["holes"]["probabilities"].values, atol=0.03)

    # prediction takes rows with missing cells under such a fit; a row with nothing observed keeps the weights
    rows = pd.DataFrame([[np.nan] * 8, holes.iloc[0].to_numpy()], columns=holes.columns)
    proba = bm.predict_proba(result, rows)["probability"].values
    weights = result["posterior"]["weights"].mean(("chain", "draw")).values
    np.testing.assert_allclose(proba[0], weights, atol=0.02)
    assert np.isfinite(bm.score_samples(result, rows)["log_density"].values).all()

    # impute: every missing cell gets its modal answer; knowing the class beats each item's overall mode
    filled = bm.impute(result, holes, random_seed=0)
    assert len(filled) == int(holes.isna().sum().sum()) and (filled["probability"] >= 0.5).all()
    true = complete.to_numpy()[filled["obs_id"], filled["feature"].astype(int)]
    overall_mode = (holes.mean() > 0.5).astype(float).to_numpy()[filled["feature"].astype(int)]
    assert (filled["value"] == true).mean() > (overall_mode == true).mean()


def test_missing_cells_are_refused_by_default_with_the_way_out_named():
    holes = _with_holes(TABLES["poisson"])
    with pytest.raises(ValueError, match=r"NaN or infinite values in \d+ row\(s\).*missing='marginalize'"):
        bm.models.mixture(holes, 2, component="poisson")
    with pytest.raises(ValueError, match=r"NaN or missing values in \d+ row\(s\).*missing='marginalize'"):
        bm.em(_with_holes(TABLES["categorical"]), 2, component="categorical")


def test_what_cannot_be_marginalized_is_a_clear_error():
    with pytest.raises(TypeError, match=r"Unexpected argument\(s\) \['reg_covar'\].*complete data only"):
        bm.em(np.array([[1.0, np.nan], [2.0, 3.0], [0.5, 1.0]]), 1, missing="marginalize", reg_covar=1e-3)
    with pytest.raises(ValueError, match=r"Unknown missing 'impute'; choose one of \['marginalize'\]"):
        bm.models.dp_mixture(TABLES["poisson"], truncation=3, component="poisson", missing="impute")
    empty_column = TABLES["bernoulli"].assign(**{"1": np.nan})
    with pytest.raises(ValueError, match=r"column\(s\) \['1'\] are missing in every row; drop them"):
        bm.models.mixture(empty_column, 2, component="bernoulli", missing="marginalize")
    with pytest.raises(ValueError, match=r"column\(s\) \['b'\] are missing in every row"):
        bm.em(TABLES["categorical"].assign(b=None), 2, component="categorical", missing="marginalize")
