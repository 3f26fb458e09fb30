"""How bayesmix compiles the PyTensor graphs it evaluates itself: with JAX.

That is ADVI (its step, its draws and their log-density, see
:mod:`bayesmix.inference._variational`), the MDN's MAP and PyMC's own NUTS
(``sampler="pymc"``); nutpie's NUTS compiles with JAX on its own, except for
the finite mixtures that :mod:`bayesmix.inference._nutpie_gmm` samples through a
hand-written numba kernel. JAX
compiles a model in seconds where PyTensor's C backend spends minutes on an
empty cache, though each compiled call costs more. Measured on 2 cores, from
an empty cache, against C: DP ADVI, truncation 10, 22.8 s against 196.8 s;
MDN ADVI (K = 2, 4 hidden units) 11.3 s against 111.7 s, though each ADVI
step costs about 1.5x more on JAX; the MDN's log-density and gradient for the
MAP (mcycle, K = 3) 5.2 s against 77.3 s to compile, 94 us against 324 us a
call; PyMC's NUTS on faithful, K = 2, 2 x (500 + 500), 38.6 s against 131.9 s
(15.0 s against 11.1 s on a warm cache). ``backend="c"`` or ``"numba"`` in
:func:`bayesmix.fit` chooses another for ADVI and PyMC's NUTS; what follows is
what those two backends do, from when bayesmix compiled with them.

C and numba. Before JAX, bayesmix compiled with PyTensor's C backend where a
C++ compiler was at hand (``pytensor.config.cxx``), else numba. Numba compiles
every operation and then the whole graph as one function; that last step is
cached on disk under a key that includes the graph's constants, so each new
model structure, and each new data set whose numbers are constants, pays it
afresh. The C backend compiles and caches each operation alone and links
them at run time, so a new model reuses what any earlier one compiled.
Measured on 2 cores, each backend in its own empty PyTensor cache (the
experiments of ``benchmarks/compile_cache.py``; figures in ``benchmarks/HISTORY.md``,
C against numba): a new model structure, or new data, compiles in 40-50%
of numba's time once the first model has filled the cache (DP ADVI on other
data 32 s against 80 s; an MDN of another size 16.7 s against 32.8 s), while
an empty cache costs about the same (285-295 s for DP ADVI). Running speed is
about equal since the covariance algebra is unrolled
(:mod:`bayesmix.components._linalg`): 5,000 ADVI steps on a DP mixture with 20
components took 17.7-17.9 s against 16.2-18.5 s, an MDN's 5.2-5.7 s against
6.8-7.2 s.

Arithmetic. PyTensor 3's numba backend compiles, by default, under LLVM's
fast-math flags (reassociation, contraction into fused multiply-adds). A
process that compiles a graph afresh lets LLVM inline the ops into one
function and rearrange the arithmetic across them; a process that finds them
in the cache links the ops compiled separately. Under fast math the two round
differently in the last bit: for faithful, K = 2, full covariance, one entry
of the log-density gradient (27.6) differed by 3.6e-15 between a cold and a
warm cache, and NUTS amplifies that to about 1e-6 in the draws within a few
hundred iterations. Without fast math LLVM may not change the arithmetic, and
the two agree bit for bit. The C backend compiles every op on its own with
``-O3`` and no fast math, so its numbers never depend on the cache.
"""

from __future__ import annotations

from pytensor import config

# The PyTensor mode that compiles with each backend.
MODES = {"c": "CVM", "numba": "NUMBA", "jax": "JAX"}
DEFAULT_BACKEND = "jax"


def exact_arithmetic() -> config.change_flags:
    """Context in which numba compiles without fast math (see the module docstring)."""
    return config.change_flags(numba__fastmath=False)
