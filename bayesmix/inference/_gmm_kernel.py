r"""A finite Gaussian mixture's log-density and its gradient, written out for numba.

:func:`bayesmix.models.gmm` with its default prior families (Dirichlet
weights, Normal means, HalfNormal scales, LKJ correlations) has, on the
sampler's unconstrained coordinates :math:`\theta`, the log-density

.. math::

    \log p(\theta \mid X) = \sum_i \operatorname{logsumexp}_k \big[\log w_k
        + \log \mathcal{N}(x_i \mid \mu_k, \Sigma_k)\big]
        + \log p(w, \mu, \sigma, C) + \log \lvert J(\theta) \rvert + \text{const},

with the coordinates of PyMC's transforms: :math:`w = \operatorname{softmax}(y,
-\textstyle\sum y)` (PyMC's ``simplex``), :math:`\mu_{kd} = c_d + s_d z_{kd}`
(:class:`~bayesmix.models._mixture.Standardized`), :math:`\sigma = e^u`, and
row :math:`i` of the correlation factor :math:`C` the unit vector along
:math:`(v_{i0}, \dots, v_{i,i-1}, 1)`
(:class:`~bayesmix.models._correlation.UnrolledCholeskyCorr`);
:math:`\Sigma_k = \operatorname{diag}(\sigma_k) C_k C_k^\top
\operatorname{diag}(\sigma_k) + \operatorname{diag}(\tau)`.

The gradient is taken by hand. With responsibilities :math:`\gamma_{ik}`,
:math:`r_{ik} = x_i - \mu_k` and :math:`v_{ik} = \Sigma_k^{-1} r_{ik}`, the
likelihood's derivatives are

.. math::

    \frac{\partial \ell}{\partial \log w_k} = \sum_i \gamma_{ik}, \qquad
    \frac{\partial \ell}{\partial \mu_k} = \sum_i \gamma_{ik} v_{ik}, \qquad
    \frac{\partial \ell}{\partial \Sigma_k} = \tfrac12 \sum_i \gamma_{ik}
        v_{ik} v_{ik}^\top - \tfrac12 \Big(\sum_i \gamma_{ik}\Big) \Sigma_k^{-1},

so one pass over the data accumulates :math:`K` counts, means and scatter
matrices, and the rest is :math:`D \times D` algebra per component, chained
through :math:`\Sigma = \operatorname{diag}(\sigma) R \operatorname{diag}(\sigma)`,
:math:`R = C C^\top` (:math:`\bar\sigma_i = 2 \sum_j \bar\Sigma_{ij} R_{ij}
\sigma_j`, :math:`\bar C = 2 (\bar\Sigma \circ \sigma\sigma^\top) C`) and the
transforms. Why by hand: on small data a NUTS gradient is bound by
per-operation overhead, not arithmetic; PyTensor's numba and JAX backends
spend 45-250 us a call on faithful where this loop needs a few, and its
compiled code is cached on disk, where nutpie's numba callbacks compile for
25 s or more each time. Tests compare value and gradient with PyMC's
``compile_logp`` and ``compile_dlogp`` for every covariance type.

Everything the kernel needs travels in one float64 array (``packed``, built
by :func:`bayesmix.inference._nutpie_gmm.pack`), so one compiled function serves every
data set and shape: a header of :data:`HEADER` numbers (the total length, N,
D, K, the covariance code, the LKJ shape, the constant terms, the number of
coordinates, whether the means are ordered, the Dirichlet process's settings and
the scale prior's family and shape), then the blocks named in
:func:`unpack`. With ordered means (``order_means=True``) the first feature's
means are :math:`c_1 + s_1 \operatorname{cumsum}(y_1, e^{y_2}, \dots, e^{y_K})`
(PyMC's ``ordered`` after :class:`~bayesmix.models._mixture.Standardized`).

Everything numba compiles for the kernel is in this one file: its own ``exp``
and ``log`` (below), the kernel, and nutpie's C callbacks. numba's disk cache
checks only the file a cached function is defined in, so a callback cached in
another file would keep an old kernel after an edit here, and sample a wrong
posterior without an error.
"""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

HEADER = 15
FULL, DIAG, SPHERICAL, TIED = 0, 1, 2, 3
HALF_NORMAL, INVERSE_GAMMA = 0, 1  # the scale prior's family (packed[13])
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


