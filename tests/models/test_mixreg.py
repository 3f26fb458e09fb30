"""Mixtures of regressions and of experts: densities against scipy, EM against statsmodels, recovery."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr
from scipy import stats
from scipy.special import expit, logsumexp

import bayesmix as bm
from bayesmix.components import COMPONENTS
from bayesmix.models._base import get_info
from bayesmix.models.mixreg import info_from_result, pointwise_log_likelihood, rebase_gate
from bayesmix.relabel import _permute

RESPONSES = ("gaussian", "poisson", "negative_binomial", "bernoulli")


def _scipy_log_pdf(family: str, y, eta, extra):
    if family == "gaussian":
        return stats.norm.logpdf(y, eta, extra)
    if family == "poisson":
        return stats.poisson.logpmf(y, np.exp(eta))
    if family == "negative_binomial":
        mu = np.exp(eta)
        return stats.nbinom.logpmf(y, extra, extra / (extra + mu))
    return stats.bernoulli.logpmf(y, expit(eta))


def _response_data(family: str, rng: np.random.Generator, n: int = 50):
    eta = rng.normal(0.5, 0.8, size=(n, 3))
    extra = rng.uniform(0.5, 3.0, size=3)
    y = {
        "gaussian": rng.normal(size=n),
        "poisson": rng.poisson(2.0, size=n),
        "negative_binomial": rng.poisson(2.0, size=n),
        "bernoulli": rng.integers(0, 2, size=n),
    }[family].astype(float)
    return y, eta, extra


@pytest.mark.parametrize("family", RESPONSES)
def test_response_log_densities_match_scipy_in_numpy_and_pytensor(family):
    response = COMPONENTS[family].response
    y, eta, extra = _response_data(family, np.random.default_rng(0))
    extras = [extra] if response.extras else []
    expected = _scipy_log_pdf(family, y[:, None], eta, extra)
    natural = response.natural_parameters(eta, *extras)
    np.testing.assert_allclose(response.log_pdf(y[:, None], *natural), expected, rtol=1e-10, atol=1e-10)
    graph = response.logp(y[:, None], eta, *extras)
    np.testing.assert_allclose(graph.eval(), expected, rtol=1e-10, atol=1e-10)


def _gated_counts(n: int, seed: int):
    """Poisson counts from two regimes, the second more likely as z grows (a gate on z), and the truth."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    truth = {"intercepts": [0.5, 2.0], "slopes": [-0.5, 0.5], "gate": (0.5, 2.0)}
    in_second = rng.random(n) < expit(truth["gate"][0] + truth["gate"][1] * X["z"])
    eta = np.where(in_second, truth["intercepts"][1] + truth["slopes"][1] * X["x"], 0.5 - 0.5 * X["x"])
    return X, rng.poisson(np.exp(eta)).astype(float), truth, in_second


