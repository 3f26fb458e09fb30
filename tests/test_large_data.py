"""Large data without large memory, checked on small data with the limits lowered: the pointwise
log-likelihood on demand (a fit stores it only while it is small, and everything that needs it gives the
same answers without it), subsampled PSIS-LOO (Magnusson et al. 2019; equal to arviz-stats' loo_subsample
on the same rows, and to exact PSIS-LOO within its error), predictions a chunk of rows at a time, and a
report that draws densities instead of a million points. The sizes themselves: benchmarks/large_data.py."""

from __future__ import annotations

import functools
import warnings

import arviz_stats as azs
import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

import bayesmix as bm
from bayesmix import _log_likelihood, comparison
from bayesmix._log_likelihood import (
    log_likelihood_dataset,
    log_mean_likelihood,
    pointwise_values,
    stores_log_likelihood,
    total_log_likelihood,
)
from bayesmix._result import family_of, mixture_parameters
from bayesmix.components._mixture_density import mean_over_draws, membership_probabilities
from bayesmix.models._base import get_info


def without_log_likelihood(result: xr.DataTree) -> xr.DataTree:
    bare = result.copy()
    del bare["log_likelihood"]
    return bare


@pytest.fixture(scope="module")
def bare_fit(faithful_fit):
    return without_log_likelihood(faithful_fit)


def prior_draws(model: pm.Model, draws: int = 12) -> xr.Dataset:
    """Draws from the prior, shaped as a posterior (one chain), to evaluate likelihoods without sampling."""
    names = [v.name for v in model.free_RVs + model.deterministics]  # not the observed: no data are drawn
    with model:
        prior = pm.sample_prior_predictive(draws=draws, var_names=names, random_seed=5)
    return prior["prior"].to_dataset()


def counts(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.poisson(3, n), "b": rng.poisson(8, n)})


def regression_data(n: int = 40) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, n)
    return pd.DataFrame({"x": x}), pd.Series(np.where(rng.random(n) < 0.5, 1 + x, -1 - 2 * x) + rng.normal(0, 0.3, n))


