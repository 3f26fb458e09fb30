"""Which backend compiles each method, and what ``backend=`` accepts (bayesmix/inference/_compilation.py)."""

import warnings

import numpy as np
import pymc as pm
import pytest

import bayesmix as bm


@pytest.fixture(scope="module")
def small_mdn():
    x = np.linspace(-1, 1, 40)
    return bm.models.mdn(x, np.sin(3 * x), n_components=2, hidden=(3,))


def test_pymcs_nuts_compiles_with_jax_on_the_frozen_model(monkeypatch, faithful):
    seen = []
    sample = pm.sample

    def spy(*args, **kwargs):
        seen.append((kwargs["backend"], kwargs["model"]))
        return sample(*args, **kwargs)

    monkeypatch.setattr(pm, "sample", spy)
    model = bm.models.gmm(faithful, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = bm.fit(model, sampler="pymc", draws=20, tune=20, chains=1, random_seed=0, progressbar=False)
    [(backend, sampled)] = seen
    # JAX needs static shapes: PyMC's NUTS samples a frozen copy, not the user's model.
    assert backend == "jax" and sampled is not model
    assert result["posterior"].sizes["draw"] == 20


def test_the_map_compiles_with_jax_unless_told(monkeypatch, small_mdn):
    result = bm.fit(small_mdn, method="map", n_init=1, random_seed=0, progressbar=False)
    assert result["fit_history"].attrs["backend"] == "jax"

    # Told otherwise, it asks PyMC for that mode; stopped there, since compiling the MDN
    # with C from CI's empty cache takes over a minute and tests PyTensor, not bayesmix.
    class Compiling(Exception):
        pass

    modes = []

    def spy(self, *args, mode=None, **kwargs):
        modes.append(mode)
        raise Compiling

    monkeypatch.setattr(pm.Model, "logp_dlogp_function", spy)
    with pytest.raises(Compiling):
        bm.fit(small_mdn, method="map", backend="c", n_init=1, random_seed=0, progressbar=False)
    assert modes == ["CVM"]


@pytest.mark.parametrize(
    "settings",
    [
        dict(method="advi", n_steps=10),
        dict(method="nuts", sampler="pymc", draws=10, tune=10, chains=1),
        dict(method="map"),
    ],
    ids=["advi", "pymc", "map"],
)
def test_an_unknown_backend_is_refused_before_fitting(faithful, small_mdn, settings):
    model = small_mdn if settings["method"] == "map" else bm.models.gmm(faithful, 2)
    with pytest.raises(ValueError, match=r"Unknown backend 'pytorch'; choose one of \['kernel', 'jax', 'numba', 'c'\]"):
        bm.fit(model, backend="pytorch", progressbar=False, **settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(sampler="numpyro", backend="c"), r"`backend` cannot be 'c' with sampler='numpyro'"),
        (dict(backend="c"), r"`backend` cannot be 'c' with sampler='nutpie', which compiles with JAX or numba"),
        (dict(sampler="pymc", backend="kernel"), r"`backend` cannot be 'kernel' with sampler='pymc'"),
        (dict(method="advi", backend="kernel"), r"`backend` cannot be 'kernel' with method='advi'"),
    ],
    ids=["numpyro-c", "nutpie-c", "pymc-kernel", "advi-kernel"],
)
def test_one_backend_vocabulary_checked_against_the_sampler(faithful, settings, message):
    with pytest.raises(ValueError, match=message):
        bm.fit(bm.models.gmm(faithful, 2), progressbar=False, **settings)
