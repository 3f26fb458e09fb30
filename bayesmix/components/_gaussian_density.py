"""Vectorized Gaussian-mixture log-densities in numpy.

These are the reference computations behind the pointwise log-likelihood of a
fit, relabelling by membership probabilities, and predictions. Every function
broadcasts over leading "draw" dimensions, so one call evaluates all posterior
draws at once.

For a mixture with weights :math:`w_k`, means :math:`\\mu_k` and covariances
:math:`\\Sigma_k = L_k L_k^\\top`,

.. math::

    \\log p(x) = \\operatorname{logsumexp}_k \\big[\\log w_k
        + \\log \\mathcal{N}(x \\mid \\mu_k, \\Sigma_k)\\big],
    \\qquad
    \\log \\mathcal{N}(x \\mid \\mu, LL^\\top) = -\\tfrac12 \\lVert L^{-1}(x-\\mu)\\rVert^2
        - \\textstyle\\sum_d \\log L_{dd} - \\tfrac{D}{2}\\log 2\\pi .
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

_LOG_2PI = np.log(2.0 * np.pi)


def component_log_density(X: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """Log-density of every observation under every component.

    Parameters
    ----------
    X : ndarray, shape (n_obs, n_features)
    means : ndarray, shape (..., n_components, n_features)
    covariances : ndarray, shape (..., n_components, n_features, n_features)

    Returns
    -------
    ndarray, shape (..., n_obs, n_components)
    """
    chol = np.linalg.cholesky(covariances)  # (..., K, D, D)
    diff = X[..., None, :, :] - means[..., :, None, :]  # (..., K, N, D)
    z = np.linalg.solve(chol, np.swapaxes(diff, -1, -2))  # (..., K, D, N)
    mahalanobis = np.einsum("...dn,...dn->...n", z, z)  # (..., K, N)
    log_det = np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)  # (..., K)
    n_features = X.shape[-1]
    logp = -0.5 * mahalanobis - log_det[..., None] - 0.5 * n_features * _LOG_2PI
    return np.swapaxes(logp, -1, -2)


def joint_log_density(X: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """``log w_k + log N(x_i | mu_k, Sigma_k)``, shape (..., n_obs, n_components)."""
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    return component_log_density(X, means, covariances) + log_w[..., None, :]


def mixture_log_density(X: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """Pointwise mixture log-density, shape (..., n_obs)."""
    return logsumexp(joint_log_density(X, weights, means, covariances), axis=-1)


def membership_probabilities(
    X: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> np.ndarray:
    """Posterior membership probabilities p(z_i = k | x_i, theta), shape (..., n_obs, K)."""
    joint = joint_log_density(X, weights, means, covariances)
    return np.exp(joint - logsumexp(joint, axis=-1, keepdims=True))


def chunked_over_draws(func, X: np.ndarray, *params: np.ndarray, max_elements: int = 2**25):
    """Apply ``func(X, *params)`` over a flat leading draw axis in memory-bounded chunks."""
    n_draws = params[0].shape[0]
    n_components = params[0].shape[1]
    per_draw = max(1, X.shape[0] * n_components * X.shape[1])
    step = max(1, max_elements // per_draw)
    pieces = [func(X, *(p[i : i + step] for p in params)) for i in range(0, n_draws, step)]
    return np.concatenate(pieces, axis=0)
