"""Memberships, densities, anomaly scores and samples for new data."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.metrics import adjusted_rand_score

import bayesmix as bm
from bayesmix._result import flatten_draws

TRUE_WEIGHTS = np.array([0.3, 0.3, 0.4])
TRUE_MEANS = np.array([[-2.0, 0.0], [0.0, 2.0], [2.0, -1.0]])
TRUE_COVARIANCES = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.6, 0.0], [0.0, 1.5]], [[1.0, -0.4], [-0.4, 0.8]]])


def _draw_true_mixture(rng, n):
    labels = rng.choice(3, size=n, p=TRUE_WEIGHTS)
    chol = np.linalg.cholesky(TRUE_COVARIANCES)
    return TRUE_MEANS[labels] + np.einsum("nij,nj->ni", chol[labels], rng.standard_normal((n, 2)))


def _true_joint_log_density(X):
    return np.stack(
        [
            np.log(w) + multivariate_normal(m, c).logpdf(X)
            for w, m, c in zip(TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVARIANCES, strict=True)
        ],
        axis=-1,
    )


@pytest.fixture(scope="module")
def known_mixture_fit():
    """5000 points from the known mixture: enough that the predictive density is within 0.05 nats of the truth."""
    rng = np.random.default_rng(7)
    X = _draw_true_mixture(rng, 5000)
    baseline = bm.em(X, 3, random_seed=0)
    result = bm.fit(bm.models.gmm(X, 3), init=baseline, draws=500, tune=500, chains=2, random_seed=0, progressbar=False)
    return bm.relabel(result, reference=baseline), baseline, _draw_true_mixture(rng, 1000)


@pytest.fixture(scope="module")
def small_fit(faithful):
    model = bm.models.gmm(faithful, 2)
    result = bm.fit(
        model, init=bm.em(faithful, 2, random_seed=0), draws=100, tune=200, chains=2, random_seed=5, progressbar=False
    )
    return bm.relabel(result)


def test_membership_probabilities_match_the_true_mixture(known_mixture_fit):
    result, baseline, X_new = known_mixture_fit
    joint = _true_joint_log_density(X_new)
    true_proba = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    # Relabelled components follow the EM baseline; match them to the true components by their means.
    order = [int(np.argmin(((baseline["means"].values - m) ** 2).sum(1))) for m in TRUE_MEANS]
    assert sorted(order) == [0, 1, 2]
    proba = bm.predict_proba(result, X_new)
    assert proba["probability"].dims == ("obs_id", "component")
    np.testing.assert_allclose(proba["probability"].sum("component"), 1.0, rtol=1e-12)
    assert np.abs(proba["probability"].values[:, order] - true_proba).mean() < 0.05
    lower = proba["probability_hdi"].sel(ci_bound="lower")
    upper = proba["probability_hdi"].sel(ci_bound="upper")
    assert (lower <= proba["probability"] + 1e-12).all() and (proba["probability"] <= upper + 1e-12).all()


def test_predictive_log_density_matches_the_true_mixture(known_mixture_fit):
    result, _, X_new = known_mixture_fit
    true_log_density = logsumexp(_true_joint_log_density(X_new), axis=1)
    score = bm.score_samples(result, X_new)
    assert np.abs(score["log_density"].values - true_log_density).mean() < 0.05
    hdi = score["log_density_hdi"]
    assert (hdi.sel(ci_bound="lower") < hdi.sel(ci_bound="upper")).all()


def test_predict_is_the_modal_component(known_mixture_fit):
    result, _, X_new = known_mixture_fit
    proba = bm.predict_proba(result, X_new[:50])["probability"].values
    hard = bm.predict(result, X_new[:50])
    np.testing.assert_array_equal(hard["component"].values, proba.argmax(1))
    np.testing.assert_allclose(hard["probability"].values, proba.max(1))


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical", "tied"])
def test_score_samples_is_the_draw_averaged_scipy_density(faithful, covariance):
    """An independent computation: scipy's density at every draw, averaged on the density scale."""
    result = bm.fit(
        bm.models.gmm(faithful, 2, covariance=covariance),
        draws=30,
        tune=100,
        chains=1,
        random_seed=2,
        progressbar=False,
    )
    X_new = np.array([[2.0, 55.0], [4.5, 80.0], [3.3, 70.0]])
    posterior = result["posterior"]
    w, mu, cov = (flatten_draws(posterior[v]) for v in ("weights", "means", "covariances"))
    per_draw = np.array(
        [
            logsumexp([np.log(w[s, k]) + multivariate_normal(mu[s, k], cov[s, k]).logpdf(X_new) for k in range(2)], 0)
            for s in range(w.shape[0])
        ]
    )
    expected = logsumexp(per_draw, axis=0) - np.log(w.shape[0])
    np.testing.assert_allclose(bm.score_samples(result, X_new)["log_density"].values, expected, rtol=1e-10)
    np.testing.assert_allclose(bm.predict_proba(result, X_new)["probability"].sum("component"), 1.0)


