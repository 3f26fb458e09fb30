"""compare(): PSIS-LOO ranks the true K first, agrees with the in-sample lppd, and flags high Pareto k."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

import bayesmix as bm
from bayesmix.comparison import loo


@pytest.fixture(scope="module")
def two_clusters():
    rng = np.random.default_rng(3)
    labels = rng.choice(2, size=150, p=[0.4, 0.6])
    return np.array([[-2.5, 0.0], [2.5, 1.0]])[labels] + rng.normal(scale=0.7, size=(150, 2))


@pytest.fixture(scope="module")
def fits(two_clusters):
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for K in (1, 2):
            model = bm.models.gmm(two_clusters, K)
            init = bm.em(two_clusters, K, random_seed=0)
            results[f"K={K}"] = bm.fit(
                model, draws=300, tune=300, chains=2, init=init, random_seed=K, progressbar=False
            )
    return results


def test_the_true_number_of_components_wins(fits):
    table = bm.compare(fits)
    assert list(table.index) == ["K=2", "K=1"]
    assert list(table.columns[:7]) == ["rank", "elpd_loo", "se", "p_loo", "elpd_diff", "dse", "weight"]
    worse = table.loc["K=1"]
    assert worse["elpd_diff"] < -2 * worse["dse"] < 0
    assert table.loc["K=2", "elpd_diff"] == 0 and table["weight"].sum() == pytest.approx(1)
    assert (table["n_high_pareto_k"] == 0).all() and (table["max_pareto_k"] < 0.7).all()
    assert set(table["family"]) == {"mixture"} and set(table["method"]) == {"nuts"}


def test_elpd_loo_is_the_lppd_less_p_loo(fits):
    """PSIS-LOO's elpd plus p_loo is the in-sample log pointwise predictive density, computed here by hand."""
    table = bm.compare(fits)
    for name, result in fits.items():
        (log_lik,) = result["log_likelihood"].data_vars.values()
        log_lik = log_lik.stack(sample=("chain", "draw")).transpose("obs_id", "sample").values
        lppd = float(np.sum(logsumexp(log_lik, axis=1) - np.log(log_lik.shape[1])))
        row = table.loc[name]
        assert row["elpd_loo"] + row["p_loo"] == pytest.approx(lppd, abs=1e-6)
        # p_loo is a count of effective parameters: K=2, full covariance in 2-D has 11.
        assert 0 < row["p_loo"] < 2 * (5 * int(name[-1]) + int(name[-1]) - 1)


def test_loo_of_the_most_influential_point_is_what_refitting_without_it_gives(fits, two_clusters):
    """Exact leave-one-out for the point whose LOO matters most in each model: fit again without it and take
    the log predictive density there. PSIS-LOO must agree within Monte Carlo error (measured: 0.06 and 0.01),
    where the in-sample value is off by that point's p_loo (0.22 and 0.69), which the bound rules out."""
    elpd = loo(fits)
    for name, result in fits.items():
        pointwise = np.asarray(elpd[name].elpd_i).ravel()
        i = int(np.argmin(pointwise))
        log_lik = result["log_likelihood"]["X"].values[..., i].ravel()
        in_sample = float(logsumexp(log_lik) - np.log(log_lik.size))
        K = int(name[-1])
        refit = bm.fit(
            bm.models.gmm(np.delete(two_clusters, i, axis=0), K),
            draws=1000,
            tune=500,
            chains=2,
            random_seed=10 + i,
            progressbar=False,
        )
        exact = float(bm.score_samples(refit, two_clusters[i : i + 1])["log_density"].values[0])
        assert abs(pointwise[i] - exact) < 0.12, (name, pointwise[i], exact)
        assert in_sample - pointwise[i] > 0.2, (name, in_sample, pointwise[i])  # the check discriminates


def test_high_pareto_k_is_counted_and_named(fits):
    """An observation whose likelihood swings wildly between draws makes importance sampling fail for it."""
    noisy = fits["K=2"].copy()
    (name,) = noisy["log_likelihood"].data_vars
    log_lik = noisy["log_likelihood"][name].copy()
    rng = np.random.default_rng(0)
    log_lik[..., :3] = log_lik[..., :3] + rng.normal(scale=4.0, size=log_lik[..., :3].shape)
    noisy["log_likelihood"][name] = log_lik
    with pytest.warns(bm.LOOWarning, match=r"Pareto k > 0.7 in 'noisy' \(3 of 150\)"):
        table = bm.compare({"noisy": noisy, "K=1": fits["K=1"]})
    assert table.loc["noisy", "n_high_pareto_k"] == 3 and table.loc["noisy", "max_pareto_k"] > 0.7
    assert table.loc["K=1", "n_high_pareto_k"] == 0


def test_results_of_other_data_are_refused(fits, two_clusters):
    other = bm.fit(bm.models.gmm(two_clusters[:100], 1), draws=50, tune=50, chains=1, random_seed=0, progressbar=False)
    with pytest.raises(ValueError, match="'other' was fitted to other observations than 'K=1'"):
        bm.compare({"K=1": fits["K=1"], "other": other})


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ({}, "at least two fit results"),
        ([1, 2], "at least two fit results"),
        ({"a": "not a result", "b": "x"}, r"results\['a'\]"),
    ],
)
def test_bad_results_are_refused(argument, message):
    with pytest.raises((TypeError, ValueError), match=message):
        bm.compare(argument)


def test_bad_method_is_refused(fits):
    with pytest.raises(ValueError, match="Argument `method` must be one of"):
        bm.compare(fits, method="bic")


def test_discrete_and_continuous_families_are_not_compared():
    """A Poisson's elpd is a log probability, a Gaussian's a log density: not comparable on the same counts."""
    counts = bm.datasets.load("biochemists")[["art"]].iloc[:120]
    options = {"draws": 50, "tune": 50, "chains": 2, "random_seed": 0, "progressbar": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = {
            component: bm.fit(bm.models.mixture(counts, 1, component=component), **options)
            for component in ("poisson", "negative_binomial", "gaussian")
        }
    with pytest.raises(
        ValueError, match=r"mixes discrete component families \('negative_binomial', 'poisson'.*\('gaussian'"
    ):
        bm.compare(fitted)
    table = bm.compare({k: fitted[k] for k in ("poisson", "negative_binomial")})
    assert set(table.index) == {"poisson", "negative_binomial"}
