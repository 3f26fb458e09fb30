"""The scikit-learn estimators in pipelines, and their agreement with the functions they wrap."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import bayesmix as bm

QUICK = {"draws": 100, "tune": 100, "chains": 1, "random_state": 0}


@pytest.fixture(scope="module")
def pipeline(faithful):
    model = make_pipeline(
        StandardScaler(), bm.PosteriorGaussianMixture(2, draws=300, tune=300, chains=2, random_state=1)
    )
    return model.fit(faithful)


def test_estimator_in_a_pipeline_agrees_with_em_and_the_functions(pipeline, faithful):
    mixture = pipeline[-1]
    scaled = pipeline[0].transform(faithful)
    em_labels = bm.em(scaled, 2, random_seed=0)["responsibilities"].argmax("component").values
    assert adjusted_rand_score(pipeline.predict(faithful), em_labels) > 0.95
    # Thin: the estimator returns exactly what the functions return on its result.
    np.testing.assert_array_equal(
        pipeline.predict_proba(faithful), bm.predict_proba(mixture.result_, scaled)["probability"].values
    )
    np.testing.assert_allclose(
        pipeline.score(faithful), bm.score_samples(mixture.result_, scaled)["log_density"].mean()
    )
    assert mixture.weights_.shape == (2,) and mixture.means_.shape == (2, 2) and mixture.covariances_.shape == (2, 2, 2)
    np.testing.assert_allclose(mixture.weights_.sum(), 1.0)
    np.testing.assert_allclose(mixture.means_, mixture.result_["posterior"]["means"].mean(("chain", "draw")))
    assert "relabel" in mixture.result_.children
    assert list(pipeline.feature_names_in_) == ["eruptions", "waiting"]


def test_sample_and_clone(pipeline):
    mixture = pipeline[-1]
    X, labels = mixture.sample(500)
    assert X.shape == (500, 2) and set(np.unique(labels)) <= {0, 1}
    copy = clone(mixture)
    assert copy.get_params() == mixture.get_params() and not hasattr(copy, "result_")


def test_dp_estimator_puts_faithful_in_two_large_clusters(faithful):
    mixture = bm.DirichletProcessGaussianMixture(6, draws=200, tune=300, chains=1, random_state=2).fit(faithful)
    assert mixture.weights_.shape == (6,)
    # Components are in stick-breaking order (the largest first); the two largest are EM's two
    # clusters. The posterior also keeps a small third cluster between them (its cluster-count mode
    # is 3; about 9% of the weight under the DP's InverseGamma scale prior), which takes points that
    # EM's two-component fit gives to the short eruptions: the agreement is judged on the rest.
    assert np.argmax(mixture.weights_) == 0
    em = bm.em(faithful, 2, random_seed=0)
    em_means = em["means"].values[np.argsort(-em["weights"].values)]
    assert (np.abs(mixture.means_[:2] - em_means) < 0.5 * faithful.std().values).all()
    em_labels = em["responsibilities"].argmax("component").values
    labels = mixture.predict(faithful)
    in_two_largest = np.isin(labels, np.argsort(-mixture.weights_)[:2])
    assert in_two_largest.mean() > 0.85
    assert adjusted_rand_score(labels[in_two_largest], em_labels[in_two_largest]) > 0.9
    assert list(mixture.feature_names_in_) == ["eruptions", "waiting"]


def test_estimator_errors_name_the_argument(faithful):
    with pytest.raises(ValueError, match="Unknown covariance_type 'banana'"):
        bm.PosteriorGaussianMixture(2, covariance_type="banana", **QUICK).fit(faithful)
    with pytest.raises(ValueError, match="`n_samples` must be >= 1"):
        bm.PosteriorGaussianMixture(2, **QUICK).fit(faithful.iloc[:50]).sample(0)


def test_the_former_names_warn_and_still_work(faithful):
    """scikit-learn's spellings (covariance_type, random_state, n_components); the old ones for one release."""
    with pytest.warns(DeprecationWarning, match=r"bayesmix.BayesianGaussianMixture is deprecated.*PosteriorGaussian"):
        former_class = bm.BayesianGaussianMixture
    assert former_class is bm.PosteriorGaussianMixture
    short = {"draws": 50, "tune": 50, "chains": 1}
    former = bm.PosteriorGaussianMixture(2, covariance="diag", random_seed=0, **short)
    with pytest.warns(DeprecationWarning, match=r"`covariance` of PosteriorGaussianMixture.*`covariance_type`"):
        former.fit(faithful)
    current = bm.PosteriorGaussianMixture(2, covariance_type="diag", random_state=0, **short).fit(faithful)
    np.testing.assert_array_equal(former.means_, current.means_)
    assert former.result_.attrs["bayesmix_settings"] == current.result_.attrs["bayesmix_settings"]
    assert '"diag"' in current.result_.attrs["bayesmix_settings"]
    with pytest.warns(DeprecationWarning, match=r"`truncation` of DirichletProcessGaussianMixture.*`n_components`"):
        dp = bm.DirichletProcessGaussianMixture(truncation=4, random_state=0, **short).fit(faithful)
    assert dp.weights_.shape == (4,)
    # A RandomState gives one seed drawn from it, so the same state gives the same fit.
    seeded = [
        bm.PosteriorGaussianMixture(2, random_state=np.random.RandomState(3), **short).fit(faithful).means_
        for _ in range(2)
    ]
    np.testing.assert_array_equal(*seeded)
    with pytest.raises(ValueError, match=r"`random_state` must be None, an int or a numpy\.random\.RandomState"):
        bm.PosteriorGaussianMixture(2, random_state="seven", **short).fit(faithful)
    with pytest.raises(ValueError, match=r"`n_components` of DirichletProcessGaussianMixture is the truncation"):
        bm.DirichletProcessGaussianMixture(1, **short).fit(faithful)