MODELS = {
    "gaussian (kernel)": lambda: bm.models.gmm(bm.datasets.load("faithful").iloc[:40], 2),
    "poisson": lambda: bm.models.mixture(counts(), 2, component="poisson"),
    "dp student_t": lambda: bm.models.dp_mixture(
        bm.datasets.load("faithful").iloc[:40], truncation=5, component="student_t"
    ),
    "mixreg": lambda: bm.models.mixreg(*regression_data(), 2),
    "mdn": lambda: bm.models.mdn(*regression_data(), n_components=2, hidden=(4,)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_rows_and_chunks_give_the_full_arrays_columns(name, monkeypatch):
    """Any subset of rows, thinned draws and the row-chunked totals are the full array's columns, rows and
    sums, for each way a likelihood is computed (the kernel, a family's numpy density, y given x)."""
    model = MODELS[name]()
    info = get_info(model)
    posterior = prior_draws(model)
    full = pointwise_values(info, posterior)
    assert full.shape == (12, info.data.n_obs) and np.isfinite(full).all()
    rows = np.array([3, 0, 17, 39])
    np.testing.assert_allclose(pointwise_values(info, posterior, rows), full[:, rows], rtol=1e-12)

    result = xr.DataTree.from_dict({"posterior": posterior})
    monkeypatch.setattr(_log_likelihood, "model_info_of", lambda _: info)
    monkeypatch.setattr(_log_likelihood, "CHUNK_ELEMENTS", 12 * 7)  # seven rows a chunk: six chunks
    np.testing.assert_allclose(total_log_likelihood(result).values.ravel(), full.sum(1), rtol=1e-12)
    expected = np.log(np.exp(full).mean(0))
    np.testing.assert_allclose(log_mean_likelihood(result), expected, rtol=1e-12)
    np.testing.assert_allclose(log_mean_likelihood(result, max_draws=4), np.log(np.exp(full[::3]).mean(0)), rtol=1e-12)


def test_a_fit_stores_the_pointwise_group_while_it_is_small():
    assert stores_log_likelihood(None, 4000, 12_500) and not stores_log_likelihood(None, 4000, 12_501)
    assert stores_log_likelihood(True, 4000, 10**6) and not stores_log_likelihood(False, 10, 10)


def test_fit_leaves_the_group_out_above_the_limit_unless_asked(faithful, monkeypatch):
    monkeypatch.setattr(_log_likelihood, "STORE_LIMIT", 100)
    model = bm.models.gmm(faithful, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = bm.fit(model, draws=30, tune=30, chains=1, random_seed=0, progressbar=False)
        asked = bm.fit(model, draws=30, tune=30, chains=1, random_seed=0, progressbar=False, log_likelihood=True)
    assert "log_likelihood" not in default.children and "log_likelihood" in asked.children
    xr.testing.assert_equal(default["posterior"].to_dataset(), asked["posterior"].to_dataset())
    computed = log_likelihood_dataset(default["posterior"].to_dataset(), get_info(model))["X"]
    np.testing.assert_allclose(computed.values, asked["log_likelihood"]["X"].values, rtol=1e-12)
    with pytest.raises(TypeError, match="`log_likelihood` must be True, False or None"):
        bm.fit(model, draws=30, log_likelihood="yes")


def test_diagnose_relabel_and_compare_agree_without_the_stored_group(faithful_fit, bare_fit):
    np.testing.assert_allclose(
        total_log_likelihood(bare_fit).values, faithful_fit["log_likelihood"]["X"].sum("obs_id").values, rtol=1e-10
    )
    stored, bare = bm.diagnose(faithful_fit), bm.diagnose(bare_fit)
    pd.testing.assert_frame_equal(stored.convergence, bare.convergence)
    assert stored.log_likelihood == pytest.approx(bare.log_likelihood, rel=1e-10)
    relabelled = [bm.relabel(r)["posterior"].to_dataset() for r in (bare_fit, faithful_fit)]
    xr.testing.assert_allclose(*relabelled)
    exact = azs.loo(faithful_fit, pointwise=True)
    (ours,) = comparison.loo({"fit": bare_fit}).values()  # small: exact, computed in memory
    assert ours.elpd == pytest.approx(exact.elpd, rel=1e-12) and ours.p == pytest.approx(exact.p, rel=1e-10)


def test_subsampled_loo_is_arviz_stats_loo_subsample_on_the_same_rows(faithful_fit, bare_fit, monkeypatch):
    """With the approximation over every draw, our subsampled estimate, computed without the stored array,
    is arviz-stats' loo_subsample given the array and our rows: elpd, its two standard errors, p_loo and
    the pointwise values."""
    monkeypatch.setattr(comparison, "APPROXIMATION_DRAWS", None)
    (ours,) = comparison.loo({"fit": bare_fit}, subsample=60).values()
    rows = ours.loo_subsample_observations
    assert rows.size == 60 and np.unique(rows).size == 60
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = azs.loo_subsample(faithful_fit, observations=rows, pointwise=True)
    for field in ("elpd", "se", "p", "subsampling_se"):
        assert getattr(ours, field) == pytest.approx(getattr(theirs, field), rel=1e-10), field
    np.testing.assert_allclose(ours.elpd_i.values, theirs.elpd_i.values, rtol=1e-10)
    np.testing.assert_allclose(ours.pareto_k.values, theirs.pareto_k.values, rtol=1e-10)


def test_subsampled_loo_estimates_the_exact_one_within_its_subsampling_error(faithful_fit, bare_fit):
    exact = azs.loo(faithful_fit)
    (subsampled,) = comparison.loo({"fit": bare_fit}, subsample=100).values()
    assert 0 < subsampled.subsampling_se < 0.5 * subsampled.se
    assert abs(subsampled.elpd - exact.elpd) < 3 * subsampled.subsampling_se
    # The thinned approximation (1,000 of the 4,000 draws) is close to the exact log predictive density.
    lpd_all = log_mean_likelihood(faithful_fit)
    np.testing.assert_allclose(subsampled.elpd_loo_approx.values, lpd_all, atol=0.02)


def test_compare_marks_subsampled_candidates_and_weighs_them_on_their_rows(faithful, faithful_fit, bare_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = bm.fit(bm.models.gmm(faithful, 1), draws=500, tune=500, chains=2, random_seed=0, progressbar=False)
    exact = bm.compare({"K=2": faithful_fit, "K=1": one})
    sub = bm.compare({"K=2": bare_fit, "K=1": without_log_likelihood(one)}, subsample=100)
    assert list(sub.index) == list(exact.index) == ["K=2", "K=1"]
    assert (sub["loo_rows"] == 100).all() and (exact["loo_rows"] == len(faithful)).all()
    assert (exact["subsampling_dse"] == 0).all() and sub.loc["K=1", "subsampling_dse"] > 0
    diff, dse = sub.loc["K=1", "elpd_diff"], sub.loc["K=1", "dse"]
    assert abs(diff - exact.loc["K=1", "elpd_diff"]) < 3 * sub.loc["K=1", "subsampling_dse"] and diff < -2 * dse
    # arviz-stats' weights on the NaN-padded arrays are 0.5 each; ours come from the shared rows.
    assert sub["weight"].sum() == pytest.approx(1) and sub.loc["K=2", "weight"] > 0.9
    with pytest.raises(ValueError, match="`subsample` must be True, False, None or a number of rows"):
        bm.compare({"K=2": bare_fit, "K=1": one}, subsample=1)


def test_training_anomaly_scores_need_no_stored_group(faithful_fit, bare_fit, monkeypatch):
    """The training rows' PSIS-LOO densities, computed in chunks of rows (here 9 chunks) from the posterior,
    are those of arviz-stats' loo on the stored array."""
    monkeypatch.setattr(_log_likelihood, "CHUNK_ELEMENTS", 4000 * 31)
    stored, bare = bm.anomaly_scores(faithful_fit), bm.anomaly_scores(bare_fit)
    np.testing.assert_allclose(bare["log_density"].values, stored["log_density"].values, rtol=1e-10)
    assert bare.attrs == stored.attrs


def test_predictions_of_many_rows_are_computed_a_chunk_of_rows_at_a_time(faithful, faithful_fit, monkeypatch):
    whole = bm.predict_proba(faithful_fit, faithful), bm.score_samples(faithful_fit, faithful)
    monkeypatch.setattr(_log_likelihood, "CHUNK_ELEMENTS", 1000 * 2 * 50)  # 50 rows at a time: 6 chunks
    chunked = bm.predict_proba(faithful_fit, faithful), bm.score_samples(faithful_fit, faithful)
    for a, b in zip(whole, chunked, strict=True):
        xr.testing.assert_allclose(a, b, rtol=1e-12)
    family = family_of(faithful_fit)
    params = mixture_parameters(faithful_fit["posterior"].to_dataset(), family)
    func = functools.partial(membership_probabilities, family)
    expected = func(faithful.values, *params).mean(0)
    np.testing.assert_allclose(mean_over_draws(func, faithful.values, *params, max_elements=272 * 2 * 2 * 7), expected)


def test_the_report_draws_a_density_above_its_point_limit_and_the_em_table_on_a_sample(faithful, monkeypatch):
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection, PolyCollection

    from bayesmix.cli import report

    x, y = faithful.values.T
    fig, (few, many) = plt.subplots(1, 2)
    report._points(few, x, y, s=5, color="0.6")
    monkeypatch.setattr(report, "MAX_SCATTER_POINTS", 100)
    report._points(many, x, y, s=5, color="0.6")
    assert [type(c) for c in few.collections] == [PathCollection]
    assert [type(c) for c in many.collections] == [PolyCollection]  # hexagonal bins
    plt.close(fig)
    monkeypatch.setattr(report, "EM_TABLE_ROWS", 200)
    section = report._em_table_section(faithful, {"n_components": [1, 2], "covariance": ["full"]}, seed=0)
    assert "On 200 of the 272 rows, drawn at random." in section


def test_the_em_start_of_many_rows_runs_on_a_random_sample_of_them(faithful, monkeypatch):
    from bayesmix.inference import fitting

    seen = []
    family = get_info(bm.models.gmm(faithful, 2)).component_family
    original = type(family).em

    def spy(self, data, *args, **kwargs):
        seen.append(data.values)
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(type(family), "em", spy)
    monkeypatch.setattr(fitting, "START_ROWS", 150)
    solution, source = fitting._start(get_info(bm.models.gmm(faithful, 2)), "auto", 3)
    assert source == "em" and seen[-1].shape == (150, 2)
    rows = (seen[-1][:, None, :] == faithful.values[None]).all(-1).any(1)
    assert rows.all() and len(np.unique(seen[-1], axis=0)) > 140  # rows of the data, drawn without replacement
    full = bm.em(faithful, 2, random_seed=0)
    order = np.argsort(solution["means"].values[:, 0])
    np.testing.assert_allclose(
        solution["means"].values[order], full["means"].values[np.argsort(full["means"].values[:, 0])], rtol=0.05
    )
