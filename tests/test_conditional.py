"""MDN fits (MAP, ADVI) and their predictions: densities, draws of y, components, diagnostics, persistence."""

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import trapezoid
from scipy.stats import norm

import bayesmix as bm
from tests.model_graph import GRAPH_CHECK_MODE

BRANCHES_AT_HALF = np.array([0.21, 0.5, 0.79])  # the three solutions of t + 0.3 sin(2 pi t) = 0.5


@pytest.fixture(scope="module")
def inverse():
    return bm.datasets.inverse_problem(200, random_seed=0)


@pytest.fixture(scope="module")
def map_fit(inverse):
    model = bm.models.mdn(inverse["x"], inverse["t"], n_components=3, hidden=(8,))
    return model, bm.fit(model, method="map", random_seed=1, progressbar=False, n_init=2)


@pytest.fixture(scope="module")
def advi_fit(map_fit):
    model = map_fit[0]
    return bm.fit(model, method="advi", n_steps=3000, draws=400, random_seed=2, progressbar=False)


def _local_maxima(grid, density):
    inner = (density[1:-1] > density[:-2]) & (density[1:-1] > density[2:])
    return grid[1:-1][inner], density[1:-1][inner]


def test_map_result_is_one_draw_with_restarts_recorded(map_fit):
    _, result = map_fit
    assert result.attrs["method"] == "map"
    assert result["posterior"].sizes["chain"] == 1 and result["posterior"].sizes["draw"] == 1
    lp = result["fit_history"]["lp"].values
    assert lp.shape == (2,) and result["sample_stats"]["lp"].item() == lp.max()
    # JAX compiles the MDN's log-density in seconds where the C backend took 77 s on an empty cache.
    assert result["fit_history"].attrs["backend"] == "jax"
    assert set(result.children) >= {"posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data"}
    assert result["log_likelihood"]["y"].dims == ("chain", "draw", "obs_id")


def test_map_lp_is_the_models_log_density_at_the_optimum(map_fit):
    # JAX compiles the MAP's log-density on the model with dims frozen, whose value
    # variables come in another order: the starts and optima must follow it.
    model, result = map_fit
    point = {rv.name: result["posterior"][rv.name].values[0, 0] for rv in model.free_RVs}
    logp = model.compile_logp(mode=GRAPH_CHECK_MODE)  # the MDN has no transforms: no Jacobian
    assert logp(point) == pytest.approx(result["sample_stats"]["lp"].item(), rel=1e-10)
    assert list(result["posterior"].data_vars) == [rv.name for rv in model.free_RVs]


def test_map_density_at_half_has_the_three_branches(map_fit):
    _model, result = map_fit
    grid = np.linspace(-0.2, 1.2, 281)
    density = bm.predict_density(result, [0.5], grid)
    assert density.dims == ("obs_id", "y")
    assert trapezoid(density.values[0], grid) == pytest.approx(1.0, abs=1e-3)
    peaks, heights = _local_maxima(grid, density.values[0])
    peaks = peaks[heights > 0.2 * heights.max()]
    assert len(peaks) == 3
    np.testing.assert_allclose(np.sort(peaks), BRANCHES_AT_HALF, atol=0.05)


def test_density_bands_contain_the_mean_density(advi_fit, map_fit):
    grid = np.linspace(-0.3, 1.3, 81)
    density = bm.predict_density(advi_fit, [0.2, 0.5], grid, ci_prob=0.9)
    assert density.attrs["n_draws"] == 400
    assert (density["hdi_lower"] <= density["hdi_upper"]).all()
    # Where the density is appreciable its draws are not far skewed, so their mean sits inside the HDI.
    appreciable = density.values > 0.5
    lower, upper = density["hdi_lower"].values, density["hdi_upper"].values
    inside = (density.values >= lower) & (density.values <= upper)
    assert inside[appreciable].mean() > 0.9
    assert (upper - lower)[appreciable].min() > 0
    # One draw (MAP): the band is the density itself.
    point = bm.predict_density(map_fit[1], [0.2, 0.5], grid)
    np.testing.assert_array_equal(point["hdi_lower"].values, point.values)
    for i in range(2):
        assert trapezoid(density.values[i], grid) == pytest.approx(1.0, abs=0.02)


