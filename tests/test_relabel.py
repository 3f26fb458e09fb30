import warnings

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayesmix as bm


@pytest.fixture(scope="module")
def separated_fit(separated_2d):
    X, _ = separated_2d
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bm.fit(bm.models.gmm(X, 3), draws=100, tune=300, chains=2, random_seed=2, progressbar=False)


def _scramble(result, seed):
    """Permute the components of every draw at random, independently of the code under test."""
    rng = np.random.default_rng(seed)
    post = result["posterior"].to_dataset()
    n_chain, n_draw, K = post.sizes["chain"], post.sizes["draw"], post.sizes["component"]
    perms = np.array([rng.permutation(K) for _ in range(n_chain * n_draw)]).reshape(n_chain, n_draw, K)
    scrambled = post.copy()
    for name, da in post.data_vars.items():
        if "component" in da.dims:
            values = da.transpose("chain", "draw", "component", ...).values
            index = perms.reshape(perms.shape + (1,) * (values.ndim - 3))
            moved = np.take_along_axis(values, index, axis=2)
            scrambled[name] = (("chain", "draw", "component", *da.dims[3:]), moved)
    out = result.copy()
    out["posterior"] = xr.DataTree(scrambled)
    return out


def test_relabel_fixes_rhat_on_faithful(faithful_fit, faithful_em):
    """faithful K=2, 4 chains, no ordering: relabelled to EM, every R-hat <= 1.01, ESS >= 400, EM in HDI."""
    import arviz_stats as azs

    before = azs.rhat(faithful_fit, var_names=["means"])["means"].values
    relabelled = bm.relabel(faithful_fit, reference=faithful_em)
    params = relabelled["posterior"].to_dataset()[["weights", "means", "covariances"]]
    rhat = azs.rhat(params)
    ess = azs.ess(params, method="bulk")
    assert before.max() > 1.1, "the fixture should exhibit label switching between chains"
    for name in ("weights", "means", "covariances"):
        assert float(rhat[name].max()) <= 1.01, name
        assert float(ess[name].min()) >= 400, name
    hdi = azs.hdi(params[["means"]], prob=0.94)["means"]
    em_means = faithful_em["means"]
    assert bool(((em_means >= hdi.sel(ci_bound="lower")) & (em_means <= hdi.sel(ci_bound="upper"))).all())


def test_relabel_keeps_permutations_and_is_idempotent(faithful_fit, faithful_em):
    once = bm.relabel(faithful_fit, reference=faithful_em)
    twice = bm.relabel(once, reference=faithful_em)
    assert once["relabel"].attrs["n_changed"] > 0
    assert twice["relabel"].attrs["n_changed"] == 0
    xr.testing.assert_equal(once["posterior"].to_dataset(), twice["posterior"].to_dataset())
    xr.testing.assert_equal(once["relabel"]["permutation"], twice["relabel"]["permutation"])
    perm = once["relabel"]["permutation"]
    assert perm.dims == ("chain", "draw", "component")
    # The stored permutation maps relabelled components back to the original ones.
    original = faithful_fit["posterior"]["means"].values
    index = perm.values[..., None]
    np.testing.assert_array_equal(np.take_along_axis(original, index, axis=2), once["posterior"]["means"].values)


def test_relabel_leaves_log_likelihood_unchanged(faithful_fit):
    relabelled = bm.relabel(faithful_fit)
    xr.testing.assert_identical(relabelled["log_likelihood"].to_dataset(), faithful_fit["log_likelihood"].to_dataset())
    xr.testing.assert_identical(relabelled["observed_data"].to_dataset(), faithful_fit["observed_data"].to_dataset())


def test_pivot_and_stephens_agree_with_em_reference(faithful_fit, faithful_em):
    to_em = bm.relabel(faithful_fit, reference=faithful_em)["posterior"]["means"]
    for result in (bm.relabel(faithful_fit), bm.relabel(faithful_fit, method="stephens")):
        means = result["posterior"]["means"]
        # Up to one global permutation: order components by their mean eruption time.
        order = np.argsort(means.mean(("chain", "draw")).sel(feature="eruptions").values)
        np.testing.assert_array_equal(means.values[:, :, order], to_em.values)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["hungarian", "stephens"]))
def test_scrambled_labels_are_recovered_up_to_one_global_permutation(separated_fit, seed, method):
    original = bm.relabel(separated_fit, method=method)["posterior"]
    recovered = bm.relabel(_scramble(separated_fit, seed), method=method)["posterior"]
    means_o = original["means"].values  # (chain, draw, K, D)
    means_r = recovered["means"].values
    # The global permutation is read off one draw and must then fit every draw and variable.
    g = [int(np.argmin(((means_o[0, 0] - m) ** 2).sum(-1))) for m in means_r[0, 0]]
    assert sorted(g) == [0, 1, 2]
    for name in ("weights", "means", "covariances", "scales"):
        np.testing.assert_array_equal(recovered[name].values, original[name].values[:, :, g])


def test_relabel_bad_arguments(faithful_fit):
    with pytest.raises(ValueError, match=r"Unknown method 'kl'; choose one of \['hungarian', 'stephens'\]"):
        bm.relabel(faithful_fit, method="kl")
    with pytest.raises(TypeError, match="must be an EM result"):
        bm.relabel(faithful_fit, reference=np.zeros(2))
    with pytest.raises(ValueError, match="has 3 components"):
        bm.relabel(faithful_fit, reference=bm.em(bm.datasets.load("faithful"), 3, random_seed=0))
    with pytest.raises(TypeError, match=r"must be an xarray\.DataTree"):
        bm.relabel({"posterior": 1})
