r"""``exp`` and ``log`` that numba can vectorize, for the kernel's loops over observations.

numba lowers ``np.exp`` and ``np.log`` on scalars to calls into the C
library, one number at a time, and a loop containing such a call is not
vectorized. With Intel's SVML numba would substitute vector versions, but the
llvmlite wheels on PyPI are built without it. Written out as arithmetic on
the float's bits, both functions vectorize like any other loop body: in the
kernel's likelihood pass, 2,000 of each take about 1.5 us and 1.7 us against
5.6 us and 5.2 us through the C library (AVX-512, 2 cores).

:func:`exp_nonpositive` reduces :math:`x = n \ln 2 + r`, :math:`|r| \le
\tfrac12 \ln 2`, with :math:`\ln 2` split in two (Cody and Waite) so that
:math:`r` is exact, evaluates the Taylor polynomial of :math:`e^r` to degree
13 (truncation error below :math:`10^{-17}`) and multiplies by :math:`2^n`
built from its bits. :func:`log_positive` writes :math:`x = m\,2^e` with
:math:`m \in (\sqrt{2}/2, \sqrt{2}]` and sums :math:`\log m = 2
\operatorname{artanh} s = 2 (s + s^3/3 + \dots + s^{25}/25)`, :math:`s = (m -
1)/(m + 1)`, :math:`|s| < 0.172`. Measured against long-double references on
millions of points (``tests/test_vector_math.py``): at most 1.14 units in the
last place for ``exp`` (numpy's: 0.73) and 1.99 for ``log`` (numpy's: 0.57).
The kernel's log-density and gradient still match PyMC's to 1e-12 and 1e-9.

Callers compile with ``error_model="numpy"``: numba's default error model
checks every float division for zero, and that branch alone stops the
vectorizer.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

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