def _crossing_lines(n: int, seed: int):
    """Two lines that cross at dose 0.5: y = 1 + 2 dose (40%) and y = 3 - 2 dose (60%), sd 0.1 and 0.2."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"dose": rng.uniform(0.0, 1.0, n)})
    first = rng.random(n) < 0.4
    y = np.where(first, 1.0 + 2.0 * X["dose"], 3.0 - 2.0 * X["dose"]) + rng.normal(0, np.where(first, 0.1, 0.2))
    return X, y, first


@pytest.fixture(scope="module")
def gated():
    X, y, truth, in_second = _gated_counts(400, seed=3)
    model = bm.models.mixreg(X, y, 2, component="poisson", experts=["x"], gating=["z"])
    em = bm.em(X, 2, y=y, component="poisson", experts=["x"], gating=["z"], random_seed=0, n_init=5)
    result = bm.fit(model, draws=400, tune=400, random_seed=1, progressbar=False)
    return SimpleNamespace(X=X, y=y, truth=truth, in_second=in_second, model=model, em=em, result=result)


@pytest.fixture(scope="module")
def lines():
    X, y, first = _crossing_lines(300, seed=5)
    model = bm.models.mixreg(X, y, 2)
    result = bm.fit(model, draws=400, tune=400, random_seed=2, progressbar=False)
    return SimpleNamespace(X=X, y=y, first=first, model=model, result=result)


def test_model_log_density_equals_the_numpy_likelihood_at_a_random_point():
    X, y, _, _ = _gated_counts(60, seed=0)
    model = bm.models.mixreg(X, y, 3, component="negative_binomial", experts=["x"], gating=["z"])
    rng = np.random.default_rng(1)
    point = {name: value + rng.normal(scale=0.3, size=value.shape) for name, value in model.initial_point().items()}
    names = ["intercepts", "coefficients", "dispersions", "gating_intercepts", "gating_coefficients"]
    outputs = model.replace_rvs_by_values([*model.potentials, *(model[n] for n in names)])
    potential, *values = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")(point)
    dims = {"coefficients": ["feature"], "gating_coefficients": ["gating_feature"]}
    dataset = xr.Dataset(
        {
            name: (("chain", "draw", "component", *dims.get(name, [])), np.asarray(value)[None, None])
            for name, value in zip(names, values, strict=True)
        }
    )
    numpy_ll = pointwise_log_likelihood(get_info(model), dataset).sum()
    assert float(potential) == pytest.approx(numpy_ll, rel=1e-9)


@pytest.mark.parametrize("family", RESPONSES)
def test_em_with_one_component_is_statsmodels_maximum_likelihood_fit(family):
    X, counts, _, _ = _gated_counts(300, seed=7)
    noise = np.random.default_rng(8).normal(size=len(X))
    y = {"gaussian": X["x"] * 2 + X["z"] + noise, "bernoulli": (counts > 2).astype(float)}.get(family, counts)
    em = bm.em(X, 1, y=y, component=family, random_seed=0, n_init=1)
    design = sm.add_constant(X)
    if family == "negative_binomial":
        reference = sm.NegativeBinomial(y, design).fit(disp=0, maxiter=200)
        params, alpha = reference.params.values[:-1], reference.params.values[-1]
        assert float(em["dispersions"][0]) == pytest.approx(1.0 / alpha, rel=1e-4)
    else:
        glm_family = {"gaussian": sm.families.Gaussian(), "poisson": sm.families.Poisson()}.get(
            family, sm.families.Binomial()
        )
        reference = sm.GLM(y, design, family=glm_family).fit()
        params = reference.params.values
    np.testing.assert_allclose(em["intercepts"].values, params[:1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(em["coefficients"].values[0], params[1:], rtol=1e-5, atol=1e-7)
    assert float(em["log_likelihood"]) == pytest.approx(reference.llf, rel=1e-7)


def test_em_recovers_crossing_lines():
    X, y, first = _crossing_lines(1000, seed=11)
    em = bm.em(X, 2, y=y, random_seed=0, n_init=5)
    # components sorted by their value at the mean dose (0.5, where both lines are near 2): compare as sets
    order = np.argsort(em["coefficients"].values[:, 0])  # the rising line has the positive slope
    np.testing.assert_allclose(em["intercepts"].values[order], [3.0, 1.0], atol=0.05)
    np.testing.assert_allclose(em["coefficients"].values[order, 0], [-2.0, 2.0], atol=0.08)
    np.testing.assert_allclose(em["scales"].values[order], [0.2, 0.1], atol=0.02)
    np.testing.assert_allclose(em["weights"].values[order], [0.6, 0.4], atol=0.04)
    rising = em["responsibilities"].values[:, order[1]] > 0.5
    assert np.mean(rising == first) > 0.9  # only the points near the crossing are ambiguous


def test_em_recovers_a_gate_that_depends_on_a_covariate():
    X, y, truth, _ = _gated_counts(2000, seed=13)
    em = bm.em(X, 2, y=y, component="poisson", experts=["x"], gating=["z"], random_seed=0, n_init=5)
    np.testing.assert_allclose(em["intercepts"].values, truth["intercepts"], atol=0.1)
    np.testing.assert_allclose(em["coefficients"].values[:, 0], truth["slopes"], atol=0.08)
    assert em["gating_intercepts"].values[0] == 0 and (em["gating_coefficients"].values[0] == 0).all()
    assert float(em["gating_intercepts"][1]) == pytest.approx(truth["gate"][0], abs=0.25)
    assert float(em["gating_coefficients"][1, 0]) == pytest.approx(truth["gate"][1], abs=0.35)


def test_posterior_recovers_the_truth_and_agrees_with_em(gated):
    X, y, truth, em, result = gated.X, gated.y, gated.truth, gated.em, gated.result
    in_second = gated.in_second
    diagnostics = bm.diagnose(result, baseline=em)
    assert diagnostics.ok, diagnostics.verdict
    posterior = bm.relabel(result, reference=em)["posterior"].to_dataset()
    hdi = posterior[["intercepts", "coefficients", "gating_intercepts", "gating_coefficients"]].quantile(
        [0.003, 0.997], dim=("chain", "draw")
    )
    inside = {
        "intercepts": hdi["intercepts"].values,
        "coefficients": hdi["coefficients"].values[..., 0],
    }
    for name, key in (("intercepts", "intercepts"), ("coefficients", "slopes")):
        low, high = inside[name]
        assert ((low <= truth[key]) & (truth[key] <= high)).all(), (name, low, high)
    low, high = hdi["gating_coefficients"].values[:, 1, 0]
    assert low <= truth["gate"][1] <= high
    membership = bm.predict_proba(result, X, y)["probability"].values
    assert np.mean((membership[:, 1] > 0.5) == in_second) > 0.8
    np.testing.assert_allclose(membership.sum(axis=1), 1.0)


def test_relabel_puts_a_chain_in_another_labelling_back_and_keeps_the_gate_referenced_to_component_0(gated):
    result = bm.relabel(gated.result)
    posterior = result["posterior"].to_dataset()
    swap = posterior["weights"] if "weights" in posterior else posterior["gating_intercepts"]
    perm = np.broadcast_to(np.arange(2), (*swap.shape[:2], 2)).copy()
    perm[1] = [1, 0]  # the second chain in the other labelling

    perm_da = xr.DataArray(perm, dims=("chain", "draw", "component"))
    settings = info_from_result(result).settings
    swapped = rebase_gate(_permute(posterior, perm_da), settings)
    assert float(swapped["gating_coefficients"].sel(chain=1).mean()) < 0  # the gate now points the other way
    tree = result.copy()
    tree["posterior"] = xr.DataTree(swapped)
    tree = tree.drop_nodes("relabel")
    back = bm.relabel(tree, reference=gated.em)["posterior"]
    expected = bm.relabel(gated.result, reference=gated.em)["posterior"]
    for name in ("intercepts", "coefficients", "gating_intercepts", "gating_coefficients"):
        np.testing.assert_allclose(back[name].values, expected[name].values)


def test_predictive_density_is_normalized_and_agrees_with_draws(lines, gated):
    X, _model, result = lines.X, lines.model, lines.result
    grid = np.linspace(-1.0, 5.0, 601)
    density = bm.predict_density(result, X.iloc[:3], grid)
    np.testing.assert_allclose(np.trapezoid(density.values, grid, axis=1), 1.0, atol=1e-3)
    draws = bm.sample_predictive(result, X.iloc[:3], random_seed=0).values[..., 0]
    mean_from_density = np.trapezoid(density.values * grid, grid, axis=1)
    np.testing.assert_allclose(
        draws.mean(axis=0), mean_from_density, atol=4 * draws.std(axis=0).max() / np.sqrt(len(draws))
    )
    counts = np.arange(0, 200)
    pmf = bm.predict_density(gated.result, gated.X.iloc[:4], counts)
    np.testing.assert_allclose(pmf.values.sum(axis=1), 1.0, atol=1e-8)


def test_components_at_x_are_the_fitted_lines(lines):
    doses = pd.DataFrame({"dose": [0.0, 1.0]})
    components = bm.predict_components(lines.result, doses)
    means = np.sort(components["means"].values[..., 0], axis=1)
    np.testing.assert_allclose(means, [[1.0, 3.0], [1.0, 3.0]], atol=0.1)
    assert set(components.data_vars) == {"weights", "weights_hdi", "means", "means_hdi", "scales", "scales_hdi"}


def test_log_likelihood_group_is_the_pointwise_conditional_likelihood(lines):
    X, y = lines.X, lines.y
    ll = lines.result["log_likelihood"]["y"].values
    posterior = lines.result["posterior"]
    s = (1, 17)
    w = posterior["weights"].values[s]
    mu = posterior["intercepts"].values[s] + posterior["coefficients"].values[s][:, 0] * X["dose"].values[:, None]
    expected = logsumexp(np.log(w) + stats.norm.logpdf(y[:, None], mu, posterior["scales"].values[s]), axis=1)
    np.testing.assert_allclose(ll[s], expected, rtol=1e-10)


def test_save_and_load_keep_everything_prediction_needs(gated, tmp_path):
    X, y, result = gated.X, gated.y, gated.result
    bm.save(result, tmp_path / "mixreg.nc")
    loaded = bm.load(tmp_path / "mixreg.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = bm.predict_proba(result, X.iloc[:5], y[:5])["probability"].values
        after = bm.predict_proba(loaded, X.iloc[:5], y[:5])["probability"].values
    np.testing.assert_allclose(before, after)
    np.testing.assert_allclose(
        bm.predict_density(loaded, X.iloc[:2], [0.0, 3.0]).values,
        bm.predict_density(result, X.iloc[:2], [0.0, 3.0]).values,
    )


def test_loo_prefers_the_true_number_of_regimes(gated):
    X, y = gated.X, gated.y
    one = bm.fit(
        bm.models.mixreg(X, y, 1, component="poisson", experts=["x"]),
        draws=300,
        tune=300,
        random_seed=0,
        progressbar=False,
    )
    table = bm.compare({"one regime": one, "two regimes, gated": gated.result})
    assert table.index[0] == "two regimes, gated"
    assert -table.loc["one regime", "elpd_diff"] > 4 * table.loc["one regime", "dse"]


def test_advi_finds_the_crossing_lines_and_gives_a_result_of_the_same_shape(lines):
    result = bm.fit(lines.model, method="advi", n_steps=5000, draws=300, random_seed=0, progressbar=False)
    assert {"posterior", "log_likelihood", "observed_data", "constant_data", "fit_history"} <= set(result.children)
    slopes = np.sort(result["posterior"]["coefficients"].mean(("chain", "draw")).values[:, 0])
    np.testing.assert_allclose(slopes, [-2.0, 2.0], atol=0.1)
    assert result["log_likelihood"]["y"].shape == (1, 300, 300)


def test_clustering_functions_partition_the_training_pairs(gated):
    from sklearn.metrics import adjusted_rand_score

    result = gated.result
    with warnings.catch_warnings():
        warnings.simplefilter("error", bm.TruncationWarning)  # a finite mixture has no truncation to warn about
        counts = bm.cluster_count(result, max_draws=200, random_seed=0)
    assert counts.attrs["mode"] == 2
    np.testing.assert_allclose(counts["effective"].mean(), 1.0 / (0.5**2 + 0.5**2), atol=0.2)
    partition = bm.point_partition(result, max_draws=200, random_seed=0)
    assert adjusted_rand_score(gated.in_second, partition.values) > 0.4
    modal = bm.predict(result, gated.X, gated.y)["component"].values
    assert adjusted_rand_score(gated.in_second, modal) > 0.4