# --- exp and log that numba can vectorize, for the loops over observations ----------------------
#
# numba lowers ``np.exp`` and ``np.log`` on scalars to calls into the C
# library, one number at a time, and a loop containing such a call is not
# vectorized. With Intel's SVML numba would substitute vector versions, but the
# llvmlite wheels on PyPI are built without it. Written out as arithmetic on
# the float's bits, both functions vectorize like any other loop body: in the
# kernel's likelihood pass, 2,000 of each take about 1.5 us and 1.7 us against
# 5.6 us and 5.2 us through the C library (AVX-512, 2 cores).
#
# :func:`exp_nonpositive` reduces :math:`x = n \ln 2 + r`, :math:`|r| \le
# \tfrac12 \ln 2`, with :math:`\ln 2` split in two (Cody and Waite) so that
# :math:`r` is exact, evaluates the Taylor polynomial of :math:`e^r` to degree
# 13 (truncation error below :math:`10^{-17}`) and multiplies by :math:`2^n`
# built from its bits. :func:`log_positive` writes :math:`x = m\,2^e` with
# :math:`m \in (\sqrt{2}/2, \sqrt{2}]` and sums :math:`\log m = 2
# \operatorname{artanh} s = 2 (s + s^3/3 + \dots + s^{25}/25)`, :math:`s = (m -
# 1)/(m + 1)`, :math:`|s| < 0.172`. Measured against long-double references on
# millions of points (``tests/test_vector_math.py``): at most 1.14 units in the
# last place for ``exp`` (numpy's: 0.73) and 1.99 for ``log`` (numpy's: 0.57).
# The kernel's log-density and gradient still match PyMC's to 1e-12 and 1e-9.
#
# Callers compile with ``error_model="numpy"``: numba's default error model
# checks every float division for zero, and that branch alone stops the
# vectorizer.

_LOG2_E = 1.4426950408889634
_LN2_HIGH = 6.93147180369123816490e-01  # ln 2 to 32 bits: n * _LN2_HIGH is exact for |n| < 2**20
_LN2_LOW = 1.90821492927058770002e-10  # ln 2 - _LN2_HIGH
_ROUNDING_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding and subtracting it rounds to an integer
_SQRT_2 = 1.4142135623730951
_MANTISSA_BITS = (1 << 52) - 1
_EXPONENT_OF_ONE = 1023 << 52
#: Below this exp(x) is subnormal (smaller than 2.3e-308): :func:`exp_nonpositive` returns 0.
EXP_UNDERFLOW = -708.0


@intrinsic
def _as_float(typingctx, bits):
    """The float64 whose bits are the int64 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _as_int(typingctx, value):
    """The int64 holding the bits of the float64 ``value``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@numba.njit(cache=True, inline="always")
def exp_nonpositive(x):
    """:math:`e^x` for :math:`x \\le 0`: within 1.2 ulp down to -708, 0 below, NaN for NaN."""
    y = max(x, EXP_UNDERFLOW)
    n = (y * _LOG2_E + _ROUNDING_SHIFT) - _ROUNDING_SHIFT
    r = (y - n * _LN2_HIGH) - n * _LN2_LOW
    p = 1.0 / 6227020800.0  # 1 / 13!, then Horner down to 1 / 0!
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    power_of_two = _as_float((np.int64(n) + 1023) << 52)
    if x >= EXP_UNDERFLOW:
        return p * power_of_two
    return 0.0 if x < EXP_UNDERFLOW else x  # x is NaN when neither holds


@numba.njit(cache=True, inline="always")
def log_positive(x):
    """:math:`\\log x` for a normal (not subnormal) positive finite ``x``, within 2 ulp."""
    bits = _as_int(x)
    exponent = (bits >> 52) - 1023
    m = _as_float((bits & _MANTISSA_BITS) | _EXPONENT_OF_ONE)  # x / 2**exponent, in [1, 2)
    above = m > _SQRT_2
    m = 0.5 * m if above else m
    e = float(exponent + 1 if above else exponent)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = 1.0 / 25.0  # sum_j s2**j / (2j + 1), Horner from j = 12 down to 1
    p = p * s2 + 1.0 / 23.0
    p = p * s2 + 1.0 / 21.0
    p = p * s2 + 1.0 / 19.0
    p = p * s2 + 1.0 / 17.0
    p = p * s2 + 1.0 / 15.0
    p = p * s2 + 1.0 / 13.0
    p = p * s2 + 1.0 / 11.0
    p = p * s2 + 1.0 / 9.0
    p = p * s2 + 1.0 / 7.0
    p = p * s2 + 1.0 / 5.0
    p = p * s2 + 1.0 / 3.0
    return e * _LN2_HIGH + (2.0 * s + (2.0 * s * s2 * p + e * _LN2_LOW))


@numba.njit(cache=True, error_model="numpy")
def exp_nonpositive_array(x, out):
    """:func:`exp_nonpositive` over an array (for tests and benchmarks)."""
    for i in range(x.shape[0]):
        out[i] = exp_nonpositive(x[i])


@numba.njit(cache=True, error_model="numpy")
def log_positive_array(x, out):
    """:func:`log_positive` over an array (for tests and benchmarks)."""
    for i in range(x.shape[0]):
        out[i] = log_positive(x[i])


