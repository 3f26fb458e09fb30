"""Where a small-data NUTS fit spends its time under nutpie's JAX backend.

Run ``python benchmarks/gradient_cost.py`` (add ``--covariance diag`` for the
diagonal model). On faithful with K = 2 it prints:

* the time of compiling the model for nutpie (what a cache of compiled models
  would save per fit);
* the time of one call of the compiled log-density and gradient, in a loop on
  one thread, against a trivial jitted JAX function (the floor of a call);
* the wall time of ``bm.fit``'s sampling (4 chains x 1000 draws after 1000
  tuning steps), the number of gradients nutpie asked for, and the wall time
  per gradient.

``--pytensor c numba`` also times one call of the log-density and gradient
that PyTensor compiles with its C backend (what ADVI runs) or numba (what
nutpie's numba backend runs; minutes to compile into an empty cache).
"""

from __future__ import annotations

import argparse
import functools
import time
import warnings

import jax
import numpy as np
import nutpie
from nutpie import compile_pymc

import bayesmix as bm
from bayesmix.inference._compilation import MODES


def per_call_microseconds(function, repeats: int = 3000) -> float:
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--covariance", default="full", choices=["full", "diag", "spherical", "tied"])
    parser.add_argument("--n-components", type=int, default=2)
    parser.add_argument("--pytensor", nargs="*", default=[], choices=["c", "numba"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    jax.config.update("jax_enable_x64", True)

    X = bm.datasets.load("faithful").to_numpy(float)
    model = bm.models.gmm(X, args.n_components, covariance=args.covariance)

    # Wrap nutpie's Python log-density callback to count the gradients it is asked for.
    calls = {"n": 0, "logp": None}
    from_pyfunc = compile_pymc.from_pyfunc

    def counting_from_pyfunc(**kwargs):
        make_logp = kwargs["make_logp_fn"]
        calls["logp"] = make_logp()

        def make_counting_logp():
            logp = make_logp()

            def counted(x, **shared):
                calls["n"] += 1
                return logp(x, **shared)

            return counted

        kwargs["make_logp_fn"] = make_counting_logp
        return from_pyfunc(**kwargs)

    compile_pymc.from_pyfunc = counting_from_pyfunc
    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax")
    print(f"compile for nutpie (JAX backend): {time.perf_counter() - start:.2f} s")

    point = np.full(compiled.n_dim, 0.1)
    print(f"one log-density + gradient call: {per_call_microseconds(lambda: calls['logp'](point)):.0f} us")
    trivial = jax.jit(jax.value_and_grad(lambda x: (x**2).sum()))
    print(f"a trivial jitted JAX value_and_grad: {per_call_microseconds(lambda: trivial(point)):.0f} us")

    x = np.concatenate([np.ravel(v) for v in model.initial_point().values()])
    for backend in args.pytensor:
        function = model.logp_dlogp_function(ravel_inputs=True, mode=MODES[backend])._pytensor_function
        function.trust_input = True
        cost = per_call_microseconds(functools.partial(function, x))
        print(f"one log-density + gradient call, PyTensor {backend}: {cost:.0f} us")

    nutpie.sample(compiled, draws=50, tune=50, chains=2, seed=1, progress_bar=False)  # warm up
    calls["n"] = 0
    start = time.perf_counter()
    nutpie.sample(compiled, draws=1000, tune=1000, chains=4, seed=1, progress_bar=False)
    wall = time.perf_counter() - start
    print(
        f"sampling 4 x (1000 + 1000): {wall:.2f} s, {calls['n']} gradients, "
        f"{wall / calls['n'] * 1e6:.0f} us of wall time each"
    )


if __name__ == "__main__":
    main()
