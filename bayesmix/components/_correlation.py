r"""The unconstrained coordinates of an LKJ correlation Cholesky factor, entry by entry.

PyMC's :class:`~pymc.distributions.transforms.CholeskyCorrTransform` maps a
vector :math:`y \in \mathbb{R}^{D(D-1)/2}` to the Cholesky factor :math:`C` of
a correlation matrix (TensorFlow Probability's ``CorrelationCholesky``
bijector): row :math:`i` of :math:`C` is the unit vector along
:math:`(y_{i0}, \dots, y_{i,i-1}, 1, 0, \dots, 0)`,

.. math::

    s_i = 1 + \sum_{j<i} y_{ij}^2, \qquad
    C_{ii} = s_i^{-1/2}, \qquad C_{ij} = y_{ij}\, s_i^{-1/2} \quad (j < i),

with log-Jacobian :math:`\sum_i (i + 2) \log C_{ii}` (rows counted from 0).
PyMC builds it from a spiral fill, a padding, a scatter onto the diagonal and
a row norm, whose gradients are a Python-level ``OpFromGraph`` and more
scatters. :class:`UnrolledCholeskyCorr` is the same bijector written out entry by entry
(:math:`y` in row-major order of the strictly lower triangle instead of the
spiral), so every backend sees elementwise arithmetic on K-vectors. On
faithful (K = 2, full covariance; ``python benchmarks/gradient_cost.py
--pytensor c``, two interleaved runs each on 2 cores) one log-density +
gradient call under PyTensor's C backend (then ADVI's) went from 423-485 us to
242-331 us, and nutpie's sampling (JAX) from 11.5-11.8 s to 10.2-10.5 s
(together with :func:`bayesmix.models._linalg.log_determinant`). Used up to
:data:`~bayesmix.models._linalg.MAX_UNROLLED_FEATURES` features. The
distribution is untouched: :class:`pymc.LKJCorr` keeps its log-density, its
normalizing constant and its random draws.
"""

from __future__ import annotations

import pytensor.tensor as pt
from pymc.distributions.transforms import CholeskyCorrTransform


class UnrolledCholeskyCorr(CholeskyCorrTransform):
    """PyMC's correlation-Cholesky bijector for a known, small ``n``, as elementwise operations."""

    name = "cholesky_corr"

    def __init__(self, n: int):
        super().__init__(n=n, upper=False)

    def _off_diagonal(self, y, i: int) -> list:
        """The unconstrained entries :math:`y_{i0}, \\dots, y_{i,i-1}` of row ``i``."""
        start = i * (i - 1) // 2
        return [y[..., start + j] for j in range(i)]

    def _row_norms_squared(self, y) -> list:
        r""":math:`s_i = 1 + \sum_{j<i} y_{ij}^2` for rows 1 to n - 1."""
        return [1.0 + sum(pt.sqr(v) for v in self._off_diagonal(y, i)) for i in range(1, self.n)]

    def backward(self, value, *inputs):
        y = pt.as_tensor(value)
        one = pt.ones_like(y[..., 0])
        zero = pt.zeros_like(one)
        rows = [[one] + [zero] * (self.n - 1)]
        for i, norm_squared in enumerate(self._row_norms_squared(y), start=1):
            diagonal = pt.reciprocal(pt.sqrt(norm_squared))
            below = [v * diagonal for v in self._off_diagonal(y, i)]
            rows.append(below + [diagonal] + [zero] * (self.n - i - 1))
        return pt.stack([pt.stack(row, axis=-1) for row in rows], axis=-2)

    def forward(self, value, *inputs):
        factor = pt.as_tensor(value)
        entries = [factor[..., i, j] / factor[..., i, i] for i in range(1, self.n) for j in range(i)]
        return pt.stack(entries, axis=-1)

    def log_jac_det(self, value, *inputs):
        y = pt.as_tensor(value)
        # (i + 2) log C_ii = -(i + 2) / 2 log s_i
        norms = self._row_norms_squared(y)
        return sum(-0.5 * (i + 2) * pt.log(norm_squared) for i, norm_squared in enumerate(norms, start=1))
