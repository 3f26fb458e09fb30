"""How bayesmix compiles the PyTensor graphs it evaluates itself.

ADVI, the MDN's MAP and PyMC's own NUTS compile with JAX by default: seconds
on a new machine, where PyTensor's C backend spends minutes on an empty cache,
though each compiled call then costs a little more (``backend="c"`` or
``"numba"`` in :func:`bayesmix.fit` chooses another). Numba compiles without
fast math (:func:`exact_arithmetic`), so that a process that compiles a graph
afresh and one that finds it in the cache round alike, and the same seed gives
the same draws bit for bit. The measurements behind both choices are in
``benchmarks/HISTORY.md`` ("Compilation backends").
"""

from __future__ import annotations

from pytensor import config

# The PyTensor mode that compiles with each backend.
MODES = {"c": "CVM", "numba": "NUMBA", "jax": "JAX"}
DEFAULT_BACKEND = "jax"


def exact_arithmetic() -> config.change_flags:
    """Context in which numba compiles without fast math (see the module docstring)."""
    return config.change_flags(numba__fastmath=False)
