"""Component families: log-densities against scipy, EM against published and library results, recovery."""

import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats

import bayesmix as bm
from bayesmix.components import COMPONENTS, get_component
from bayesmix.components._mixture_density import mixture_log_density
from tests.components.model_point import likelihood_at_a_random_point
from tests.components.stepmix_reference import stepmix

RNG = np.random.default_rng(7)
COUNTS = RNG.poisson([[2.0, 6.0]], size=(40, 2)).astype(float)
CONTINUOUS = RNG.standard_t(4, size=(40, 3)) + np.array([0.0, 1.0, -2.0])
BINARY = (RNG.random((40, 4)) < [0.2, 0.5, 0.7, 0.9]).astype(float)
ANSWERS = pd.DataFrame(
    {
        "smoker": RNG.choice(["no", "yes"], 40),
        "island": pd.Categorical(RNG.choice(["Biscoe", "Dream"], 40), categories=["Biscoe", "Dream", "Torgersen"]),
        "rating": RNG.choice([1, 2, 3, 4], 40),
    }
)


def test_the_registry_lists_every_family_and_refuses_unknown_names():
    assert set(COMPONENTS) == {"gaussian", "student_t", "poisson", "negative_binomial", "bernoulli", "categorical"}
    with pytest.raises(ValueError, match=r"Unknown component 'gamma'; choose one of \['gaussian', 'student_t'"):
        get_component("gamma")


