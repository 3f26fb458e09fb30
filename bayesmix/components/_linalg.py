r"""Linear algebra of a batch of small matrices, unrolled into elementwise operations.

A mixture's component covariances are K small D x D matrices. PyTensor's
batched Cholesky factorization and triangular solve are ``Blockwise``
operations: one LAPACK (JAX, numba) or Python (C backend) call per matrix and
per gradient, which on small data costs more than the arithmetic. With D
known when the model is built, both unroll into :math:`O(D^3)` and
:math:`O(D^2)` elementwise operations over the whole batch, which every
backend fuses. Used up to :data:`MAX_UNROLLED_FEATURES` features; the graph
grows as :math:`D^3 / 6`, so wider data keep the ``Blockwise`` operations.
"""

from __future__ import annotations

import pytensor.tensor as pt

MAX_UNROLLED_FEATURES = 6


def unrolled(n_features: int) -> bool:
    """Whether matrices of this size are factorized by the unrolled code."""
    return n_features <= MAX_UNROLLED_FEATURES


def gram(factor, n_features: int):
    r""":math:`L L^\top` for a batch of (..., D, D) matrices ``factor``."""
    if not unrolled(n_features):
        return factor @ factor.mT
    return (factor[..., :, None, :] * factor[..., None, :, :]).sum(-1)


def cholesky(matrix, n_features: int):
    r"""Lower Cholesky factors of a batch of (..., D, D) symmetric positive-definite matrices.

    Cholesky-Banachiewicz, row by row:
    :math:`L_{ij} = (A_{ij} - \sum_{k<j} L_{ik} L_{jk}) / L_{jj}` below the
    diagonal and :math:`L_{ii} = (A_{ii} - \sum_{k<i} L_{ik}^2)^{1/2}`.
    """
    if not unrolled(n_features):
        return pt.linalg.cholesky(matrix)
    D = n_features
    factor = [[None] * D for _ in range(D)]
    for i in range(D):
        for j in range(i + 1):
            rest = matrix[..., i, j] - sum((factor[i][k] * factor[j][k] for k in range(j)), start=0.0)
            factor[i][j] = pt.sqrt(rest) if i == j else rest / factor[j][j]
    zero = pt.zeros_like(factor[0][0])
    rows = [pt.stack([factor[i][j] if j <= i else zero for j in range(D)], axis=-1) for i in range(D)]
    return pt.stack(rows, axis=-2)


def log_determinant(factor, n_features: int):
    r""":math:`\log\det(L L^\top) / 2 = \sum_i \log L_{ii}` for a batch of lower factors (..., D, D).

    Unrolled, the diagonal is read entry by entry, so the gradient is D
    elementwise terms rather than a scatter onto the diagonal of a batch of zeros.
    """
    if not unrolled(n_features):
        return pt.log(pt.diagonal(factor, axis1=-2, axis2=-1)).sum(-1)
    return sum(pt.log(factor[..., i, i]) for i in range(n_features))


def whiten(factor, residuals, n_features: int):
    r""":math:`L^{-1} r` for lower factors (K, D, D) and residuals (..., K, D), by forward substitution.

    :math:`z_i = (r_i - \sum_{k<i} L_{ik} z_k) / L_{ii}`: elementwise over the
    residuals, with no inverse of :math:`L` formed.
    """
    if not unrolled(n_features):
        inverse = pt.linalg.solve_triangular(factor, pt.broadcast_to(pt.eye(n_features), factor.shape), lower=True)
        return (inverse * residuals[..., None, :]).sum(-1)
    z = []
    for i in range(n_features):
        partial = residuals[..., i] - sum((factor[..., i, k] * z[k] for k in range(i)), start=0.0)
        z.append(partial / factor[..., i, i])
    return pt.stack(z, axis=-1)


def mahalanobis(value, means, factor, n_features: int, diagonal: bool):
    r"""Squared distances :math:`\lVert L_k^{-1}(x_i - \mu_k)\rVert^2` (N, K) and :math:`\sum_d \log L_{k,dd}` (K,)
    for data (N, D), means (K, D) and lower factors (K, D, D); a division where the factors are diagonal."""
    residuals = value[:, None, :] - means  # (N, K, D)
    if diagonal or n_features == 1:
        sd = pt.diagonal(factor, axis1=-2, axis2=-1)
        return pt.sqr(residuals / sd).sum(-1), pt.log(sd).sum(-1)
    return pt.sqr(whiten(factor, residuals, n_features)).sum(-1), log_determinant(factor, n_features)
