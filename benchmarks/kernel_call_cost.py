"""The cost of one call of bayesmix's hand-written log-density and gradient.

Run ``python benchmarks/kernel_call_cost.py``. For three models (faithful with
K = 2; 1-D, N = 1,000, K = 2; 2-D, N = 1e4, K = 3, all full covariance) it
times ``logp_and_gradient`` at one point of the unconstrained space, on one
thread, and prints the best of seven loops in microseconds. This is the figure
nutpie pays per gradient. Compare two versions of the kernel by running the
script on each, alternating, with ``NUMBA_CACHE_DIR`` pointing at a separate
folder per version, so that neither loads the other's compiled code.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

import bayesmix as bm
from bayesmix.inference import _gmm_kernel, _nutpie_gmm
from bayesmix.models._base import get_info

REPEATS = 7


def call_cost_us(model, n_calls: int, rng: np.random.Generator) -> float:
    """Best of ``REPEATS`` loops of ``n_calls`` calls, in microseconds per call."""
    n_dim = sum(value.size for value in model.initial_point().values())
    packed = _nutpie_gmm.pack(get_info(model), n_dim)
    theta, gradient = rng.normal(scale=0.3, size=n_dim), np.empty(n_dim)
    _gmm_kernel.logp_and_gradient(theta, gradient, packed)  # compile, or load from the cache
    best = np.inf
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(n_calls):
            _gmm_kernel.logp_and_gradient(theta, gradient, packed)
        best = min(best, (time.perf_counter() - start) / n_calls)
    return best * 1e6


def main() -> None:
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    models = {
        "faithful, K = 2": (bm.models.gmm(bm.datasets.load("faithful"), 2), 2000),
        "1-D, N = 1,000, K = 2": (bm.models.gmm(rng.normal(size=1000), 2), 2000),
        "2-D, N = 1e4, K = 3": (bm.models.gmm(rng.normal(size=(10_000, 2)), 3), 200),
    }
    for name, (model, n_calls) in models.items():
        print(f"{name}: {call_cost_us(model, n_calls, rng):.2f} us a call")


if __name__ == "__main__":
    main()
