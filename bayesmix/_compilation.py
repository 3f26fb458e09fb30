"""PyTensor compilation whose numbers do not depend on PyTensor's compile cache.

PyTensor 3 compiles graphs with Numba, by default under LLVM's fast-math flags
(reassociation, contraction into fused multiply-adds), and caches each op's
machine code on disk. A process that compiles a graph afresh lets LLVM inline
the ops into one function and rearrange the arithmetic across them; a process
that finds them in the cache links the ops compiled separately. Under fast math
the two round differently in the last bit: for faithful, K = 2, full
covariance, one entry of the log-density gradient (27.6) differed by 3.6e-15
between a cold and a warm cache. NUTS amplifies that to about 1e-6 in the draws
within a few hundred iterations, so PyMC's own NUTS gave other draws whenever
one of two processes compiled and the other read the cache. Without fast math
LLVM may not change the arithmetic, and the two agree bit for bit. Measured
cost, faithful K = 2 full on a warm cache: PyMC's NUTS (2 x 500 + 500) 8.2 s
against 9.0 s with fast math, ADVI (10,000 steps) 8.9 s against 9.1 s; a cold
compilation takes as long either way.
"""

from __future__ import annotations

from pytensor import config


def exact_arithmetic() -> config.change_flags:
    """Context in which PyTensor compiles without fast math (see the module docstring)."""
    return config.change_flags(numba__fastmath=False)