def test_anomaly_scores_rank_injected_points_below_every_original(faithful):
    injected = pd.DataFrame({"eruptions": [1.0, 6.5, 3.5, 7.5, 0.5], "waiting": [110.0, 40.0, 20.0, 100.0, 70.0]})
    data = pd.concat([faithful, injected], ignore_index=True)
    is_injected = np.arange(len(data)) >= len(faithful)
    baseline = bm.em(data, 2, random_seed=0)
    result = bm.fit(
        bm.models.gmm(data, 2), init=baseline, draws=300, tune=300, chains=2, random_seed=3, progressbar=False
    )
    for scores in (bm.anomaly_scores(result), bm.anomaly_scores(result, data)):
        assert scores["log_density"].values[is_injected].max() < scores["log_density"].values[~is_injected].min()
        assert sorted(scores["rank"].values[is_injected]) == [1, 2, 3, 4, 5]
    # The default threshold, the 1% quantile of the training LOO densities, flags 1% of the
    # training points (2 of 277); 5 injected points are 1.8%, so a 5% quantile flags them all.
    assert bm.anomaly_scores(result).attrs["n_anomalies"] == int(np.ceil(0.01 * len(data)))
    wider = bm.anomaly_scores(result, data, quantile=0.05)
    assert wider["is_anomaly"].values[is_injected].all()
    assert wider.attrs["n_anomalies"] <= np.ceil(0.05 * len(data))
    custom = bm.anomaly_scores(result, injected, threshold=-1e9)
    assert custom.attrs["threshold_source"] == "given" and not custom["is_anomaly"].any()


def test_sample_matches_the_moments_of_the_fitted_mixture(small_fit):
    n = 200_000
    draws = bm.sample(small_fit, n, random_seed=11)
    X = draws["X"].values
    assert X.shape == (n, 2) and list(draws["feature"].values) == ["eruptions", "waiting"]
    posterior = small_fit["posterior"]
    w, mu, cov = (flatten_draws(posterior[v]) for v in ("weights", "means", "covariances"))
    mean = np.einsum("sk,skd->d", w, mu) / w.shape[0]
    second = np.einsum("sk,skde->de", w, cov + mu[..., :, None] * mu[..., None, :]) / w.shape[0]
    covariance = second - np.outer(mean, mean)
    mean_se = X.std(0) / np.sqrt(n)
    assert (np.abs(X.mean(0) - mean) < 4 * mean_se).all()
    centered = X - X.mean(0)
    products = centered[:, :, None] * centered[:, None, :]
    cov_se = products.std(0) / np.sqrt(n)
    assert (np.abs(products.mean(0) - covariance) < 4 * cov_se).all()
    # Component labels follow the relabelled weights.
    frequency = np.bincount(draws["component"].values, minlength=2) / n
    weight_se = np.sqrt(frequency * (1 - frequency) / n)
    assert (np.abs(frequency - posterior["weights"].mean(("chain", "draw")).values) < 4 * weight_se).all()
    np.testing.assert_array_equal(
        bm.sample(small_fit, 5, random_seed=1)["X"], bm.sample(small_fit, 5, random_seed=1)["X"]
    )