def test_components_sum_to_one_and_match_the_branches(map_fit):
    _model, result = map_fit
    components = bm.predict_components(result, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(components["weights"].sum("component"), 1.0)
    assert components["means_hdi"].dims == ("obs_id", "component", "output", "ci_bound")
    at_half = components.isel(obs_id=1)
    heavy = at_half["weights"].values > 0.1
    np.testing.assert_allclose(np.sort(at_half["means"].values[heavy, 0]), BRANCHES_AT_HALF, atol=0.05)
    # At x = 0.1 only the lowest branch (t about 0.05) is valid: one component carries the weight.
    assert components["weights"].isel(obs_id=0).max() > 0.8


def test_components_are_matched_across_draws(map_fit):
    """Two copies of the MAP draw with the component heads permuted must be renumbered back."""
    _model, result = map_fit
    posterior = result["posterior"].to_dataset()
    swapped = posterior.copy(deep=True)
    order = [2, 0, 1]
    for name in ("w_logits", "w_means", "w_scales", "b_logits", "b_means", "b_scales"):
        swapped[name] = posterior[name].isel(component=order).assign_coords(component=posterior["component"])
    both = xr.concat([posterior, swapped], dim="draw").assign_coords(draw=[0, 1])
    doubled = result.copy()
    doubled["posterior"] = xr.DataTree(both)
    components = bm.predict_components(doubled, [0.5])
    assert components.attrs["n_renumbered"] == 1
    single = bm.predict_components(result, [0.5])
    np.testing.assert_allclose(components["means"].values, single["means"].values, rtol=1e-12)


def test_sample_predictive_follows_the_density_and_the_temperature(map_fit):
    _model, result = map_fit
    draws = bm.sample_predictive(result, np.full(4000, 0.5), random_seed=3)
    assert draws.dims == ("sample", "obs_id", "output")
    components = bm.predict_components(result, [0.5]).isel(obs_id=0, output=0)
    w, mu, sd = (components[v].values for v in ("weights", "means", "scales"))
    # Against the mixture CDF at the three branch points: within 4 binomial standard errors.
    for point in (0.3, 0.5, 0.7):
        expected = np.sum(w * norm.cdf(point, mu, sd))
        observed = np.mean(draws.values[..., 0] <= point)
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / 4000)
    # Nearly zero temperature: the mean of the heaviest component, every time.
    cold = bm.sample_predictive(result, np.full(200, 0.5), temperature=1e-6, random_seed=3)
    np.testing.assert_allclose(cold.values, mu[np.argmax(w)], atol=1e-3)
    again = bm.sample_predictive(result, np.full(4000, 0.5), random_seed=3)
    other = bm.sample_predictive(result, np.full(4000, 0.5), random_seed=4)
    np.testing.assert_array_equal(draws.values, again.values)
    assert not np.array_equal(draws.values, other.values)


def test_diagnose_treats_map_and_advi_like_other_fits(map_fit, advi_fit):
    _, result = map_fit
    point = bm.diagnose(result)
    assert point.ok and "MAP point estimate" in point.verdict[0]
    report = bm.diagnose(advi_fit, baseline=result)
    assert report.baseline_name == "MAP" and "map_in_hdi" in report.baseline
    assert any("Variational fit" in line for line in report.verdict)
    assert report.log_likelihood["map"] == pytest.approx(float(result["log_likelihood"]["y"].sum()))
    assert "Posterior against MAP" in str(report) and "Posterior against MAP" in report._repr_html_()


def test_mdn_results_round_trip_through_netcdf(map_fit, tmp_path):
    _model, result = map_fit
    path = bm.save(result, tmp_path / "mdn.nc")
    loaded = bm.load(path)
    xr.testing.assert_identical(loaded["constant_data"].to_dataset(), result["constant_data"].to_dataset())
    grid = np.linspace(0, 1, 11)
    xr.testing.assert_identical(bm.predict_density(loaded, [0.3], grid), bm.predict_density(result, [0.3], grid))


def test_map_repeats_with_the_same_seed(map_fit):
    """ADVI's and NUTS's seeds are covered in test_reproducibility; the MAP's restarts are seeded too."""
    model, result = map_fit
    again = bm.fit(model, method="map", random_seed=1, progressbar=False, n_init=2)
    other = bm.fit(model, method="map", random_seed=2, progressbar=False, n_init=2)
    xr.testing.assert_equal(again["posterior"].to_dataset(), result["posterior"].to_dataset())
    assert not np.array_equal(other["fit_history"]["lp"].values, result["fit_history"]["lp"].values)


def test_the_former_spellings_warn_and_still_work(map_fit, inverse):
    """The model argument (the result describes its model) and hdi_prob (ArviZ's ci_prob) for one release."""
    model, result = map_fit
    grid = [0.2, 0.5, 0.8]
    with pytest.warns(DeprecationWarning, match=r"predict_density\(result, model, \.\.\.\) is deprecated.*X_new"):
        former = bm.predict_density(result, model, [0.5], grid)
    xr.testing.assert_identical(former, bm.predict_density(result, [0.5], grid))
    other = bm.models.mdn(inverse["x"], inverse["t"], n_components=3, hidden=(4,))
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="do not match"):
        bm.predict_density(result, other, [0.5], [0.5])
    with pytest.warns(DeprecationWarning, match=r"`hdi_prob` of bayesmix.predict_components is deprecated.*`ci_prob`"):
        banded = bm.predict_components(result, [0.5], hdi_prob=0.5)
    assert banded.attrs["ci_prob"] == 0.5
    with pytest.raises(TypeError, match="Pass `ci_prob` only"):
        bm.predict_components(result, [0.5], hdi_prob=0.5, ci_prob=0.5)


def test_compare_refuses_a_map_fit_and_a_mixture(map_fit, advi_fit, faithful_fit):
    _, point = map_fit
    with pytest.raises(ValueError, match=r"'MAP' has a single draw .*PSIS-LOO needs posterior draws"):
        bm.compare({"ADVI": advi_fit, "MAP": point})
    with pytest.raises(ValueError, match=r"mixes families \['mdn', 'mixture'\]"):
        bm.compare({"ADVI": advi_fit, "gmm": faithful_fit})