@numba.njit(cache=True)
def sizes(packed):
    """(n_obs, n_features, n_components, covariance code, n_scales, n_corr_blocks)."""
    n, d, k, code = int(packed[1]), int(packed[2]), int(packed[3]), int(packed[4])
    if code == SPHERICAL:
        n_scales = k
    elif code == TIED:
        n_scales = d
    else:
        n_scales = k * d
    n_corr = 0
    if d > 1 and code == FULL:
        n_corr = k
    elif d > 1 and code == TIED:
        n_corr = 1
    return n, d, k, code, n_scales, n_corr


@numba.njit(cache=True)
def unpack(packed):
    """The data and prior constants: X^T (D x N), a, prior means and sds, centre, spread, the scale prior's
    HalfNormal sigma or InverseGamma beta, floor."""
    n, d, k, _, n_scales, _ = sizes(packed)
    start = HEADER
    blocks = []
    for length in (n * d, k, k * d, k * d, d, d, n_scales, d):
        blocks.append(packed[start : start + length])
        start += length
    features_first, prior_mu, prior_sd = blocks[0].reshape((d, n)), blocks[2].reshape((k, d)), blocks[3].reshape((k, d))
    return features_first, blocks[1], prior_mu, prior_sd, blocks[4], blocks[5], blocks[6], blocks[7]


@numba.njit(cache=True)
def _scale_index(code, k, d, n_features):
    if code == SPHERICAL:
        return k
    if code == TIED:
        return d
    return k * n_features + d


@numba.njit(cache=True)
def _correlation_factor(v, n_features):
    """C from the bijector's coordinates (row-major strictly lower triangle) and the row norms s_i."""
    c = np.zeros((n_features, n_features))
    norms = np.ones(n_features)
    c[0, 0] = 1.0
    start = 0
    for i in range(1, n_features):
        s = 1.0
        for j in range(i):
            s += v[start + j] ** 2
        norms[i] = s
        inv = 1.0 / np.sqrt(s)
        for j in range(i):
            c[i, j] = v[start + j] * inv
        c[i, i] = inv
        start += i
    return c, norms


@numba.njit(cache=True)
def _cholesky(a):
    n = a.shape[0]
    lower = np.zeros_like(a)
    for j in range(n):
        s = a[j, j]
        for m in range(j):
            s -= lower[j, m] ** 2
        if s <= 0.0:
            return lower, False
        lower[j, j] = np.sqrt(s)
        for i in range(j + 1, n):
            t = a[i, j]
            for m in range(j):
                t -= lower[i, m] * lower[j, m]
            lower[i, j] = t / lower[j, j]
    return lower, True


@numba.njit(cache=True)
def weight_offset(packed):
    """1 where a Dirichlet-process concentration is a coordinate (it comes first), else 0."""
    return 1 if packed[9] and packed[10] == 0.0 else 0


@numba.njit(cache=True)
def log_concentration(theta, log_weight_last, packed):
    r"""A Dirichlet process's log concentration at the sampler's point.

    Given the weights, the concentration's posterior is
    :math:`\operatorname{Gamma}(a + T - 1,\; b - \log w_T)` (Gamma(a, b) prior,
    :math:`T - 1` sticks; the data enter only through the weights). The
    sampler's coordinate is not :math:`\log\alpha` but
    :math:`s = \log\alpha - \log(a + T - 1) + \log(b - \log w_T)`, the
    log of that conditional's draw over its mean: the funnel between
    :math:`\alpha` and the nearly empty sticks becomes a fixed one-dimensional
    density of :math:`s`. The map from :math:`(s, w)` to
    :math:`(\log\alpha, w)` has unit Jacobian, so the density is the model's
    own at the corresponding point.
    """
    if not weight_offset(packed):
        return np.log(packed[10])
    n_sticks = packed[3] - 1.0
    return theta[0] + np.log(packed[11] + n_sticks) - np.log(packed[12] - log_weight_last)


@numba.njit(cache=True)
def stick_log_weights(z):
    r"""Log-weights of the truncated stick-breaking construction from the sticks' coordinates.

    :math:`e_j = -\log(1 - v_j) = e^{z_j}`, so that
    :math:`\log w_j = \log(1 - e^{-e_j}) - \sum_{i<j} e_i` and
    :math:`\log w_T = -\sum_{i<T} e_i`. Given :math:`\alpha` each :math:`e_j` is
    Exponential(:math:`\alpha`), so the sticks are independent and every
    :math:`z_j` has the same shape, shifted by :math:`-\log\alpha`: a tail of
    empty components is a set of independent coordinates, where the simplex
    transform's coordinates of the same weights are cumulative sums.
    """
    n_sticks = z.size
    log_weights = np.empty(n_sticks + 1)
    cumulative = 0.0
    for j in range(n_sticks):
        e = np.exp(z[j])
        log_weights[j] = np.log(-np.expm1(-e)) - cumulative
        cumulative += e
    log_weights[n_sticks] = -cumulative
    return log_weights


