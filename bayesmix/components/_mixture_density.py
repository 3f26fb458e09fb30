r"""Mixture log-densities and memberships in numpy, for any component family.

With weights :math:`w_k` and the family's component density :math:`f`,

.. math::

    \log p(x) = \operatorname{logsumexp}_k \big[\log w_k + \log f(x \mid \theta_k)\big],
    \qquad
    p(z = k \mid x) = \frac{w_k f(x \mid \theta_k)}{p(x)}.

Every function broadcasts over leading draw axes of the parameters, so one call
evaluates many posterior draws; :func:`chunked_over_draws` bounds the memory.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def joint_log_density(family, X: np.ndarray, weights: np.ndarray, *params: np.ndarray) -> np.ndarray:
    """``log w_k + log f(x_i | theta_k)``, shape (..., n_obs, n_components)."""
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    return family.log_density(X, *params) + log_w[..., None, :]


def mixture_log_density(family, X: np.ndarray, weights: np.ndarray, *params: np.ndarray) -> np.ndarray:
    """Pointwise mixture log-density, shape (..., n_obs)."""
    return logsumexp(joint_log_density(family, X, weights, *params), axis=-1)


def membership_probabilities(family, X: np.ndarray, weights: np.ndarray, *params: np.ndarray) -> np.ndarray:
    """Membership probabilities p(z_i = k | x_i, theta), shape (..., n_obs, K)."""
    joint = joint_log_density(family, X, weights, *params)
    return np.exp(joint - logsumexp(joint, axis=-1, keepdims=True))


def chunked_over_draws(func, X: np.ndarray, *params: np.ndarray, max_elements: int = 2**25):
    """Apply ``func(X, *params)`` over a flat leading draw axis in memory-bounded chunks."""
    n_draws = params[0].shape[0]
    n_components = params[0].shape[1]
    per_draw = max(1, X.shape[0] * n_components * X.shape[1])
    step = max(1, max_elements // per_draw)
    pieces = [func(X, *(p[i : i + step] for p in params)) for i in range(0, n_draws, step)]
    return np.concatenate(pieces, axis=0)


def mean_over_draws(func, X: np.ndarray, *params: np.ndarray, max_elements: int = 2**25) -> np.ndarray:
    """The mean of ``func(X, *params)`` over a flat leading draw axis, in memory-bounded chunks of draws
    (and never more than one chunk's values at once, unlike ``chunked_over_draws(...).mean(0)``)."""
    n_draws = params[0].shape[0]
    per_draw = max(1, X.shape[0] * params[0].shape[1] * X.shape[1])
    step = max(1, max_elements // per_draw)
    total = None
    for i in range(0, n_draws, step):
        chunk = func(X, *(p[i : i + step] for p in params)).sum(axis=0)
        total = chunk if total is None else total + chunk
    return total / n_draws
