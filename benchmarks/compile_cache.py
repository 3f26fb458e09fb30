"""What PyTensor's compile cache saves when a model meets new data or a new shape, per backend.

Run each experiment in a fresh PyTensor cache folder, so the first fit compiles
everything::

    PYTENSOR_FLAGS=base_compiledir=/tmp/c_mdn python benchmarks/compile_cache.py mdn 1 2 3
    PYTENSOR_FLAGS=base_compiledir=/tmp/c_dp python benchmarks/compile_cache.py dp "faithful 10" "four 10" "faithful 15"
    PYTENSOR_FLAGS=base_compiledir=/tmp/c_n python benchmarks/compile_cache.py --backend numba dp "faithful 10" "four 5"
    PYTENSOR_FLAGS=base_compiledir=/tmp/c_j python benchmarks/compile_cache.py --again 5000 dp "faithful 10" "four 10"
    PYTENSOR_FLAGS=base_compiledir=/tmp/c_ma python benchmarks/compile_cache.py --again 5000 mdn-advi "2 4" "3 8"

``mdn SCALE...``: the MDN's MAP (K = 2, 4 hidden units, one start) on mcycle
with both columns multiplied by each SCALE and y shifted by 1; each scale is new
data of the same shape. ``dp DATA TRUNCATION...``: ADVI (500 steps) on a
Dirichlet-process mixture of ``faithful`` or of ``four`` separated clusters (200
points). ``mdn-advi "K HIDDEN"...``: ADVI (100 steps) on an MDN of mcycle with K
components and one hidden layer. Each line prints the wall time of building and
fitting a new model; with ``--again N`` also that of N more ADVI steps on the
same model (compiled code reused, so this is the backend's running speed).
``--backend`` picks what ADVI and the MAP compile with: ``default`` (bayesmix's
choice, JAX), ``jax``, ``c`` or ``numba`` (also hides the C++ compiler from
PyTensor, for what bayesmix leaves to PyTensor's default).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pytensor

import bayesmix as bm


def four_clusters() -> np.ndarray:
    """200 points around four well-separated 2-D centers (the clustering tests' data)."""
    rng = np.random.default_rng(4)
    centers = np.array([[-6.0, 0.0], [6.0, 0.0], [0.0, 6.0], [0.0, -6.0]])
    return centers[np.repeat(np.arange(4), 50)] + rng.normal(size=(200, 2))


def mcycle() -> tuple[np.ndarray, np.ndarray]:
    cycle = bm.datasets.load("mcycle")
    return cycle["times"].to_numpy(), cycle["accel"].to_numpy()


DP_DATA = {"faithful": lambda: bm.datasets.load("faithful").to_numpy(), "four": four_clusters}


def build(experiment: str, setting: str, parser: argparse.ArgumentParser):
    """The model of one setting and the ``bm.fit`` arguments of its first fit."""
    if experiment == "mdn":
        x, y = mcycle()
        scale = float(setting)
        model = bm.models.mdn(x * scale, y * scale + 1, n_components=2, hidden=(4,))
        return model, {"method": "map", "n_init": 1}
    if experiment == "mdn-advi":
        n_components, hidden = map(int, setting.split())
        return bm.models.mdn(*mcycle(), n_components=n_components, hidden=(hidden,)), {"method": "advi", "n_steps": 100}
    data, truncation = setting.split()
    if data not in DP_DATA:
        parser.error(f"dp data must be one of {sorted(DP_DATA)}, not {data!r}")
    return bm.models.dp_gmm(DP_DATA[data](), truncation=int(truncation)), {"method": "advi", "n_steps": 500}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=["mdn", "dp", "mdn-advi"])
    parser.add_argument(
        "settings", nargs="+", help="mdn: scales; dp: 'DATA TRUNCATION' pairs (faithful or four); mdn-advi: 'K HIDDEN'"
    )
    parser.add_argument("--backend", choices=["default", "jax", "c", "numba"], default="default")
    parser.add_argument("--again", type=int, default=0, help="also time this many more ADVI steps on the same model")
    args = parser.parse_args()
    if args.backend == "numba":
        pytensor.config.cxx = ""
    backend = {} if args.backend == "default" else {"backend": args.backend}
    warnings.simplefilter("ignore")
    for setting in args.settings:
        start = time.perf_counter()
        model, fit_args = build(args.experiment, setting, parser)
        bm.fit(model, **fit_args, **backend, random_seed=3, progressbar=False)
        line = f"{args.backend} {args.experiment} {setting}: {time.perf_counter() - start:.1f} s"
        if args.again:
            start = time.perf_counter()
            bm.fit(model, method="advi", n_steps=args.again, draws=10, random_seed=3, progressbar=False, **backend)
            line += f"; {args.again} more ADVI steps {time.perf_counter() - start:.1f} s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