@numba.njit(cache=True)
def _stick_breaking(theta, gradient, counts, w_start, kk, packed):
    r"""The sticks' and the concentration's log-density in the sampler's coordinates (s, z); their gradient,
    plus the likelihood's through the log-weights, is written into ``gradient``.

    Learned :math:`\alpha` (Gamma(a, b); :math:`A = a + T - 1`, :math:`E = \sum_j e_j`):
    :math:`A (s + \log A - \log(b + E)) - A e^s + \sum_j z_j`, the Gamma prior's normalizing
    constant being in the header's constants. Fixed :math:`\alpha`:
    :math:`(T - 1) \log\alpha - \alpha E + \sum_j z_j`. ``counts[j]`` is the likelihood's
    derivative in :math:`\log w_j`, and
    :math:`\partial \log w_j / \partial z_k = e_k ([j = k < T] / (e^{e_k} - 1) - [k < j])`.
    """
    n_sticks = kk - 1
    total, sum_z = 0.0, 0.0
    for j in range(n_sticks):
        sum_z += theta[w_start + j]
        total += np.exp(theta[w_start + j])
    if w_start:
        shape = packed[11] + n_sticks
        s = theta[0]
        logp = shape * (s + np.log(shape) - np.log(packed[12] + total)) - shape * np.exp(s) + sum_z
        gradient[0] = shape * (1.0 - np.exp(s))
        rate = shape / (packed[12] + total)  # the prior's derivative in e_k is -A / (b + E)
    else:
        rate = packed[10]
        logp = n_sticks * np.log(rate) - rate * total + sum_z
    later = 0.0  # sum of counts[j] over j > k, walked from the end
    for j in range(kk - 1, 0, -1):
        later += counts[j]
        k = j - 1
        e = np.exp(theta[w_start + k])
        gradient[w_start + k] = e * (counts[k] / np.expm1(e) - later - rate) + 1.0
    return logp


@numba.njit(cache=True)
def constrained(theta, packed):
    """Weights (K,), log-weights, means (K, D), scales, correlation factors (B, D, D) and covariances (K, D, D)."""
    _, n_features, n_components, code, n_scales, n_corr = sizes(packed)
    _, _, _, _, center, spread, _, floor = unpack(packed)
    kk, dd = n_components, n_features
    w_start = weight_offset(packed)
    if packed[9]:  # a Dirichlet process's sticks, z_j = log(-log(1 - v_j))
        log_weights = stick_log_weights(theta[w_start : w_start + kk - 1])
    else:  # weights: softmax of (y, -sum y)
        logits = np.empty(kk)
        total = 0.0
        for j in range(kk - 1):
            logits[j] = theta[w_start + j]
            total += theta[w_start + j]
        logits[kk - 1] = -total
        top = logits.max()
        log_norm = top + np.log(np.exp(logits - top).sum())
        log_weights = logits - log_norm
    weights = np.exp(log_weights)
    start = w_start + kk - 1
    means = np.empty((kk, dd))
    if packed[8]:  # ordered first feature: cumsum(y_0, e^y_1, ...), then the other features, standardized
        level = 0.0
        for k in range(kk):
            level += theta[start] if k == 0 else np.exp(theta[start + k])
            means[k, 0] = center[0] + spread[0] * level
            for d in range(1, dd):
                means[k, d] = center[d] + spread[d] * theta[start + kk + k * (dd - 1) + d - 1]
    else:
        for k in range(kk):
            for d in range(dd):
                means[k, d] = center[d] + spread[d] * theta[start + k * dd + d]
    start += kk * dd
    scales = np.exp(theta[start : start + n_scales])
    start += n_scales
    n_tri = dd * (dd - 1) // 2
    factors = np.zeros((max(n_corr, 1), dd, dd))
    for b in range(max(n_corr, 1)):
        if n_corr == 0:
            for d in range(dd):
                factors[b, d, d] = 1.0
        else:
            factor, _ = _correlation_factor(theta[start + b * n_tri : start + (b + 1) * n_tri], dd)
            for i in range(dd):
                for j in range(dd):
                    factors[b, i, j] = factor[i, j]
    covariances = np.empty((kk, dd, dd))
    for k in range(kk):
        c = factors[k if n_corr > 1 else 0]
        for i in range(dd):
            for j in range(dd):
                r = 0.0
                for m in range(min(i, j) + 1):
                    r += c[i, m] * c[j, m]
                covariances[k, i, j] = scales[_scale_index(code, k, i, dd)] * r * scales[_scale_index(code, k, j, dd)]
            covariances[k, i, i] += floor[i]
    return weights, log_weights, means, scales, factors, covariances


