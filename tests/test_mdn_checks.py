"""The MDN's statistical checks: the multi-valued inverse problem, mcycle coverage, and NUTS on a small net."""

import warnings

import arviz_stats as azs
import numpy as np
import pytest
from scipy.stats import binom

import bayesmix as bm

pytestmark = pytest.mark.slow
ADVI_STEPS = 6000  # the ELBO is flat after about 4000 steps on both data sets (lr 0.01)


def _advi(model, seed):
    return bm.fit(model, method="advi", n_steps=ADVI_STEPS, draws=1000, random_seed=seed, progressbar=False)


def _modes(grid, density, min_dip=0.5):
    """Local maxima separated from their neighbours by a dip below ``min_dip`` of the smaller peak."""
    inner = np.flatnonzero((density[1:-1] > density[:-2]) & (density[1:-1] > density[2:])) + 1
    peaks = [i for i in inner if density[i] > 0.05 * density.max()]
    separated = peaks[:1]
    for i in peaks[1:]:
        if density[separated[-1] : i + 1].min() < min_dip * min(density[separated[-1]], density[i]):
            separated.append(i)
    return grid[separated]


@pytest.fixture(scope="module")
def inverse_fits():
    data = bm.datasets.inverse_problem(300, random_seed=11)
    models = {K: bm.models.mdn(data["x"], data["t"], n_components=K) for K in (1, 3)}
    return models, {K: _advi(model, seed=K) for K, model in models.items()}


def test_inverse_problem_density_at_half_has_separated_modes(inverse_fits):
    _models, fits = inverse_fits
    grid = np.linspace(-0.2, 1.2, 281)
    density = bm.predict_density(fits[3], [0.5], grid).values[0]
    modes = _modes(grid, density)
    assert len(modes) >= 2, f"modes at {modes}"
    # Each mode sits on one of the three valid answers t = 0.21, 0.5, 0.79.
    assert np.min(np.abs(modes[:, None] - np.array([0.21, 0.5, 0.79])), axis=1).max() < 0.06
    # The one-component network (heteroscedastic regression) has one mode, near their average.
    single = _modes(grid, bm.predict_density(fits[1], [0.5], grid).values[0])
    assert len(single) == 1 and abs(single[0] - 0.5) < 0.1


def test_inverse_problem_loo_prefers_three_components_by_more_than_two_se(inverse_fits):
    _, fits = inverse_fits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pareto k warnings are reported in the table itself
        table = azs.compare({"K=3": fits[3], "K=1": fits[1]})
    assert table.index[0] == "K=3"
    # arviz-stats reports elpd_diff as elpd(K=1) - elpd(best), so it is negative here.
    assert -table.loc["K=1", "elpd_diff"] > 2 * table.loc["K=1", "dse"], table


def test_mcycle_held_out_90_percent_intervals_are_calibrated_and_narrow():
    cycle = bm.datasets.load("mcycle")
    test = np.random.default_rng(0).permutation(len(cycle))[: round(0.2 * len(cycle))]
    train = np.setdiff1d(np.arange(len(cycle)), test)
    model = bm.models.mdn(cycle["times"].values[train], cycle["accel"].values[train], n_components=3)
    result = _advi(model, seed=2)
    draws = bm.sample_predictive(result, cycle["times"].values[test], random_seed=3).values[..., 0]
    lower, upper = np.quantile(draws, [0.05, 0.95], axis=0)
    held_out = cycle["accel"].values[test]
    covered = int(np.sum((held_out >= lower) & (held_out <= upper)))
    # Calibrated 90% intervals cover Binomial(n, 0.9) of n held-out points; fewer than its 0.1% quantile
    # (19 of 27) fails a calibrated model once in a thousand seeds. No upper bound is possible at that
    # level (all 27 covered has probability 0.9^27 = 6%): bands too wide are caught by the width below.
    least = binom.ppf(0.001, len(test), 0.9)
    assert covered >= least, f"{covered} of {len(test)} held-out points covered, fewer than {least:.0f}"
    # Coverage alone is met by a band as wide as the data: the intervals must be much narrower than
    # the unconditional 90% interval of the acceleration (NUTS gave 93 g, this fit about 100 g).
    marginal = np.subtract(*np.quantile(cycle["accel"].values[train], [0.95, 0.05]))
    assert np.mean(upper - lower) < 0.75 * marginal, (np.mean(upper - lower), marginal)


def test_nuts_on_a_small_network_agrees_with_the_map():
    """NUTS on a small net (hidden=(4,), 120 points): short chains, so mixing problems are expected and
    reported; what must hold is that the chains find the fitted function the optimizer finds."""
    data = bm.datasets.inverse_problem(120, random_seed=5)
    model = bm.models.mdn(data["x"], data["t"], n_components=3, hidden=(4,))
    point = bm.fit(model, method="map", random_seed=1, progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        result = bm.fit(model, draws=100, tune=200, chains=2, random_seed=4, progressbar=False)
    assert result.attrs["sampler"] == "nutpie"
    report = bm.diagnose(result, baseline=point)
    means = report.baseline[report.baseline.index.str.startswith("conditional_mean")]
    assert means["map_in_hdi"].mean() >= 0.8, means
    # The MAP maximizes the posterior density, so it fits at least as well as most draws do.
    assert report.log_likelihood["fraction_below_map"] > 0.5
    grid = np.linspace(-0.2, 1.2, 141)
    assert len(_modes(grid, bm.predict_density(result, [0.5], grid).values[0])) >= 2
