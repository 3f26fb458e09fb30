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

A row with missing (NaN) cells has the marginal density of its observed
sub-vector, :math:`\\mathcal N(x_o \\mid \\mu_o, \\Sigma_{oo})`.
"""

from __future__ import annotations

import numpy as np

from bayesmix.components._patterns import log_density_by_pattern

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
        Rows with NaN cells get the marginal density of their observed cells.
    """
    if np.isnan(X).any():

        def observed_block(rows, columns):
            sub = covariances[..., columns[:, None], columns]
            return component_log_density(X[np.ix_(rows, columns)], means[..., columns], sub)

        return log_density_by_pattern(X, means.shape[-2], means.shape[:-2], observed_block)
    chol = np.linalg.cholesky(covariances)  # (..., K, D, D)
    diff = X[..., None, :, :] - means[..., :, None, :]  # (..., K, N, D)
    z = np.linalg.solve(chol, np.swapaxes(diff, -1, -2))  # (..., K, D, N)
    mahalanobis = np.einsum("...dn,...dn->...n", z, z)  # (..., K, N)
    log_det = np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)  # (..., K)
    n_features = X.shape[-1]
    logp = -0.5 * mahalanobis - log_det[..., None] - 0.5 * n_features * _LOG_2PI
    return np.swapaxes(logp, -1, -2)