def test_poisson_log_density_matches_scipy():
    rates = RNG.gamma(2.0, 2.0, size=(3, 2, 2))  # (draws, K, D)
    got = get_component("poisson").log_density(COUNTS, rates)
    want = stats.poisson.logpmf(COUNTS[None, :, None, :], rates[:, None, :, :]).sum(-1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_negative_binomial_log_density_matches_scipy():
    means, dispersions = RNG.gamma(2.0, 2.0, size=(3, 2, 2)), RNG.gamma(2.0, 1.0, size=(3, 2, 2))
    got = get_component("negative_binomial").log_density(COUNTS, means, dispersions)
    n, p = dispersions[:, None], (dispersions / (dispersions + means))[:, None]
    want = stats.nbinom.logpmf(COUNTS[None, :, None, :], n, p).sum(-1)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_bernoulli_log_density_matches_scipy_with_answers_on_the_boundary():
    probabilities = RNG.random(size=(3, 2, 4))  # (draws, K, D)
    probabilities[0, 0, 0], probabilities[1, 1, 3] = 0.0, 1.0  # impossible answers give -inf, certain ones 0
    got = get_component("bernoulli").log_density(BINARY, probabilities)
    want = stats.bernoulli.logpmf(BINARY[None, :, None, :], probabilities[:, None, :, :]).sum(-1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.isneginf(got[0, BINARY[:, 0] == 1, 0]).all() and np.isfinite(got[0, BINARY[:, 0] == 0, 0]).all()


def test_categorical_codes_keep_every_features_own_labels():
    data = get_component("categorical").check_data(ANSWERS)
    # a Categorical's declared categories are kept, in order, even one that no row uses
    assert data.categories == (("no", "yes"), ("Biscoe", "Dream", "Torgersen"), ("1", "2", "3", "4"))
    union = ["no", "yes", "Biscoe", "Dream", "Torgersen", "1", "2", "3", "4"]
    decoded = np.array(union)[data.values.astype(int)]
    np.testing.assert_array_equal(decoded, ANSWERS.astype(str).to_numpy())


def test_categorical_log_density_matches_scipy():
    data = get_component("categorical").check_data(ANSWERS)
    probabilities = np.zeros((3, 2, 3, 9))  # (draws, K, D, categories of the union)
    for d, columns in enumerate([[0, 1], [2, 3, 4], [5, 6, 7, 8]]):
        probabilities[..., d, columns] = RNG.dirichlet(np.ones(len(columns)), size=(3, 2))
    got = get_component("categorical").log_density(data.values, probabilities)
    one_hot = data.values[:, :, None] == np.arange(9)  # (N, D, categories)
    want = np.zeros_like(got)
    for s_, k in np.ndindex(3, 2):
        for d in range(3):
            want[s_, :, k] += stats.multinomial.logpmf(one_hot[:, d], 1, probabilities[s_, k, d])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_student_t_log_density_matches_scipy():
    A = RNG.normal(size=(2, 3, 3))
    scale = A @ np.swapaxes(A, -1, -2) + np.eye(3)
    means, dof = RNG.normal(size=(2, 3)), np.array([2.5, 30.0])
    got = get_component("student_t").log_density(CONTINUOUS, means, scale, dof)
    want = np.stack([stats.multivariate_t(means[k], scale[k], df=dof[k]).logpdf(CONTINUOUS) for k in range(2)], -1)
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize(
    ("component", "covariance", "X"),
    [
        ("poisson", None, COUNTS),
        ("negative_binomial", None, COUNTS),
        ("bernoulli", None, BINARY),
        ("categorical", None, ANSWERS),
        *[("student_t", cov, CONTINUOUS) for cov in ("full", "diag", "spherical", "tied")],
        ("student_t", "full", CONTINUOUS[:, :1]),
    ],
)
def test_the_models_log_likelihood_equals_the_numpy_density(component, covariance, X):
    """The PyTensor likelihood the sampler sees equals the scipy-checked numpy density, at a random point."""
    model = bm.models.mixture(X, 2, component=component, covariance=covariance or "full")
    family = get_component(component)
    logp_X, values = likelihood_at_a_random_point(model, family, RNG)
    want = mixture_log_density(family, family.check_data(X).values, *values).sum()
    np.testing.assert_allclose(logp_X, want, rtol=1e-9)


def test_poisson_em_reproduces_hasselblads_published_fit():
    """Deaths of women over 80 per day in The Times, 1910-1912 (Hasselblad 1969); the two-component
    maximum-likelihood fit is pi = 0.3599, lambda = (1.256, 2.663) (also Titterington et al. 1985, Table 4.1.1)."""
    X = np.repeat(np.arange(10.0), [162, 267, 271, 185, 111, 61, 27, 8, 3, 1])
    fit = bm.em(X, 2, component="poisson", n_init=3, random_seed=0)
    np.testing.assert_allclose(fit["rates"].values.ravel(), [1.2561, 2.6634], atol=5e-4)
    np.testing.assert_allclose(fit["weights"].values, [0.3599, 0.6401], atol=5e-4)
    assert float(fit["log_likelihood"]) == pytest.approx(-1989.946, abs=1e-3)
    assert int(fit["n_parameters"]) == 3 and bool(fit["converged"])


def test_negative_binomial_em_with_one_component_equals_statsmodels():
    import statsmodels.api as sm  # a dev dependency (pyproject's dev extra): never skipped

    art = bm.datasets.load("biochemists")[["art"]]
    fit = bm.em(art, 1, component="negative_binomial", n_init=1, random_seed=0)
    reference = sm.NegativeBinomial(art["art"].values, np.ones(len(art))).fit(disp=0)
    mean, overdispersion = np.exp(reference.params[0]), reference.params[1]  # variance mu + alpha mu^2
    assert float(fit["means"].values[0, 0]) == pytest.approx(mean, rel=1e-6)
    assert float(fit["dispersions"].values[0, 0]) == pytest.approx(1.0 / overdispersion, rel=1e-4)
    assert float(fit["log_likelihood"]) == pytest.approx(reference.llf, abs=1e-6)


def test_student_t_ecm_reaches_studenttmixtures_maximum():
    import studenttmixture as stm  # a dev dependency (pyproject's dev extra): never skipped

    rng = np.random.default_rng(3)
    X = np.vstack([rng.standard_t(3, size=(150, 2)), rng.standard_t(8, size=(100, 2)) * 0.5 + [6.0, 3.0]])
    ours = bm.em(X, 2, component="student_t", covariance="full", n_init=2, random_seed=0)
    theirs = stm.EMStudentMixture(n_components=2, fixed_df=False, tol=1e-10, max_iter=5000, random_state=0)
    theirs.fit(X)
    their_ll = float(theirs.score(X)) * len(X)
    assert float(ours["log_likelihood"]) == pytest.approx(their_ll, abs=1e-3)
    np.testing.assert_allclose(np.sort(ours["degrees_of_freedom"].values), np.sort(theirs.df_), rtol=1e-2)


@pytest.mark.parametrize("n_components", [1, 2])
def test_bernoulli_em_reaches_stepmixs_maximum_on_lsat6(n_components):
    """StepMix (Morin et al. 2025) is the maintained Python latent class package; run to tight convergence
    it finds the same maximum. With one class the maximum is closed-form: the items' answer rates.
    (With three classes the likelihood has several local maxima that 5 starts of either EM do not always
    escape, so a comparison there would test the starts, not the algorithm.)"""
    X = bm.datasets.load("lsat6")
    ours = bm.em(X, n_components, component="bernoulli", n_init=5, random_seed=0)
    theirs = stepmix("binary", n_components).fit(X.values)
    assert float(ours["log_likelihood"]) == pytest.approx(theirs.score(X.values) * len(X), abs=1e-3)
    order = np.argsort(theirs.get_parameters()["measurement"]["pis"][:, 0])  # ours are sorted by Q1
    np.testing.assert_allclose(
        ours["probabilities"].values, theirs.get_parameters()["measurement"]["pis"][order], atol=2e-3
    )
    assert int(ours["n_parameters"]) == 6 * n_components - 1
    if n_components == 1:
        np.testing.assert_allclose(ours["probabilities"].values[0], X.mean().values, rtol=1e-12)
        assert float(ours["log_likelihood"]) == pytest.approx(-2493.4367, abs=1e-4)


def test_categorical_em_reaches_stepmixs_maximum():
    """Three items of 2, 3 and 4 answers, two classes; StepMix codes each item 0..C-1, bayesmix keeps labels."""

    rng = np.random.default_rng(5)
    z = rng.random(800) < 0.4
    items = {
        "a": ([0.8, 0.2], [0.3, 0.7]),
        "b": ([0.6, 0.3, 0.1], [0.1, 0.3, 0.6]),
        "c": ([0.4, 0.3, 0.2, 0.1], [0.1, 0.1, 0.2, 0.6]),
    }
    codes = np.column_stack([[rng.choice(len(p[0]), p=p[int(k)]) for k in z] for p in items.values()])
    X = pd.DataFrame({name: np.array(list("pqrs"))[codes[:, j]] for j, name in enumerate(items)})
    ours = bm.em(X, 2, component="categorical", n_init=5, random_seed=0)
    theirs = stepmix("categorical", 2).fit(codes)
    assert float(ours["log_likelihood"]) == pytest.approx(theirs.score(codes) * len(X), abs=1e-3)
    assert int(ours["n_parameters"]) == 1 + 2 * (1 + 2 + 3)
    assert list(ours["category"].values) == ["p", "q", "r", "s"]
    np.testing.assert_allclose(ours["probabilities"].sum("category"), 1.0)
    assert float(ours["probabilities"].sel(feature="a", category=["r", "s"]).sum()) == 0.0  # a has only p and q


@pytest.mark.parametrize(
    ("component", "truth"),
    [
        ("bernoulli", {"probabilities": [[0.1, 0.8, 0.3, 0.9, 0.2, 0.7], [0.7, 0.2, 0.6, 0.95, 0.8, 0.1]]}),
        ("poisson", {"rates": [[1.0, 8.0], [6.0, 2.0]]}),
        ("negative_binomial", {"means": [[1.0, 8.0], [10.0, 2.0]], "dispersions": [[5.0, 20.0], [2.0, 50.0]]}),
    ],
)
def test_count_em_recovers_simulated_parameters_up_to_permutation(component, truth):
    rng = np.random.default_rng(11)
    z = rng.random(3000) < 0.4
    params = {k: np.asarray(v) for k, v in truth.items()}
    family = get_component(component)
    X = family.sample(rng, *(params[name][z.astype(int)] for name in family.parameters))
    fit = bm.em(X, 2, component=component, n_init=3, random_seed=0)
    order = np.argsort(fit[family.location].values[:, 0])  # truth is sorted by its first feature
    assert fit["weights"].values[order] == pytest.approx([0.6, 0.4], abs=0.03)
    for name, value in params.items():
        if name == "probabilities":  # an absolute error: the rarer answer of an item is estimated from fewer rows
            np.testing.assert_allclose(fit[name].values[order], value, atol=0.03)
        else:
            np.testing.assert_allclose(fit[name].values[order], value, rtol=0.35 if name == "dispersions" else 0.08)


def test_student_t_keeps_to_the_bulk_of_hbk_where_a_gaussian_is_pulled_by_the_outliers():
    """hbk's first 14 rows are planted outliers; the other 61 have means near 1.5-1.8 and nearly no correlation."""
    X = bm.datasets.load("hbk")[["X1", "X2", "X3"]]
    bulk = X.iloc[14:]
    t = bm.em(X, 1, component="student_t", n_init=1, random_seed=0)
    g = bm.em(X, 1, n_init=1, random_seed=0)
    t_shift = np.abs(t["means"].values[0] - bulk.mean().values) / bulk.std().values
    g_shift = np.abs(g["means"].values[0] - bulk.mean().values) / bulk.std().values
    assert t_shift.max() < 0.2 and g_shift.min() > 1.0
    corr = np.corrcoef(X.values.T)[0, 1:]
    S = t["scale_matrices"].values[0]
    t_corr = (S / np.sqrt(np.outer(np.diag(S), np.diag(S))))[0, 1:]
    assert (corr > 0.9).all() and (t_corr < 0.6).all()
    assert t["degrees_of_freedom"].values[0] < 3  # the outliers are explained by heavy tails


def test_prior_predictive_draws_have_the_familys_support():
    counts = bm.models.mixture(COUNTS, 2, component="negative_binomial")
    draws = pm.draw(counts["X"], 2, random_seed=1)
    assert draws.shape == (2, *COUNTS.shape) and (draws >= 0).all() and (draws == np.round(draws)).all()
    t = bm.models.dp_mixture(CONTINUOUS, truncation=4, component="student_t", covariance="diag")
    assert pm.draw(t["X"], random_seed=1).shape == CONTINUOUS.shape


def test_count_families_refuse_what_is_not_a_count_and_name_it():
    bad = pd.DataFrame({"a": [0, 1, 2], "b": [1.0, -1.0, 2.5]})
    with pytest.raises(ValueError, match=r"2 row\(s\) \(positions 1, 2\) in column\(s\) \['b'\].*e.g. -1 in row 1"):
        bm.models.mixture(bad, 2, component="poisson")


def test_bernoulli_takes_booleans_and_refuses_other_answers_naming_the_column():
    answers = pd.DataFrame({"smoker": [True, False, True], "q": [0, 1, 1]})
    model = bm.models.mixture(answers, 2, component="bernoulli")
    assert model.rvs_to_values[model["X"]].data.tolist() == [[1, 0], [0, 1], [1, 1]]
    with pytest.raises(ValueError, match=r"column\(s\) \['q'\] do not, e.g. 2 in row 1.*component='categorical'"):
        bm.models.mixture(pd.DataFrame({"p": [0, 1, 1], "q": [0, 2, 1]}), 2, component="bernoulli")


def test_categorical_refuses_a_category_that_training_never_saw():
    fitted = get_component("categorical").check_data(ANSWERS)
    new = ANSWERS.iloc[:2].assign(island=["Dream", "Fernandina"])
    with pytest.raises(ValueError, match=r"column 'island' has value\(s\) \['Fernandina'\] that the model was not"):
        get_component("categorical").check_data(new, like=fitted)


def test_an_all_zero_count_column_is_warned_about_like_a_constant_feature():
    X = np.column_stack([COUNTS[:, 0], np.zeros(len(COUNTS))])
    with pytest.warns(bm.DegenerateDataWarning, match=r"\['x1'\] are zero in every row"):
        model = bm.models.mixture(X, 2, component="poisson")
    assert np.isfinite(model.point_logps()["X"])


def test_unfitting_options_are_refused_at_the_factory():
    with pytest.raises(ValueError, match="`order_means` applies to Gaussian components"):
        bm.models.mixture(COUNTS, 2, component="poisson", order_means=True)
    with pytest.raises(ValueError, match="Unknown covariance 'banded'"):
        bm.models.mixture(CONTINUOUS, 2, component="student_t", covariance="banded")
    with pytest.warns(bm.DegenerateSolutionWarning):
        warnings.simplefilter("ignore", bm.DegenerateDataWarning)
        bm.em(np.array([0.0, 0, 0, 1, 1, 5]), 3, component="poisson", n_init=1, random_seed=0)