def test_dataframe_columns_are_matched_by_name(small_fit, faithful):
    shuffled = faithful[["waiting", "eruptions"]].iloc[:10]
    np.testing.assert_allclose(
        bm.score_samples(small_fit, shuffled)["log_density"],
        bm.score_samples(small_fit, faithful.iloc[:10])["log_density"],
    )
    np.testing.assert_allclose(
        bm.score_samples(small_fit, faithful.iloc[:10].to_numpy())["log_density"],
        bm.score_samples(small_fit, faithful.iloc[:10])["log_density"],
    )


def test_unrelabelled_results_are_relabelled_against_the_pivot(faithful_fit):
    proba = bm.predict_proba(faithful_fit, np.array([[2.0, 55.0], [4.5, 80.0]]), max_draws=200)
    assert "pivot" in proba.attrs["labels"]
    # After relabelling every draw puts the two points in different components with confidence.
    assert (proba["probability"].max("component") > 0.99).all()
    assert proba["probability"].argmax("component").values[0] != proba["probability"].argmax("component").values[1]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: bm.predict_proba(r, np.ones((3, 3))), "has 3 features, but the model was fitted on 2"),
        (lambda r: bm.predict_proba(r, pd.DataFrame({"a": [1.0], "waiting": [2.0]})), r"missing \['eruptions'\]"),
        (
            lambda r: bm.score_samples(r, np.array([[1.0, np.nan]])),
            r"NaN or infinite values in 1 row\(s\) \(positions 0\)",
        ),
        (lambda r: bm.score_samples(r, np.ones((2, 2, 2))), "must be 1-D or 2-D"),
        (lambda r: bm.score_samples(r, np.ones((2, 2)), ci_prob=1.5), "`ci_prob` must be a probability"),
        (lambda r: bm.predict(r, np.ones((2, 2)), max_draws=0), "`max_draws` must be >= 1"),
        (lambda r: bm.anomaly_scores(r, quantile=0), "`quantile` must be a probability"),
        (lambda r: bm.anomaly_scores(r, threshold=np.nan), "`threshold` must be a finite"),
        (lambda r: bm.sample(r, 0), "`n` must be >= 1"),
        (lambda r: bm.sample(r.posterior.to_dataset(), 3), "must be an xarray.DataTree"),
    ],
)
def test_bad_input_is_named(small_fit, call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(small_fit)


def test_dirichlet_process_results_are_supported(faithful):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.TruncationWarning)
        result = bm.fit(
            bm.models.dp_gmm(faithful, truncation=4), draws=100, tune=200, chains=1, random_seed=0, progressbar=False
        )
    proba = bm.predict_proba(result, faithful.iloc[:20])
    assert proba.sizes["component"] == 4
    np.testing.assert_allclose(proba["probability"].sum("component"), 1.0)
    # The DP's answers are a mixture's: faithful's two clusters (small extra ones split off a few points;
    # measured ARI 0.91 against EM's K = 2), a predictive density a little above EM's K = 2 in sample
    # (measured -4.09 against -4.16 per point), and draws centred on the data.
    em = bm.em(faithful, 2, random_seed=0)
    modal = bm.predict(result, faithful)["component"].values
    assert adjusted_rand_score(modal, em["responsibilities"].argmax("component").values) > 0.85
    per_point = float(em["log_likelihood"]) / len(faithful)
    assert per_point - 0.05 < float(bm.score_samples(result, faithful)["log_density"].mean()) < per_point + 0.15
    draws = bm.sample(result, 4000, random_seed=0)
    assert draws["component"].max() < 4
    standard_error = faithful.std().values / np.sqrt(4000)
    assert (np.abs(draws["X"].values.mean(axis=0) - faithful.mean().values) < 4 * standard_error).all()
