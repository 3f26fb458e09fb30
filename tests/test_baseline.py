import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

import bayesmix as bm
from bayesmix.baseline.gaussian import DegenerateSolutionWarning


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical", "tied"])
def test_em_agrees_with_scikit_learn(faithful, covariance):
    X = faithful.to_numpy()
    ours = bm.em(faithful, 3, covariance=covariance, n_init=1, random_seed=7)
    theirs = GaussianMixture(3, covariance_type=covariance, tol=1e-6, max_iter=2000, random_state=7).fit(X)
    order = np.argsort(theirs.means_[:, 0])
    np.testing.assert_allclose(ours["weights"], theirs.weights_[order], rtol=1e-10)
    np.testing.assert_allclose(ours["means"], theirs.means_[order], rtol=1e-10)
    np.testing.assert_allclose(ours["responsibilities"], theirs.predict_proba(X)[:, order], atol=1e-10)
    assert ours["log_likelihood"].item() == pytest.approx(theirs.score(X) * len(X), rel=1e-12)
    assert ours["bic"].item() == pytest.approx(theirs.bic(X), rel=1e-12)
    assert ours["aic"].item() == pytest.approx(theirs.aic(X), rel=1e-12)
    if covariance == "full":
        np.testing.assert_allclose(ours["covariances"], theirs.covariances_[order], rtol=1e-10)


def test_em_names_and_dims_match_the_posterior(faithful_em):
    assert faithful_em["weights"].dims == ("component",)
    assert faithful_em["means"].dims == ("component", "feature")
    assert faithful_em["covariances"].dims == ("component", "feature", "feature_bis")
    assert faithful_em["responsibilities"].dims == ("obs_id", "component")
    assert list(faithful_em["feature"].values) == ["eruptions", "waiting"]
    assert faithful_em["n_parameters"].item() == 11


def test_icl_penalizes_entropy(faithful_em):
    r = faithful_em["responsibilities"].values
    expected = faithful_em["bic"].item() - 2 * np.log(r.max(axis=1)).sum()
    assert faithful_em["icl"].item() == pytest.approx(expected)
    assert faithful_em["icl"] >= faithful_em["bic"]


def test_em_table_reproduces_mclust_on_faithful(faithful):
    table = bm.em_table(faithful)
    assert len(table) == 24
    assert table.attrs["best"] == {"covariance": "tied", "n_components": 3}
    best = table[table["best"]].iloc[0]
    # mclust 6.1.3 (EEE, G=3): logL = -1126.326, df = 11, BIC = -2314.316 in mclust's sign.
    assert best["log_likelihood"] == pytest.approx(-1126.326, abs=0.05)
    assert best["n_parameters"] == 11
    assert best["bic"] == pytest.approx(2314.316, abs=0.1)


def test_variance_collapse_is_flagged_not_returned(faithful):
    """diag K=5 has a start that collapses onto faithful's integer waiting times."""
    with pytest.warns(DegenerateSolutionWarning, match=r"component \d collapsed"):
        result = bm.em(faithful, 5, covariance="diag", random_seed=0)
    assert not result["degenerate"].any()


def test_only_degenerate_solutions_are_marked():
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 20, axis=0)
    X[:20] += np.random.default_rng(0).normal(size=(20, 2))
    with pytest.warns(DegenerateSolutionWarning, match="only degenerate"):
        result = bm.em(X, 2, covariance="full", random_seed=0)
    assert result["degenerate"].values.tolist() == [False, True]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_components": 300}, ValueError, "Expected n_samples >= n_components"),
        ({"covariance": "banded"}, ValueError, "Unknown covariance"),
        ({"n_init": 0}, ValueError, "`n_init` must be >= 1"),
        ({"reg_covar": -1.0}, ValueError, "`reg_covar` must be a number >= 0"),
    ],
)
def test_em_bad_arguments(faithful, kwargs, error, message):
    with pytest.raises(error, match=message), warnings.catch_warnings():
        bm.em(faithful, **({"n_components": 2} | kwargs))
