"""Degenerate data: constant features, duplicated points, integer ties, wildly different scales.

Fits must finish with finite values, EM must flag variance collapse, the
posterior must stay proper (the variance floor keeps components off zero
variance) and what was done must be said.
"""

import warnings

import numpy as np
import pytest

import bayesmix as bm
from tests.model_graph import GRAPH_CHECK_MODE

SHORT = dict(draws=300, tune=300, chains=2, progressbar=False)


def _fit_quietly(model, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        return bm.fit(model, **SHORT, **kwargs)


def test_constant_feature_is_regularized_and_said(faithful):
    X = faithful.assign(const=3.0)
    with pytest.warns(bm.DegenerateDataWarning, match=r"'const' \(always 3\).*reg_covar"):
        em = bm.em(X, 2, covariance="diag", random_seed=0)
    assert not em["degenerate"].any()  # a constant feature is not a collapsed component
    with pytest.warns(bm.DegenerateDataWarning, match=r"'const' \(always 3\).*floor of 1e-06.*stays proper"):
        model = bm.models.gmm(X, 2, covariance="diag")
    result = bm.relabel(_fit_quietly(model, init=em, random_seed=1), reference=em)
    posterior = result["posterior"]
    assert all(np.isfinite(posterior[v]).all() for v in ("weights", "means", "covariances"))
    assert int(result["sample_stats"]["diverging"].sum()) == 0
    variance = posterior["covariances"].sel(feature="const", feature_bis="const")
    assert float(variance.min()) >= 1e-6  # the floor
    assert float(variance.max()) < 1e-4  # and the data pull it down to the floor
    # The informative features are fitted as without the constant one.
    means = posterior["means"].sel(feature=["eruptions", "waiting"])
    em_means = em["means"].sel(feature=["eruptions", "waiting"])
    assert (abs(means.mean(("chain", "draw")) - em_means) < 4 * means.std(("chain", "draw"))).all()


def test_zero_reg_covar_with_a_constant_feature_is_refused(faithful):
    with pytest.raises(ValueError, match="`reg_covar` is 0 but the data have a constant feature"):
        bm.em(faithful.assign(const=1.0), 2, reg_covar=0.0)


def test_exact_duplicates_collapse_em_but_the_posterior_stays_proper():
    """Twenty identical points: EM collapses onto them; the posterior rests on the floor."""
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 20, axis=0)
    X[:20] += np.random.default_rng(0).normal(size=(20, 2))
    with pytest.warns(bm.DegenerateSolutionWarning, match="only degenerate"):
        em = bm.em(X, 2, random_seed=0)
    result = bm.relabel(_fit_quietly(bm.models.gmm(X, 2), init=em, random_seed=2), reference=em)
    variances = result["posterior"]["covariances"].values.diagonal(axis1=-2, axis2=-1)  # chain, draw, k, d
    assert np.isfinite(variances).all()
    floor = 1e-6 * X.var(axis=0)
    assert (variances >= floor * (1 - 1e-9)).all()
    spike, spread = variances[:, :, 1], variances[:, :, 0]
    assert spike.max() < 1e3 * floor.max()  # the duplicates' component sits near the floor
    assert 0.3 < spread.mean() < 3.0  # the other still describes the unit-variance cluster


def test_duplicated_integer_valued_data_fit_like_the_original(faithful):
    """faithful twice over: every point duplicated, waiting times integer-valued with many ties."""
    doubled = np.vstack([faithful.to_numpy(), faithful.to_numpy()])
    em = bm.em(doubled, 2, random_seed=0)
    assert not em["degenerate"].any()
    result = bm.relabel(_fit_quietly(bm.models.gmm(doubled, 2), init=em, random_seed=3), reference=em)
    diag = bm.diagnose(result, baseline=em)
    assert diag.baseline["em_in_hdi"].all(), diag.verdict
    sd_waiting = np.sqrt(result["posterior"]["covariances"].sel(feature="x1", feature_bis="x1"))
    assert float(sd_waiting.min()) > 3.0  # no component collapses onto tied waiting times (sd ~ 6 min)


def test_features_on_scales_1e6_and_1e_minus_3(faithful):
    scale = np.array([1e-3, 1e6])
    X = faithful * scale
    em_raw = bm.em(faithful, 2, random_seed=0)
    em = bm.em(X, 2, random_seed=0)
    result = bm.relabel(_fit_quietly(bm.models.gmm(X, 2), init=em, random_seed=4), reference=em)
    assert int(result["sample_stats"]["diverging"].sum()) == 0
    means = result["posterior"]["means"] / scale
    # Equivariance: back in the original units the posterior sits on the unscaled EM solution.
    z = (means.mean(("chain", "draw")) - em_raw["means"].values) / means.std(("chain", "draw"))
    assert float(abs(z).max()) < 4
    sd = np.sqrt(result["posterior"]["covariances"].values.diagonal(axis1=-2, axis2=-1)) / scale
    em_sd = np.sqrt(em_raw["covariances"].values.diagonal(axis1=-2, axis2=-1))
    np.testing.assert_allclose(sd.mean(axis=(0, 1)), em_sd, rtol=0.15)


# One covariance type per code path of the floor: refactorized Cholesky (full, as tied) and elementwise.
@pytest.mark.parametrize("covariance", ["full", "spherical"])
def test_floored_model_log_density_matches_scipy(faithful, covariance):
    """With the floor active (a constant feature), PyMC's log-density is the mixture scipy computes."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    X = faithful.assign(const=2.5)
    with pytest.warns(bm.DegenerateDataWarning):
        model = bm.models.gmm(X, 2, covariance=covariance)
    point = model.initial_point(random_seed=0)
    # The parameters as functions of the value variables (the RVs themselves would be random draws).
    parameters = model.replace_rvs_by_values([model["weights"], model["means"], model["covariances"]])
    evaluate = model.compile_fn(
        [model.logp(vars=[model["X"]]), *parameters],
        inputs=model.value_vars,
        on_unused_input="ignore",
        point_fn=False,
        mode=GRAPH_CHECK_MODE,
    )
    logp, weights, means, covariances = evaluate(*(point[v.name] for v in model.value_vars))
    assert (covariances[:, 2, 2] >= 1e-6).all()  # the constant feature's variance rests on the floor
    expected = logsumexp(
        [
            np.log(w) + multivariate_normal(m, c).logpdf(X.to_numpy())
            for w, m, c in zip(weights, means, covariances, strict=True)
        ],
        axis=0,
    ).sum()
    np.testing.assert_allclose(logp, expected, rtol=1e-9)
