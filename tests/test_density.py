import functools

import numpy as np
from scipy import stats

from bayesmix.components._mixture_density import chunked_over_draws
from bayesmix.components._mixture_density import membership_probabilities as _memberships
from bayesmix.components._mixture_density import mixture_log_density as _mixture_log_density
from bayesmix.components.gaussian import FAMILY as GAUSSIAN

mixture_log_density = functools.partial(_mixture_log_density, GAUSSIAN)
membership_probabilities = functools.partial(_memberships, GAUSSIAN)


def _random_mixture(rng, S, K, D):
    w = rng.dirichlet(np.ones(K), size=S)
    mu = rng.normal(size=(S, K, D))
    A = rng.normal(size=(S, K, D, D))
    cov = A @ np.swapaxes(A, -1, -2) + 0.5 * np.eye(D)
    return w, mu, cov


def test_mixture_log_density_matches_scipy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    w, mu, cov = _random_mixture(rng, 5, 4, 3)
    got = mixture_log_density(X, w, mu, cov)
    for s in range(5):
        dens = sum(w[s, k] * stats.multivariate_normal(mu[s, k], cov[s, k]).pdf(X) for k in range(4))
        np.testing.assert_allclose(got[s], np.log(dens), rtol=1e-10)


def test_memberships_sum_to_one_and_match_bayes_rule():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 2))
    w, mu, cov = _random_mixture(rng, 1, 3, 2)
    p = membership_probabilities(X, w[0], mu[0], cov[0])
    joint = np.stack([w[0, k] * stats.multivariate_normal(mu[0, k], cov[0, k]).pdf(X) for k in range(3)], -1)
    np.testing.assert_allclose(p, joint / joint.sum(-1, keepdims=True), rtol=1e-10)


def test_chunking_gives_the_same_answer():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2))
    w, mu, cov = _random_mixture(rng, 7, 2, 2)
    whole = mixture_log_density(X, w, mu, cov)
    chunked = chunked_over_draws(mixture_log_density, X, w, mu, cov, max_elements=100)
    np.testing.assert_allclose(chunked, whole)


def test_the_fits_log_likelihood_loop_matches_scipy():
    """bayesmix.models._gmm_kernel.log_likelihood_of_draws, which fills every fit's log_likelihood group."""
    from bayesmix.inference._gmm_kernel import log_likelihood_of_draws

    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 3))  # blocks of 256 observations: two whole and one partial
    w, mu, cov = _random_mixture(rng, 4, 3, 3)
    w[1] = [0.0, 0.4, 0.6]  # an empty component (a DP's) contributes nothing
    got = log_likelihood_of_draws(X, w, mu, cov)
    # Split between threads by draw: the same numbers whatever the split.
    many = np.repeat(w, 3000, axis=0), np.repeat(mu, 3000, axis=0), np.repeat(cov, 3000, axis=0)
    np.testing.assert_array_equal(log_likelihood_of_draws(X, *many)[::3000], got)
    for s in range(4):
        dens = sum(w[s, k] * stats.multivariate_normal(mu[s, k], cov[s, k]).pdf(X) for k in range(3))
        np.testing.assert_allclose(got[s], np.log(dens), rtol=1e-12)
