"""The same random_seed gives identical draws for every sampler, in one process and across processes."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytensor
import pytest

import bayesmix as bm

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261122
CONFIGURATIONS = {
    "nutpie": dict(method="nuts", sampler="nutpie"),  # bayesmix's kernel (bayesmix/inference/_nutpie_gmm.py)
    "nutpie-jax": dict(method="nuts", sampler="nutpie", backend="jax"),
    "pymc": dict(method="nuts", sampler="pymc"),
    "numpyro": dict(method="nuts", sampler="numpyro"),
    "advi": dict(method="advi", n_steps=2000),
}


def fit_all(seed: int) -> dict[str, np.ndarray]:
    """Every parameter draw of one small fit per configuration, concatenated."""
    X = np.r_[np.random.default_rng(0).normal(-2, 1, 40), np.random.default_rng(1).normal(2, 0.5, 30)]
    draws = {}
    for name, settings in CONFIGURATIONS.items():
        model = bm.models.gmm(X, 2, covariance="diag")
        chains = {} if settings["method"] == "advi" else {"chains": 2, "tune": 100}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = bm.fit(model, draws=100, random_seed=seed, progressbar=False, **chains, **settings)
        posterior = result["posterior"]
        draws[name] = np.concatenate([posterior[v].values.ravel() for v in ("weights", "means", "covariances")])
    return draws


def test_same_seed_same_draws_in_process_and_across_processes(tmp_path):
    out = tmp_path / "other_process.npz"
    script = (
        f"import numpy as np; from tests.test_reproducibility import fit_all; np.savez({str(out)!r}, **fit_all({SEED}))"
    )
    # The other process runs while this one fits.
    other = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    first, second = fit_all(SEED), fit_all(SEED)
    _, stderr = other.communicate(timeout=600)
    assert other.returncode == 0, stderr[-3000:]
    elsewhere = np.load(out)
    different_seed = fit_all(SEED + 1)
    for name in CONFIGURATIONS:
        np.testing.assert_array_equal(first[name], second[name], err_msg=f"{name}: same process")
        np.testing.assert_array_equal(first[name], elsewhere[name], err_msg=f"{name}: another process")
        # The comparison can fail: another seed gives other draws.
        assert not np.array_equal(first[name], different_seed[name]), name


@pytest.mark.parametrize("seed", [1.5, "1", True])
def test_random_seed_must_be_an_integer(seed):
    model = bm.models.gmm(np.arange(10.0), 2)
    with pytest.raises(TypeError, match="`random_seed` must be an int"):
        bm.fit(model, random_seed=seed)


@pytest.mark.parametrize(
    ("runner", "settings"),
    [
        ("_run_nuts", dict(sampler="pymc", chains=1)),
        ("_run_advi", dict(method="advi", n_steps=10)),
        ("_run_map", dict(method="map")),
    ],
)
def test_fit_compiles_without_fast_math(monkeypatch, runner, settings):
    # A process that compiles a graph and one that reads it from PyTensor's cache round
    # differently under fast math (bayesmix/inference/_compilation.py). Checking both across
    # processes needs a cold compile of about 4 minutes, so the suite checks the cause:
    # every fit compiles without fast math.
    import bayesmix.inference.fitting as inference

    seen = []
    run = getattr(inference, runner)

    def spy(*args, **kwargs):
        seen.append(pytensor.config.numba__fastmath)
        return run(*args, **kwargs)

    monkeypatch.setattr(inference, runner, spy)
    X = np.random.default_rng(0).normal(size=(30, 1))
    model = bm.models.mdn(X, X[:, 0] ** 2, n_components=1, hidden=(2,)) if runner == "_run_map" else bm.models.gmm(X, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bm.fit(model, draws=10, tune=10, random_seed=0, progressbar=False, **settings)
    assert seen == [False]
    assert pytensor.config.numba__fastmath, "fit must leave PyTensor's own setting as it was"