def log_likelihood_of_draws(x, weights, means, covariances):
    """log p(x_i | draw s) for every draw: (S, N) from weights (S, K), means (S, K, D), covariances (S, K, D, D).

    The same arithmetic as the likelihood of :func:`logp_and_gradient`, split
    over the draws between one thread per core (the loop releases the GIL);
    each draw is computed alone, so the result does not depend on the split.
    numpy's broadcast version (:func:`bayesmix.components._gaussian_density.mixture_log_density`)
    builds S x K x N x D temporaries: 7.3 s against 0.94 s on one thread for
    4,000 draws at N = 1e4, D = 2, K = 3 (0.47 s on two).
    """
    weights, means, covariances = (np.ascontiguousarray(a, dtype=float) for a in (weights, means, covariances))
    features_first = np.ascontiguousarray(np.asarray(x, dtype=float).T)
    out = np.empty((weights.shape[0], features_first.shape[1]))
    n_threads = min(os.cpu_count() or 1, 8, max(1, out.size // 100_000))
    bounds = np.linspace(0, out.shape[0], n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as pool:
        done = [
            pool.submit(_log_likelihood_of_draws, features_first, weights[a:b], means[a:b], covariances[a:b], out[a:b])
            for a, b in itertools.pairwise(bounds)
        ]
        for future in done:
            future.result()
    return out


@numba.njit(cache=True, nogil=True)
def _log_likelihood_of_draws(features_first, weights, means, covariances, out):
    n_draws, n_components, n_features = means.shape
    n_obs = features_first.shape[1]
    block = _new_block(n_components, n_features)
    for s in range(n_draws):
        chol, inverse_diagonal, constant, ok = _component_factors(covariances[s], np.log(weights[s]))
        if not ok:
            out[s] = np.nan
            continue
        for start in range(0, n_obs, BLOCK_SIZE):
            m = min(BLOCK_SIZE, n_obs - start)
            _block_log_densities(features_first, start, m, constant, means[s], chol, inverse_diagonal, block)
            _block_log_sum_exp(m, block)
            for i in range(m):
                out[s, start + i] = block.log_total[i]


# --- the likelihood, a block of observations at a time -----------------------------------------
# Each step is a loop over the block's observations with nothing but arithmetic in its body (the
# exp and log above), so LLVM vectorizes it: faithful K = 2's pass
# takes 3.7 us against 14 us as one loop over observations with the C library's exp and log.

#: Observations per block: a block's temporaries (K x D x 256 floats) stay in the L1 and L2 caches.
BLOCK_SIZE = 256


class _Block(NamedTuple):
    """Scratch space for one block of observations (a named tuple: numba caches no jitclass)."""

    white: np.ndarray  # (K, D, B): L_k^-1 (x_i - mu_k)
    joint: np.ndarray  # (K, B): log joint densities, then exp(joint - max_k joint)
    log_total: np.ndarray  # (B): log-sum-exp over components
    inverse_total: np.ndarray  # (B): 1 / sum_k exp(joint - max_k joint)
    v: np.ndarray  # (D, B): Sigma_k^-1 (x_i - mu_k)
    resp: np.ndarray  # (B): responsibilities of one component
    ones: np.ndarray  # (B)


@numba.njit(cache=True, nogil=True)
def _component_factors(covariances, log_weights):
    """Per component: the Cholesky factor L_k, 1 / diag(L_k) and log w_k - log|L_k| - D log(2 pi) / 2.

    The last item is False when a covariance is not positive definite (the
    others are then incomplete).
    """
    n_components, n_features = covariances.shape[0], covariances.shape[1]
    chol = np.empty((n_components, n_features, n_features))
    inverse_diagonal = np.empty((n_components, n_features))  # the passes multiply; they do not divide
    constant = np.empty(n_components)
    for k in range(n_components):
        lower, ok = _cholesky(covariances[k])
        if not ok:
            return chol, inverse_diagonal, constant, False
        for i in range(n_features):  # loops, not chol[k] = lower: numba compiles that with a formatted shape error
            for j in range(n_features):
                chol[k, i, j] = lower[i, j]
        constant[k] = log_weights[k] - n_features * _HALF_LOG_2PI
        for d in range(n_features):
            constant[k] -= np.log(chol[k, d, d])
            inverse_diagonal[k, d] = 1.0 / chol[k, d, d]
    return chol, inverse_diagonal, constant, True


@numba.njit(cache=True, nogil=True)
def _new_block(n_components, n_features):
    return _Block(
        np.empty((n_components, n_features, BLOCK_SIZE)),
        np.empty((n_components, BLOCK_SIZE)),
        np.empty(BLOCK_SIZE),
        np.empty(BLOCK_SIZE),
        np.empty((n_features, BLOCK_SIZE)),
        np.empty(BLOCK_SIZE),
        np.ones(BLOCK_SIZE),
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block_log_densities(features_first, start, m, constant, means, chol, inverse_diagonal, block):
    """joint[k, i] = constant[k] - |L_k^-1 (x_i - mu_k)|^2 / 2 and white[k, :, i] = L_k^-1 (x_i - mu_k)."""
    n_components, n_features = means.shape
    all_white, joint = block.white, block.joint
    for k in range(n_components):
        q = joint[k]
        q[:m] = 0.0
        for d in range(n_features):  # forward substitution, a feature at a time
            white = all_white[k, d]
            x, mu = features_first[d, start : start + m], means[k, d]
            for i in range(m):
                white[i] = x[i] - mu
            for j in range(d):
                c, previous = chol[k, d, j], all_white[k, j]
                for i in range(m):
                    white[i] -= c * previous[i]
            inverse = inverse_diagonal[k, d]
            for i in range(m):
                white[i] *= inverse
                q[i] += white[i] * white[i]
        for i in range(m):
            q[i] = constant[k] - 0.5 * q[i]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block_log_sum_exp(m, block):
    """log_total[i] = logsumexp_k joint[k, i]; joint[k, i] becomes exp(joint[k, i] - max_k joint[:, i]).

    The largest term's exp is exactly 1; inverse_total[i] is 1 / sum_k of the
    new joint[k, i], so responsibilities are joint * inverse_total. A column
    of -inf (every weight zero where the point is) gives -inf.
    """
    joint, top, total = block.joint, block.log_total, block.inverse_total
    for i in range(m):
        top[i] = joint[0, i]
    for k in range(1, joint.shape[0]):
        for i in range(m):
            top[i] = max(top[i], joint[k, i])
    total[:m] = 0.0
    for k in range(joint.shape[0]):
        for i in range(m):
            e = exp_nonpositive(joint[k, i] - top[i])
            joint[k, i] = e
            total[i] += e
    for i in range(m):
        log_total = top[i] + log_positive(total[i])
        total[i] = 1.0 / total[i]
        top[i] = log_total if top[i] != -np.inf else -np.inf


@numba.njit(cache=True, inline="always")
def _sum_of_products(a, b, c, m):
    """sum_i a[i] b[i] c[i] over the first m entries, in four interleaved sums (one fixed order)."""
    s0 = s1 = s2 = s3 = 0.0
    i = 0
    while i + 4 <= m:
        s0 += a[i] * b[i] * c[i]
        s1 += a[i + 1] * b[i + 1] * c[i + 1]
        s2 += a[i + 2] * b[i + 2] * c[i + 2]
        s3 += a[i + 3] * b[i + 3] * c[i + 3]
        i += 4
    while i < m:
        s0 += a[i] * b[i] * c[i]
        i += 1
    return (s0 + s1) + (s2 + s3)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block_accumulate(m, chol, inverse_diagonal, block, counts, sum_v, scatter):
    """Add the block's sums of gamma, gamma v and gamma v v^T (lower triangle) per component."""
    all_white, joint, _, inverse_total, v, resp, ones = block
    n_components, n_features = all_white.shape[0], all_white.shape[1]
    for k in range(n_components):
        for i in range(m):
            resp[i] = joint[k, i] * inverse_total[i]
        for d in range(n_features - 1, -1, -1):  # back substitution: L^T v = white, so v = Sigma^-1 (x - mu)
            vd, white = v[d], all_white[k, d]
            for i in range(m):
                vd[i] = white[i]
            for j in range(d + 1, n_features):
                c, later = chol[k, j, d], v[j]
                for i in range(m):
                    vd[i] -= c * later[i]
            inverse = inverse_diagonal[k, d]
            for i in range(m):
                vd[i] *= inverse
        counts[k] += _sum_of_products(resp, ones, ones, m)
        for d in range(n_features):
            sum_v[k, d] += _sum_of_products(resp, v[d], ones, m)
            for j in range(d + 1):
                scatter[k, d, j] += _sum_of_products(resp, v[d], v[j], m)


@numba.njit(cache=True)
def logp_and_gradient(theta, gradient, packed):
    """The model's log-density at ``theta``; its gradient is written into ``gradient``."""
    n_obs, dd, kk, code, n_scales, n_corr = sizes(packed)
    features_first, alpha, prior_mu, prior_sd, _, spread, scale_prior, _ = unpack(packed)
    eta = packed[5]
    weights, log_weights, means, scales, factors, covariances = constrained(theta, packed)
    gradient[:] = 0.0
    n_tri = dd * (dd - 1) // 2
    w_start = weight_offset(packed)
    z_start = w_start + kk - 1
    u_start = z_start + kk * dd
    v_start = u_start + n_scales

    # --- the likelihood: one pass accumulating counts, sum of v and scatter of v per component
    chol, inverse_diagonal, constant, ok = _component_factors(covariances, log_weights)
    if not ok:
        return np.nan
    counts = np.zeros(kk)
    sum_v = np.zeros((kk, dd))
    scatter = np.zeros((kk, dd, dd))
    block = _new_block(kk, dd)
    logp = packed[6]
    for start in range(0, n_obs, BLOCK_SIZE):
        m = min(BLOCK_SIZE, n_obs - start)
        _block_log_densities(features_first, start, m, constant, means, chol, inverse_diagonal, block)
        _block_log_sum_exp(m, block)
        for i in range(m):
            logp += block.log_total[i]
        _block_accumulate(m, chol, inverse_diagonal, block, counts, sum_v, scatter)

    # --- weights: their prior, and the chain rule from the log-weights to the sampler's coordinates
    last = kk - 1
    if packed[9]:
        logp += _stick_breaking(theta, gradient, counts, w_start, kk, packed)
    else:  # Dirichlet(a) on the simplex transform's coordinates, softmax chain rule
        g_log_w = counts + alpha - 1.0
        for k in range(kk):
            logp += (alpha[k] - 1.0) * log_weights[k]
        g_total = g_log_w.sum()
        logits_sum = 0.0
        for j in range(kk - 1):
            logits_sum += theta[w_start + j]
        expanded = np.zeros(kk)
        for j in range(kk - 1):
            expanded[j] = theta[w_start + j] + logits_sum
        top = expanded.max()
        log_jacobian = np.log(kk) + kk * logits_sum - kk * (top + np.log(np.exp(expanded - top).sum()))
        logp += log_jacobian
        for j in range(kk - 1):
            gradient[w_start + j] = (
                (g_log_w[j] - g_log_w[last])
                - g_total * (weights[j] - weights[last])
                + kk * (weights[last] - weights[j])
            )

    # --- means: Normal prior in the data's units, sampled standardized (and ordered)
    g_means = np.empty((kk, dd))
    for k in range(kk):
        for d in range(dd):
            gap = (means[k, d] - prior_mu[k, d]) / prior_sd[k, d]
            logp -= 0.5 * gap * gap
            g_means[k, d] = spread[d] * (sum_v[k, d] - gap / prior_sd[k, d])
    if packed[8]:
        tail = 0.0  # sum over k >= j of the first feature's gradient, walked from the top
        for j in range(kk - 1, -1, -1):
            tail += g_means[j, 0]
            if j == 0:
                gradient[z_start] = tail
            else:  # the increment e^y_j, and the ordered transform's Jacobian sum_j y_j
                gradient[z_start + j] = np.exp(theta[z_start + j]) * tail + 1.0
                logp += theta[z_start + j]
            for d in range(1, dd):
                gradient[z_start + kk + j * (dd - 1) + d - 1] = g_means[j, d]
    else:
        for k in range(kk):
            for d in range(dd):
                gradient[z_start + k * dd + d] = g_means[k, d]

    # --- covariances: dl/dSigma_k = (scatter_k - counts_k Sigma_k^-1) / 2, then through scales and C
    g_factors = np.zeros((max(n_corr, 1), dd, dd))
    for k in range(kk):
        inverse_chol = np.zeros((dd, dd))
        for j in range(dd):
            for i in range(j, dd):
                t = 1.0 if i == j else 0.0
                for m in range(j, i):
                    t -= chol[k, i, m] * inverse_chol[m, j]
                inverse_chol[i, j] = t / chol[k, i, i]
        g_sigma = np.empty((dd, dd))
        for i in range(dd):
            for j in range(i + 1):
                precision = 0.0
                for m in range(i, dd):
                    precision += inverse_chol[m, i] * inverse_chol[m, j]
                g = 0.5 * (scatter[k, i, j] - counts[k] * precision)
                g_sigma[i, j] = g
                g_sigma[j, i] = g
        b = k if n_corr > 1 else 0
        c = factors[b]
        for i in range(dd):
            si = scales[_scale_index(code, k, i, dd)]
            g_scale = 0.0
            for j in range(dd):
                sj = scales[_scale_index(code, k, j, dd)]
                r = 0.0
                for m in range(min(i, j) + 1):
                    r += c[i, m] * c[j, m]
                g_scale += 2.0 * g_sigma[i, j] * r * sj
                if n_corr > 0:  # dC = 2 (g_Sigma o s s^T) C
                    for m in range(j + 1):
                        g_factors[b, i, m] += 2.0 * g_sigma[i, j] * si * sj * c[j, m]
            # sigma = exp(u): chain rule
            gradient[u_start + _scale_index(code, k, i, dd)] += g_scale * si

    # --- scales: HalfNormal(sigma) or InverseGamma(a, beta) prior, and the log transform's Jacobian
    inverse_gamma, shape = packed[13] == INVERSE_GAMMA, packed[14]
    for s in range(n_scales):
        u = theta[u_start + s]
        if inverse_gamma:  # -(a + 1) log sigma - beta / sigma, plus u
            ratio = scale_prior[s] * np.exp(-u)  # beta / sigma, with no division to fail at sigma = 0
            logp += -shape * u - ratio
            gradient[u_start + s] += ratio - shape
        else:
            ratio = scales[s] / scale_prior[s]
            logp += -0.5 * ratio * ratio + u
            gradient[u_start + s] += 1.0 - ratio * ratio

    # --- correlations: LKJ prior and the bijector's Jacobian, both in log s_i; then dC -> dv
    for b in range(n_corr):
        start = v_start + b * n_tri
        c = factors[b]
        row = 0
        for i in range(1, dd):
            s = 1.0
            for j in range(i):
                s += theta[start + row + j] ** 2
            # LKJ: (2 eta - 2 + D - (i + 1)) log C_ii; Jacobian: (i + 2) log C_ii; log C_ii = -log(s_i) / 2
            power = (2.0 * eta - 2.0 + dd - (i + 1)) + (i + 2)
            logp -= 0.5 * power * np.log(s)
            inv = 1.0 / np.sqrt(s)
            along = g_factors[b, i, i] * c[i, i]
            for j in range(i):
                along += g_factors[b, i, j] * c[i, j]
            for j in range(i):
                y = theta[start + row + j]
                gradient[start + row + j] = g_factors[b, i, j] * inv - y * along / s - power * y / s
            row += i
    return logp


# --- nutpie's C callbacks (bayesmix.inference._nutpie_gmm builds the model around them) ------------------


@functools.cache
def nutpie_callbacks():
    """nutpie's log-density and draw-expansion callbacks as numba C functions: (logp, expand).

    Compiled on the first call, not on import: a ``numba.cfunc`` compiles
    when it is defined, and from an empty cache that takes about 14 s, which
    ``import bayesmix`` should not pay. Later processes load both from numba's
    disk cache.
    """
    return (
        numba.cfunc(_LOGP_SIGNATURE, cache=True)(_logp_callback),
        numba.cfunc(_EXPAND_SIGNATURE, cache=True)(_expand_callback),
    )


_LOGP_SIGNATURE = numba.types.int64(
    numba.types.uint64,
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.voidptr,
)
_EXPAND_SIGNATURE = numba.types.int64(
    numba.types.uint64,
    numba.types.uint64,
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.voidptr,
)


@numba.njit(cache=True)
def _put(out, start, values):
    for i in range(values.size):
        out[start + i] = values.flat[i]
    return start + values.size


def _logp_callback(dim, x_, out_, logp_, user_data_):
    """nutpie's log-density callback (see :func:`nutpie_callbacks`): :func:`logp_and_gradient` on ``user_data``."""
    packed = numba.carray(user_data_, (int(numba.carray(user_data_, (1,), np.float64)[0]),), np.float64)
    if dim != int(packed[7]):
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (dim,))
    logp = numba.carray(logp_, (1,))
    value = logp_and_gradient(x, out, packed)
    logp[0] = value
    if not np.all(np.isfinite(out)):
        return 3
    if not np.isfinite(value):
        return 4
    return 0


def _expand_callback(dim, expanded, x_, out_, user_data_):
    """nutpie's callback for the stored draws (see :func:`nutpie_callbacks`): coordinates, then variables."""
    packed = numba.carray(user_data_, (int(numba.carray(user_data_, (1,), np.float64)[0]),), np.float64)
    if dim != int(packed[7]):
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (expanded,))
    weights, log_weights, means, scales, factors, covariances = constrained(x, packed)
    n_corr = sizes(packed)[5]
    ordered = packed[8] != 0.0
    free_concentration = weight_offset(packed)
    size = dim + free_concentration + weights.size + means.size * (2 if ordered else 1) + scales.size
    if expanded != size + covariances.size + (factors.size if n_corr else 0):
        return -1
    # nutpie's draws: the sampler's values, then the model's variables (_nutpie_gmm._expected_names).
    one_component = weights.size == 1  # then weights is a deterministic, stored after the free variables
    start = _put(out, 0, x)
    if packed[9]:  # store PyMC's values (log alpha, the simplex transform's), not the sampler's coordinates
        shift = log_weights.mean()
        for j in range(weights.size - 1):
            out[free_concentration + j] = log_weights[j] - shift
    if free_concentration:
        out[0] = log_concentration(x, log_weights[-1], packed)
        out[start] = np.exp(out[0])
        start += 1
    if not one_component:
        start = _put(out, start, weights)
    if ordered:
        start = _put(out, start, np.ascontiguousarray(means[:, 0]))
        start = _put(out, start, np.ascontiguousarray(means[:, 1:]).ravel())
    else:
        start = _put(out, start, means.ravel())
    start = _put(out, start, scales)
    if n_corr:
        start = _put(out, start, factors.ravel())
    if ordered:
        start = _put(out, start, means.ravel())
    if one_component:
        start = _put(out, start, weights)
    _put(out, start, covariances.ravel())
    return 0
