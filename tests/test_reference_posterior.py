"""posteriordb low_dim_gauss_mix: the gmm factory with Stan's priors reproduces Stan's posterior."""

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import bayesmix as bm

# posteriordb's files, copied into the repository (see tests/reference/README.md)
REFERENCE = Path(__file__).resolve().parent / "reference" / "posteriordb" / "low_dim_gauss_mix"
STAN_PRIORS = {
    "weights": bm.Prior("Dirichlet", a=5.0),
    "means": bm.Prior("Normal", mu=0.0, sigma=2.0),
    "scales": bm.Prior("HalfNormal", sigma=2.0),
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference():
    y = np.array(json.loads((REFERENCE / "data.json").read_text())["y"])
    with zipfile.ZipFile(REFERENCE / "reference_draws.json.zip") as archive:
        chains = json.loads(archive.read(archive.namelist()[0]))
    draws = {k: np.concatenate([np.asarray(c[k]) for c in chains]) for k in chains[0]}
    return y, draws


def _stan_parameters(result):
    post = result["posterior"]
    return {
        "mu[1]": post["means"].isel(component=0, feature=0).values.ravel(),
        "mu[2]": post["means"].isel(component=1, feature=0).values.ravel(),
        "sigma[1]": post["scales"].isel(component=0, feature=0).values.ravel(),
        "sigma[2]": post["scales"].isel(component=1, feature=0).values.ravel(),
        "theta": post["weights"].isel(component=0).values.ravel(),
    }


def _assert_matches_reference(result, draws):
    ours = _stan_parameters(result)
    for name, ref in draws.items():
        ref_mean, ref_sd = ref.mean(), ref.std()
        assert abs(ours[name].mean() - ref_mean) < 0.1 * ref_sd, (name, ours[name].mean(), ref_mean)
        assert abs(ours[name].std() / ref_sd - 1) < 0.10, (name, ours[name].std(), ref_sd)


def test_reference_values_are_the_published_ones(reference):
    _, draws = reference
    assert draws["mu[1]"].mean() == pytest.approx(-2.7335, abs=1e-3)
    assert draws["theta"].std() == pytest.approx(0.0155, abs=1e-3)


@pytest.mark.parametrize("sampler", ["nutpie", "numpyro"])
def test_ordered_means_reproduce_stan(reference, sampler):
    if sampler == "numpyro":
        pytest.importorskip("numpyro")
    y, draws = reference
    model = bm.models.gmm(y, 2, priors=STAN_PRIORS, order_means=True)
    result = bm.fit(model, draws=1000, tune=1000, chains=4, sampler=sampler, random_seed=20, progressbar=False)
    _assert_matches_reference(result, draws)


def test_unordered_means_with_relabel_reproduce_stan(reference):
    y, draws = reference
    model = bm.models.gmm(y, 2, priors=STAN_PRIORS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = bm.fit(model, draws=1000, tune=1000, chains=4, random_seed=21, progressbar=False)
    relabelled = bm.relabel(result)
    # relabel() aligns to the pivot draw; name the components as Stan's ordering does.
    if relabelled["posterior"]["means"].mean(("chain", "draw")).values[0, 0] > 0:
        relabelled["posterior"] = relabelled["posterior"].isel(component=[1, 0])
    _assert_matches_reference(relabelled, draws)


def test_shipped_copy_is_the_posteriordb_data(reference):
    y, _ = reference
    np.testing.assert_array_equal(bm.datasets.load("low_dim_gauss_mix")["y"].to_numpy(), y)
