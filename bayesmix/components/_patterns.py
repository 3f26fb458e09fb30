"""Rows grouped by which cells they miss, for families whose features are dependent within a component.

A Gaussian's density of a row with missing cells is the marginal density of its
observed sub-vector, :math:`\\mathcal N(x_o \\mid \\mu_o, \\Sigma_{oo})`: one
sub-covariance per pattern of observed cells. Tables have few such patterns,
so the log-density is computed pattern by pattern, each on its rows and
observed columns, and the blocks are put back in row order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from bayesmix.components._linalg import cholesky


def missing_patterns(missing: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(rows, observed columns)`` of every pattern of missing cells in the (n_obs, D) boolean ``missing``."""
    patterns, inverse = np.unique(missing, axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    return [(np.flatnonzero(inverse == p), np.flatnonzero(~pattern)) for p, pattern in enumerate(patterns)]


def logp_by_pattern(missing: np.ndarray, block: Callable[[np.ndarray, np.ndarray], pt.TensorVariable]):
    """PyTensor: the (n_obs, K) log-densities from ``block(rows, observed_columns)``, one call per pattern."""
    patterns = missing_patterns(missing)
    blocks = [block(rows, columns) for rows, columns in patterns]
    inverse = np.argsort(np.concatenate([rows for rows, _ in patterns]))
    return pt.concatenate(blocks, axis=0)[inverse]


def elliptical_logp_by_pattern(
    value, means, matrices, chol, missing: np.ndarray, *, diagonal: bool, logp: Callable
) -> pt.TensorVariable:
    """PyTensor: an elliptical family's (n_obs, K) log-densities of each row's observed cells.

    The marginal of the observed columns :math:`o` has location :math:`\\mu_o` and matrix
    :math:`\\Sigma_{oo}` (Gaussian: covariance; Student-t: scale, the same degrees of freedom).
    ``logp(x, means, factor, n_features)`` is the family's complete-data log-density given a lower
    Cholesky factor; ``chol`` is the full matrices' factor, used as it is where every column is observed.
    """
    n_features = missing.shape[1]

    def observed_block(rows, columns):
        if columns.size == 0:  # nothing observed: probability one
            return pt.zeros((rows.size, means.shape[0]))
        x, d = value[rows[:, None], columns], columns.size
        if d == n_features:
            return logp(x, means, chol, d)
        sub = matrices[:, columns[:, None], columns]
        factor = pt.sqrt(sub) if d == 1 or diagonal else cholesky(sub, d)  # sqrt: elementwise, zero off
        return logp(x, means[:, columns], factor, d)

    return logp_by_pattern(missing, observed_block)


def log_density_by_pattern(
    X: np.ndarray, n_components: int, batch_shape: tuple, block: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """numpy: the (..., n_obs, K) log-densities from ``block(rows, observed_columns)``, one call per pattern;
    a row with no observed cell has log-density 0 (its density integrates to one)."""
    out = np.zeros((*batch_shape, X.shape[0], n_components))
    for rows, columns in missing_patterns(np.isnan(X)):
        if columns.size:
            out[..., rows, :] = block(rows, columns)
    return out


@dataclass(frozen=True)
class Conditional:
    """The missing cells of rows given their observed ones, under elliptical components (numpy).

    ``location`` (..., m) is :math:`\\mu_m + \\Sigma_{mo}\\Sigma_{oo}^{-1}(x_o - \\mu_o)`, ``matrix``
    (..., m, m) is :math:`\\Sigma_{mm} - \\Sigma_{mo}\\Sigma_{oo}^{-1}\\Sigma_{om}` (the covariance of a Gaussian,
    the scale of a Student-t before its :math:`(\\nu + \\delta^2_o)/(\\nu + p_o)` factor) and ``delta2`` (...)
    the observed cells' squared Mahalanobis distance :math:`\\delta^2_o`.
    """

    location: np.ndarray
    matrix: np.ndarray
    delta2: np.ndarray


def conditional_on_observed(
    x_observed: np.ndarray, means: np.ndarray, matrices: np.ndarray, observed: np.ndarray, hidden: np.ndarray
) -> Conditional:
    """Condition the ``hidden`` columns on the ``observed`` ones; ``x_observed`` (..., o), ``means`` (..., D)
    and ``matrices`` (..., D, D) broadcast against each other (a row per component, or a component per row)."""
    s_oo = matrices[..., observed[:, None], observed]
    s_om = matrices[..., observed[:, None], hidden]
    residual = x_observed - means[..., observed]
    gain = np.swapaxes(np.linalg.solve(s_oo, s_om), -1, -2)  # S_mo S_oo^-1, (..., m, o)
    whitened = np.linalg.solve(s_oo, residual[..., None])[..., 0]  # S_oo^-1 (x_o - mu_o)
    return Conditional(
        location=means[..., hidden] + np.einsum("...mo,...o->...m", gain, residual),
        matrix=matrices[..., hidden[:, None], hidden] - gain @ s_om,
        delta2=np.einsum("...o,...o->...", residual, whitened),
    )
