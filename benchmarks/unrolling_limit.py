"""One JAX log-density + gradient call, covariance algebra unrolled or batched, for D features.

``python benchmarks/unrolling_limit.py D LIMIT [N]``: a full-covariance mixture
with K = 3 on N (default 1,000) synthetic points with D features, its log-density
compiled with PyMC's JAX graph and ``jax.value_and_grad``, timed per call on
one thread. ``LIMIT`` replaces ``bayesmix.models._linalg.MAX_UNROLLED_FEATURES``:
``LIMIT >= D`` unrolls, ``0`` keeps PyTensor's batched Cholesky and triangular
solve (and PyMC's own correlation bijector). Run both in the same conditions
and compare.
"""

from __future__ import annotations

import sys
import time
import warnings

import jax
import numpy as np
from pymc.model.transform.optimization import freeze_dims_and_data
from pymc.sampling.jax import get_jaxified_graph

import bayesmix as bm
from bayesmix.components import _linalg


def main() -> None:
    n_features, limit = int(sys.argv[1]), int(sys.argv[2])
    n_obs = int(float(sys.argv[3])) if len(sys.argv) > 3 else 1000
    warnings.simplefilter("ignore")
    jax.config.update("jax_enable_x64", True)
    _linalg.MAX_UNROLLED_FEATURES = limit
    rng = np.random.default_rng(0)
    sizes = [3 * n_obs // 10, 3 * n_obs // 10, n_obs - 6 * n_obs // 10]
    centers = np.repeat(rng.normal(scale=4.0, size=(3, n_features)), sizes, axis=0)
    model = freeze_dims_and_data(bm.models.gmm(rng.normal(size=(n_obs, n_features)) + centers, 3))
    logp = get_jaxified_graph(inputs=model.value_vars, outputs=[model.logp()])
    point = model.initial_point()
    values = [point[v.name] for v in model.value_vars]
    value_and_grad = jax.jit(jax.value_and_grad(lambda *a: logp(*a)[0], argnums=tuple(range(len(values)))))
    value_and_grad(*values)[0].block_until_ready()
    repeats = max(20, 2_000_000 // n_obs)
    start = time.perf_counter()
    for _ in range(repeats):
        value_and_grad(*values)[0].block_until_ready()
    per_call = (time.perf_counter() - start) / repeats * 1e6
    print(f"D = {n_features}, N = {n_obs}, unrolled up to {limit}: {per_call:.0f} us per call")


if __name__ == "__main__":
    main()
