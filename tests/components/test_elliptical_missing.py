"""Gaussian and Student-t components with missing cells: the marginal of the observed sub-vector, the EM, the
posterior, imputation."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats import multivariate_normal

import bayesmix as bm
from bayesmix.baseline.gaussian_missing import em_with_missing
from bayesmix.components import get_component
from bayesmix.components._mixture_density import mixture_log_density
from tests.components.model_point import likelihood_at_a_random_point
from tests.components.stepmix_reference import stepmix

GAUSSIAN = get_component("gaussian")
STUDENT_T = get_component("student_t")
RNG = np.random.default_rng(3)


def _simulated(n: int = 600, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    """Two correlated 3-D Gaussian clusters (weights 0.4, 0.6) and the true labels."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0, 0.0], [3.0, 2.0, -2.0]])
    covariances = np.array(
        [[[1.0, 0.6, 0.3], [0.6, 1.0, 0.5], [0.3, 0.5, 1.0]], [[1.0, -0.5, 0.0], [-0.5, 1.5, 0.4], [0.0, 0.4, 0.8]]]
    )
    z = (rng.random(n) < 0.6).astype(int)
    noise = np.einsum("nij,nj->ni", np.linalg.cholesky(covariances[z]), rng.standard_normal((n, 3)))
    return pd.DataFrame(means[z] + noise, columns=["a", "b", "c"]), z


def _with_holes(X: pd.DataFrame, share: float = 0.2, seed: int = 0) -> pd.DataFrame:
    return X.mask(np.random.default_rng(seed).random(X.shape) < share)


