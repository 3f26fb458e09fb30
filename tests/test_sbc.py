"""Simulation-based calibration of gmm (1-D, K = 2, ordered means) and of a Poisson mixture, fitted with NUTS.

The small versions run here (20 replicates, short chains, about 80 s and 40 s);
the larger ones are `python -m bayesmix.sbc [--component poisson] --replicates 200 --jobs 2`,
whose results are in docs/validation.md.
"""

import numpy as np
import pytest
import xarray as xr

from bayesmix.sbc import (
    PARAMETERS,
    POISSON_PARAMETERS,
    simulate,
    simulate_poisson,
    simulation_based_calibration,
    uniformity_test,
)


@pytest.mark.slow
def test_ranks_of_the_true_parameters_are_uniform():
    result = simulation_based_calibration(20, n_obs=100, draws=200, tune=300, chains=2, n_bins=4, random_seed=0)
    assert result.ranks.sizes == {"replicate": 20, "parameter": len(PARAMETERS)}
    assert int(result.ranks.min()) >= 0 and int(result.ranks.max()) <= 99
    assert result.uniform(level=0.01), result.to_markdown()


@pytest.mark.slow
def test_poisson_mixture_ranks_of_label_free_summaries_are_uniform():
    result = simulation_based_calibration(
        20, n_obs=100, draws=200, tune=300, chains=2, n_bins=4, random_seed=0, component="poisson"
    )
    assert list(result.ranks["parameter"].values) == list(POISSON_PARAMETERS)
    assert int(result.ranks.min()) >= 0 and int(result.ranks.max()) <= 99
    assert result.uniform(level=0.01), result.to_markdown()


def test_poisson_simulation_draws_from_the_prior():
    rng = np.random.default_rng(2)
    draws = [simulate_poisson(rng, 200) for _ in range(3000)]
    low = np.array([float(t["rates[low]"][0]) for t, _ in draws])
    high = np.array([float(t["rates[high]"][0]) for t, _ in draws])
    assert (low <= high).all()
    # Gamma(2, rate 0.25) has mean 8: the smaller and larger of two average to 8 together.
    assert (low.mean() + high.mean()) / 2 == pytest.approx(8.0, abs=0.25)
    assert np.mean([float(t["weights[low]"][0]) for t, _ in draws]) == pytest.approx(0.5, abs=0.015)
    counts = np.concatenate([X for _, X in draws[:50]])
    assert (counts >= 0).all() and (counts == np.round(counts)).all()


def _ranks(values):
    return xr.DataArray(values, dims=("replicate", "parameter"), coords={"parameter": ["theta"]})


def test_the_uniformity_test_rejects_miscalibrated_ranks():
    """Negative controls: gross over-confidence and bias are caught with 20 replicates.

    Subtler miscalibration needs the large run.
    """
    rng = np.random.default_rng(0)
    uniform = _ranks(rng.integers(0, 100, size=(20, 1)))
    overconfident = _ranks(
        np.where(rng.random((20, 1)) < 0.5, rng.integers(0, 10, (20, 1)), rng.integers(90, 100, (20, 1)))
    )
    biased = _ranks(rng.integers(50, 100, size=(20, 1)))  # true values in the upper half
    assert uniformity_test(uniform, 100, 4)[0]["theta"] > 0.01
    # 0.002 is the bound `uniform()` applies per parameter (0.01, Bonferroni over 5).
    assert uniformity_test(overconfident, 100, 4)[0]["theta"] < 0.002
    assert uniformity_test(biased, 100, 4)[0]["theta"] < 0.002


def test_simulation_draws_from_the_prior():
    rng = np.random.default_rng(1)
    draws = [simulate(rng, 5)[0] for _ in range(4000)]
    means = np.array([[d["means[0]"], d["means[1]"]] for d in draws])
    assert (means[:, 0] < means[:, 1]).all()
    # E[max of two N(0, 2^2)] = 2 / sqrt(pi); E[HalfNormal(1)] = sqrt(2 / pi); E[Beta(2, 2)] = 0.5.
    assert means[:, 1].mean() == pytest.approx(2 / np.sqrt(np.pi), abs=4 * 2 / np.sqrt(4000))
    assert np.mean([d["scales[0]"] for d in draws]) == pytest.approx(np.sqrt(2 / np.pi), abs=0.03)
    assert np.mean([d["weights[0]"] for d in draws]) == pytest.approx(0.5, abs=0.015)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_replicates": 0}, "`n_replicates` must be >= 1"),
        ({"n_obs": 1}, "`n_obs` must be >= 2"),
        ({"n_ranks": 1000}, "needs n_ranks - 1 <= chains \\* draws"),
        ({"n_bins": 7}, "`n_bins` \\(7\\) must divide n_ranks"),
        ({"sampler": "hmc"}, "Unknown sampler"),
        ({"component": "student_t"}, "Unknown component 'student_t'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulation_based_calibration(**kwargs)
