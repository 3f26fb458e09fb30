"""``bayesmix.fit``'s explicit options: each reaches what it controls, is checked before any work, and the
former spellings (``n=``, sampler options as ``**kwargs``) still work for one release with a DeprecationWarning."""

import warnings

import numpy as np
import pytest

import bayesmix as bm
from bayesmix.inference import fitting


@pytest.fixture(scope="module")
def small_mdn():
    x = np.linspace(-1, 1, 40)
    return bm.models.mdn(x, np.sin(3 * x), n_components=2, hidden=(3,))


def _quiet_fit(model, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        return bm.fit(model, random_seed=0, progressbar=False, **options)


def test_target_accept_reaches_nutpie(faithful):
    """A higher target acceptance rate makes the adapted step size smaller (the kernel: a second a fit)."""
    model = bm.models.gmm(faithful, 2)
    step = {}
    for target in (0.6, 0.99):
        result = _quiet_fit(model, draws=100, tune=300, chains=2, target_accept=target)
        step[target] = float(result["sample_stats"]["step_size"].mean())
    assert step[0.99] < 0.7 * step[0.6]


def test_n_steps_and_n_init_reach_advi_and_the_map(faithful, small_mdn):
    advi = _quiet_fit(bm.models.gmm(faithful, 2, covariance="diag"), method="advi", n_steps=150, draws=10)
    assert advi["fit_history"]["elbo"].sizes["iteration"] == 150
    point = _quiet_fit(small_mdn, method="map", n_init=3, sampler_kwargs={"maxiter": 5})
    assert point["fit_history"].sizes["restart"] == 3
    assert point["fit_history"].attrs["n_init"] == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(method="advi", chains=2), r"`chains` does not apply to method='advi'"),
        (dict(target_accept=1.5), r"`target_accept` must be a number strictly between 0 and 1"),
        (dict(method="advi", target_accept=0.9), r"`target_accept` applies to method='nuts'"),
        (dict(n_steps=100), r"`n_steps` applies to method='advi' and 'fullrank_advi'; leave it out for method='nuts'"),
        (dict(n_init=2), r"`n_init` applies to method='map'"),
        (dict(method="advi", n_steps=0), r"`n_steps` must be"),
        (dict(sampler_kwargs={"draws": 10}), r"Pass `draws` to bayesmix.fit itself"),
        (dict(sampler_kwargs=[("a", 1)]), r"`sampler_kwargs` must be a dict"),
        (dict(sampler_kwargs={"start_sigma": 0.1}), r"`start_sigma` applies to method='advi' only"),
    ],
)
def test_every_option_is_checked_before_em_runs(monkeypatch, faithful, options, message):
    def em_must_not_run(*args, **kwargs):
        raise AssertionError("EM ran before the options were checked")

    monkeypatch.setattr(fitting, "_start", em_must_not_run)
    with pytest.raises((ValueError, TypeError), match=message):
        bm.fit(bm.models.gmm(faithful, 2), progressbar=False, **options)


def test_the_former_spellings_warn_and_still_work(faithful, small_mdn):
    model = bm.models.gmm(faithful, 2, covariance="diag")
    with pytest.warns(DeprecationWarning, match=r"`n` of bayesmix.fit is deprecated.*use `n_steps`"):
        advi = bm.fit(model, method="advi", n=120, draws=10, random_seed=0, progressbar=False)
    assert advi["fit_history"]["elbo"].sizes["iteration"] == 120
    with pytest.warns(
        DeprecationWarning, match=r"sampler options to bayesmix.fit as keywords \(maxiter\).*sampler_kwargs"
    ):
        former = bm.fit(small_mdn, method="map", n_init=1, maxiter=3, random_seed=0, progressbar=False)
    current = bm.fit(small_mdn, method="map", n_init=1, sampler_kwargs={"maxiter": 3}, random_seed=0, progressbar=False)
    np.testing.assert_array_equal(former["fit_history"]["lp"], current["fit_history"]["lp"])
    with pytest.raises(TypeError, match=r"Pass `n_steps` only"):
        bm.fit(model, method="advi", n=10, n_steps=10, progressbar=False)