def _scipy_marginal(x: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """log N(x_o | mu_ko, Sigma_k,oo) per component, by scipy; 0 when nothing is observed."""
    seen = ~np.isnan(x)
    if not seen.any():
        return np.zeros(len(means))
    return np.array(
        [
            multivariate_normal(m[seen], c[np.ix_(seen, seen)]).logpdf(x[seen])
            for m, c in zip(means, covariances, strict=True)
        ]
    )


def test_the_numpy_density_of_a_row_with_missing_cells_is_scipys_marginal():
    X = _with_holes(_simulated(40)[0], 0.35).to_numpy().copy()
    X[0] = np.nan  # nothing observed: density one
    means = RNG.normal(size=(4, 2, 3))
    factors = RNG.normal(size=(4, 2, 3, 3))
    covariances = factors @ np.swapaxes(factors, -1, -2) + np.eye(3)
    got = GAUSSIAN.log_density(X, means, covariances)  # (draws, N, K)
    for s in range(4):
        want = np.array([_scipy_marginal(x, means[s], covariances[s]) for x in X])
        np.testing.assert_allclose(got[s], want, rtol=1e-10, atol=1e-12)
    complete = _simulated(40)[0].to_numpy()
    want = np.array(
        [[multivariate_normal(m, c).logpdf(complete) for m, c in zip(means[0], covariances[0], strict=True)]]
    ).T
    np.testing.assert_allclose(GAUSSIAN.log_density(complete, means[0], covariances[0]), want[..., 0], rtol=1e-10)


@pytest.mark.parametrize(
    ("covariance", "mixing"),
    [("full", "finite"), ("diag", "finite"), ("spherical", "finite"), ("tied", "finite"), ("full", "dp")],
)
def test_the_models_likelihood_with_missing_cells_is_scipys_marginal(covariance, mixing):
    holes = _with_holes(_simulated(50)[0], 0.3)
    holes.iloc[3] = np.nan
    if mixing == "dp":
        model = bm.models.dp_mixture(holes, truncation=3, covariance=covariance, missing="marginalize")
    else:
        model = bm.models.mixture(holes, 2, covariance=covariance, missing="marginalize")
    logp_X, (weights, means, covariances) = likelihood_at_a_random_point(model, GAUSSIAN, RNG)
    want = sum(np.logaddexp.reduce(np.log(weights) + _scipy_marginal(x, means, covariances)) for x in holes.to_numpy())
    np.testing.assert_allclose(logp_X, want, rtol=1e-10)
    data = GAUSSIAN.check_data(holes, missing=True)
    np.testing.assert_allclose(mixture_log_density(GAUSSIAN, data.values, weights, means, covariances).sum(), want)


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical", "tied"])
def test_the_missing_data_em_is_scikit_learns_on_complete_data(covariance):
    X = _simulated(300)[0]
    ours = em_with_missing(GAUSSIAN, GAUSSIAN.check_data(X), 2, covariance=covariance, n_init=3, seed=0, tol=1e-12)
    sklearn = bm.em(X, 2, covariance=covariance, n_init=3, random_seed=0, tol=1e-10)
    assert float(ours["log_likelihood"]) == pytest.approx(float(sklearn["log_likelihood"]), abs=1e-5)
    np.testing.assert_allclose(ours["means"].values, sklearn["means"].values, atol=1e-4)
    np.testing.assert_allclose(ours["covariances"].values, sklearn["covariances"].values, atol=1e-4)
    assert int(ours["n_parameters"]) == int(sklearn["n_parameters"])


def test_the_missing_data_em_reaches_stepmixs_maximum_on_the_diagonal_model():
    """StepMix marginalizes missing cells for diagonal Gaussians (its gaussian_diag_nan); both reach one maximum."""
    holes = _with_holes(_simulated(400)[0], 0.2)
    ours = bm.em(holes, 2, covariance="diag", n_init=5, random_seed=0, missing="marginalize")
    theirs = stepmix("gaussian_diag_nan", 2).fit(holes.to_numpy())
    assert float(ours["log_likelihood"]) == pytest.approx(theirs.score(holes.to_numpy()) * len(holes), abs=1e-3)
    order = np.argsort(theirs.get_parameters()["measurement"]["means"][:, 0])
    np.testing.assert_allclose(ours["means"].values, theirs.get_parameters()["measurement"]["means"][order], atol=1e-3)


def test_the_full_covariance_em_with_missing_cells_stops_at_a_maximum():
    """No library fits this model, so check the defining property: the observed-data log-likelihood has zero
    gradient in every mean and covariance entry at EM's answer, and falls along any small step. (The 1e-6
    floor on the covariances' diagonal moves the maximum by about 1e-6, where the covariance gradient is
    about 1e-4 to 1e-3: N_k / 2 times Sigma^-2 times the floor.)"""
    holes = _with_holes(_simulated(300)[0], 0.25)
    data = GAUSSIAN.check_data(holes, missing=True)
    fit = em_with_missing(GAUSSIAN, data, 2, covariance="full", n_init=3, seed=0, tol=1e-14)
    X = holes.to_numpy()
    weights, means, covariances = (fit[name].values for name in ("weights", "means", "covariances"))

    def log_likelihood(means, covariances):
        return mixture_log_density(GAUSSIAN, X, weights, means, covariances).sum()

    best = log_likelihood(means, covariances)
    assert best == pytest.approx(float(fit["log_likelihood"]), rel=1e-12)
    h = 1e-5
    for k in range(2):
        for d in range(3):
            step = np.zeros_like(means)
            step[k, d] = h
            gradient = (log_likelihood(means + step, covariances) - log_likelihood(means - step, covariances)) / 2 / h
            assert abs(gradient) < 1e-3
            for e in range(d + 1):
                step = np.zeros_like(covariances)
                step[k, d, e] = step[k, e, d] = h
                gradient = (
                    (log_likelihood(means, covariances + step) - log_likelihood(means, covariances - step)) / 2 / h
                )
                assert abs(gradient) < 2e-3
    assert log_likelihood(means + 0.01, covariances) < best


def test_the_posterior_recovers_the_clusters_with_a_fifth_of_the_cells_missing_and_imputes_them(tmp_path):
    complete, truth = _simulated(600)
    holes = _with_holes(complete, 0.2, seed=1)
    reference = bm.em(complete, 2, n_init=3, random_seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        model = bm.models.mixture(holes, 2, missing="marginalize")
        result = bm.fit(model, draws=400, tune=400, chains=2, random_seed=2, progressbar=False)
    result = bm.relabel(result, reference=reference)
    posterior = result["posterior"]
    # the complete-data answer lies within the posterior's spread
    sd = posterior["means"].std(("chain", "draw")).values
    assert np.all(np.abs(posterior["means"].mean(("chain", "draw")).values - reference["means"].values) < 4 * sd)
    correlation = posterior["covariances"].mean(("chain", "draw")).values
    assert correlation[0, 0, 1] > 0.3 and correlation[1, 0, 1] < -0.2  # the clusters' correlations are kept
    labels = bm.predict(result, holes)["component"].values

    def accuracy(labels):  # up to the label permutation
        return max((labels == truth).mean(), (labels != truth).mean())

    # rows that lost cells are classified less surely: the observed-data EM gets 95% right, the complete
    # data's 98.5%; the posterior classifies as the observed-data EM does
    holes_em = bm.em(holes, 2, n_init=3, random_seed=0, missing="marginalize")
    assert (labels == holes_em["responsibilities"].values.argmax(axis=1)).mean() > 0.98
    assert accuracy(labels) > accuracy(reference["responsibilities"].values.argmax(axis=1)) - 0.05

    filled = bm.impute(result, holes, random_seed=0)
    assert len(filled) == int(holes.isna().sum().sum())
    columns = [list(holes.columns).index(f) for f in filled["feature"]]
    true = complete.to_numpy()[filled["obs_id"], columns]
    covered = (filled["hdi_lower"] <= true) & (true <= filled["hdi_upper"])
    assert 0.90 <= covered.mean() <= 0.98  # 94% intervals
    # the conditional normal uses the observed cells: it beats the cluster mean of the assigned component
    means = posterior["means"].mean(("chain", "draw")).values
    cluster_mean = means[labels[filled["obs_id"]], columns]
    assert np.abs(filled["mean"] - true).mean() < np.abs(cluster_mean - true).mean()

    # saved and loaded, the fit still marginalizes: the same imputations and scores of rows with holes
    loaded = bm.load(bm.save(result, tmp_path / "holes.nc"))
    pd.testing.assert_frame_equal(bm.impute(loaded, holes, random_seed=0), filled)
    np.testing.assert_allclose(
        bm.score_samples(loaded, holes.iloc[:20])["log_density"].values,
        bm.score_samples(result, holes.iloc[:20])["log_density"].values,
    )


# --- Student-t: the marginal of the observed cells is a t with the same degrees of freedom ----------------------


def test_the_student_t_density_of_a_row_with_missing_cells_is_scipys_marginal():
    rng = np.random.default_rng(6)
    X = _with_holes(_simulated(40)[0], 0.35).to_numpy().copy()
    X[0] = np.nan
    means = rng.normal(size=(2, 3))
    factors = rng.normal(size=(2, 3, 3))
    scales = factors @ np.swapaxes(factors, -1, -2) + np.eye(3)
    dof = np.array([2.5, 9.0])
    got = STUDENT_T.log_density(X, means, scales, dof)
    for i, x in enumerate(X):
        seen = ~np.isnan(x)
        for k in range(2):
            want = (
                stats.multivariate_t(means[k, seen], scales[k][np.ix_(seen, seen)], df=dof[k]).logpdf(x[seen])
                if seen.any()
                else 0.0
            )
            assert got[i, k] == pytest.approx(want, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize(("covariance", "mixing"), [("full", "finite"), ("diag", "finite"), ("tied", "dp")])
def test_the_student_t_models_likelihood_with_missing_cells_equals_the_numpy_density(covariance, mixing):
    holes = _with_holes(_simulated(50)[0], 0.3)
    options = {"component": "student_t", "covariance": covariance, "missing": "marginalize"}
    if mixing == "dp":
        model = bm.models.dp_mixture(holes, truncation=3, **options)
    else:
        model = bm.models.mixture(holes, 2, **options)
    logp_X, values = likelihood_at_a_random_point(model, STUDENT_T, RNG)
    want = mixture_log_density(STUDENT_T, STUDENT_T.check_data(holes, missing=True).values, *values).sum()
    assert np.isfinite(want)
    np.testing.assert_allclose(logp_X, want, rtol=1e-10)


def test_the_student_t_ecm_with_missing_cells_stops_at_a_maximum():
    """The ECM with missing cells (Liu and Rubin 1995) has no library to compare with: check that the
    observed-data log-likelihood is flat in every mean, scale entry and degrees of freedom at its answer."""
    rng = np.random.default_rng(9)
    z = rng.random(300) < 0.5  # two heavy-tailed clusters (t with 4 degrees of freedom), so that each
    noise = rng.standard_t(4, size=(300, 3))  # component's degrees of freedom sit inside their bounds
    heavy = pd.DataFrame(np.where(z[:, None], [0.0, 0.0, 0.0], [4.0, 3.0, -3.0]) + noise, columns=["a", "b", "c"])
    holes = _with_holes(heavy, 0.25)
    fit = bm.em(holes, 2, component="student_t", n_init=3, random_seed=0, missing="marginalize")
    assert np.all((fit["degrees_of_freedom"].values > 1.0) & (fit["degrees_of_freedom"].values < 50.0))
    X = holes.to_numpy()
    weights, means, scales, dof = (fit[name].values for name in ("weights", *STUDENT_T.parameters))

    def log_likelihood(means, scales, dof):
        return mixture_log_density(STUDENT_T, X, weights, means, scales, dof).sum()

    assert log_likelihood(means, scales, dof) == pytest.approx(float(fit["log_likelihood"]), rel=1e-12)
    h = 1e-5
    gradients = []
    for k in range(2):
        step = np.zeros_like(dof)
        step[k] = h * dof[k]
        gradients.append(
            dof[k]
            * (log_likelihood(means, scales, dof + step) - log_likelihood(means, scales, dof - step))
            / (2 * step[k])
        )
        for d in range(3):
            step = np.zeros_like(means)
            step[k, d] = h
            gradients.append(
                (log_likelihood(means + step, scales, dof) - log_likelihood(means - step, scales, dof)) / 2 / h
            )
            for e in range(d + 1):
                step = np.zeros_like(scales)
                step[k, d, e] = step[k, e, d] = h
                gradients.append(
                    (log_likelihood(means, scales + step, dof) - log_likelihood(means, scales - step, dof)) / 2 / h
                )
    assert np.abs(gradients).max() < 2e-2


def test_a_student_t_fit_with_missing_cells_imputes_from_the_conditional_t():
    complete = bm.datasets.load("hbk")[["X1", "X2", "X3"]]
    holes = _with_holes(complete, 0.15, seed=3)
    reference = bm.em(complete, 1, component="student_t", n_init=1, random_seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        model = bm.models.mixture(holes, 1, component="student_t", missing="marginalize")
        result = bm.fit(model, draws=400, tune=400, chains=2, random_seed=1, progressbar=False)
    posterior = result["posterior"]
    sd = posterior["means"].std(("chain", "draw")).values
    assert np.all(np.abs(posterior["means"].mean(("chain", "draw")).values - reference["means"].values) < 4 * sd)
    filled = bm.impute(result, holes, random_seed=0)
    assert len(filled) == int(holes.isna().sum().sum())
    columns = [list(holes.columns).index(f) for f in filled["feature"]]
    true = complete.to_numpy()[filled["obs_id"], columns]
    # the bulk's hidden cells (rows 14-74): the robust fit predicts them about as well as the bulk's own mean,
    # which knows which rows are outliers (its coordinates are nearly uncorrelated, so the other cells add
    # little), and far better than the column means, which the 14 planted outliers pull away
    bulk = filled["obs_id"].to_numpy() >= 14
    error = np.median(np.abs(filled["mean"].to_numpy() - true)[bulk])
    oracle = np.median(np.abs(complete.iloc[14:].mean().to_numpy()[columns][bulk] - true[bulk]))
    naive = np.median(np.abs(complete.mean().to_numpy()[columns][bulk] - true[bulk]))
    assert error < 1.1 * oracle and error < 0.5 * naive
