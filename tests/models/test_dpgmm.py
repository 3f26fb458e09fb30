import numpy as np
import pytest

import bayesmix as bm
from bayesmix.models._base import get_info
from tests.models.test_gmm import _evaluate_at_random_point, _scipy_mixture_logpdf


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical", "tied"])
def test_log_density_matches_scipy(covariance):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(50, 2)) * [1.0, 3.0]
    model = bm.models.dp_gmm(X, truncation=6, covariance=covariance)
    for _ in range(2):
        logp, w, mu, cov = _evaluate_at_random_point(model, rng)
        assert w.shape == (6,) and np.isclose(w.sum(), 1.0)
        np.testing.assert_allclose(logp, _scipy_mixture_logpdf(X, w, mu, cov), rtol=1e-9)


def test_truncation_gives_that_many_stick_breaking_weights(faithful):
    model = bm.models.dp_gmm(faithful, truncation=7)
    assert model.named_vars_to_dims["weights"] == ("component",)
    assert len(model.coords["component"]) == 7
    assert "StickBreakingWeights" in type(model["weights"].owner.op).__name__
    info = get_info(model)
    assert info.family == "dp_mixture" and info.settings["truncation"] == 7
    assert info.priors["alpha"] == bm.Prior("Gamma", alpha=1.0, beta=1.0)
    assert "alpha" in model.named_vars


def test_fixed_alpha_is_not_a_parameter(faithful):
    model = bm.models.dp_gmm(faithful, truncation=5, alpha=2.0)
    assert "alpha" not in model.named_vars
    assert get_info(model).priors["alpha"] == 2.0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"truncation": 1}, ValueError, "`truncation` must be >= 2"),
        ({"truncation": 0}, ValueError, "`truncation` must be >= 1"),
        ({"alpha": -1.0}, ValueError, "`alpha` must be a positive number"),
        ({"alpha": 1.0, "priors": {"alpha": bm.Prior("Gamma", alpha=2, beta=1)}}, ValueError, "not both"),
        ({"priors": {"weights": bm.Prior("Dirichlet", a=1)}}, ValueError, r"Unknown prior key\(s\) \['weights'\]"),
        ({"priors": {"alpha": bm.Prior("Normal")}}, ValueError, "cannot serve as the prior of the DP concentration"),
        ({"covariance": "banded"}, ValueError, "Unknown covariance"),
    ],
)
def test_bad_arguments(faithful, kwargs, error, message):
    with pytest.raises(error, match=message):
        bm.models.dp_gmm(faithful, **kwargs)


def test_variational_dp_baseline_has_the_em_shape(faithful):
    vb = bm.em(faithful, 12, method="variational_dp", n_init=2, random_seed=0)
    assert vb.attrs["bayesmix_baseline"] == "variational_dp"
    assert vb["weights"].shape == (12,) and vb["means"].dims == ("component", "feature")
    assert vb["covariances"].dims == ("component", "feature", "feature_bis")
    assert np.isclose(vb["weights"].sum(), 1.0)
    # Empty components are what a DP prior does, not degeneracy.
    assert (vb["weights"] < 0.01).sum() >= 8
    assert not vb["degenerate"].any()
    assert np.sort(vb["weights"].values)[-2:].sum() > 0.95  # faithful's two clusters


def test_unknown_baseline_method(faithful):
    with pytest.raises(ValueError, match=r"Unknown method 'vb'; choose one of \['em', 'variational_dp'\]"):
        bm.em(faithful, 3, method="vb")
