"""Numbers computed from the data enter a model's graph as inputs, not as constants.

PyTensor's numba backend caches each compiled function on disk under a key
made of the graph's operations *and the values of its constants*. A model
whose data-derived numbers sit in the graph as constants is compiled afresh
for every new data set: for the MDN's MAP, about 30 s each time once the
single operations are cached (mcycle, K = 2, 4 hidden units, 2 cores),
against 2.6 s when the function itself is found in the cache. Held in
``pm.Data`` containers they are inputs of the compiled function instead, and
a model of the same structure on other data, of any number of rows, reuses
the compiled code. JAX paths freeze data into constants before tracing
(``freeze_dims_and_data``), as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm


def data_input(name: str, value: Any):
    """``value`` (a number or array) as a float ``pm.Data`` input named ``name`` of the model in context."""
    return pm.Data(name, np.asarray(value, dtype=float))
