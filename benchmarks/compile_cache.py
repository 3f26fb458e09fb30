"""What PyTensor's compiled-model cache saves when a model of the same shape meets new data.

Run each experiment in a fresh PyTensor cache folder, so the first fit compiles
everything::

    PYTENSOR_FLAGS=base_compiledir=/tmp/cache_mdn python benchmarks/compile_cache.py mdn 1 2 3
    PYTENSOR_FLAGS=base_compiledir=/tmp/c_dp python benchmarks/compile_cache.py dp "faithful 10" "four 10" "faithful 15"
    PYTENSOR_FLAGS=base_compiledir=/tmp/c_dp python benchmarks/compile_cache.py dp "faithful 10"

``mdn SCALE...``: the MDN's MAP (K = 2, 4 hidden units, one start) on mcycle
with both columns multiplied by each SCALE and y shifted by 1; each scale is new
data of the same shape. ``dp DATA TRUNCATION...``: ADVI (500 steps) on a
Dirichlet-process mixture of ``faithful`` or of ``four`` separated clusters (200
points). Each line prints the wall time of building and fitting a new model.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import bayesmix as bm


def mdn_map(scale: float) -> None:
    cycle = bm.datasets.load("mcycle")
    x, y = cycle["times"].to_numpy(), cycle["accel"].to_numpy()
    model = bm.models.mdn(x * scale, y * scale + 1, n_components=2, hidden=(4,))
    bm.fit(model, method="map", n_init=1, random_seed=1, progressbar=False)


def four_clusters() -> np.ndarray:
    """200 points around four well-separated 2-D centers (the clustering tests' data)."""
    rng = np.random.default_rng(4)
    centers = np.array([[-6.0, 0.0], [6.0, 0.0], [0.0, 6.0], [0.0, -6.0]])
    return centers[np.repeat(np.arange(4), 50)] + rng.normal(size=(200, 2))


DP_DATA = {"faithful": lambda: bm.datasets.load("faithful").to_numpy(), "four": four_clusters}


def dp_advi(data: str, truncation: int) -> None:
    X = DP_DATA[data]()
    model = bm.models.dp_gmm(X, truncation=truncation)
    bm.fit(model, method="advi", n=500, random_seed=3, progressbar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=["mdn", "dp"])
    parser.add_argument("settings", nargs="+", help="mdn: scales; dp: 'DATA TRUNCATION' pairs, DATA faithful or four")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for setting in args.settings:
        start = time.perf_counter()
        if args.experiment == "mdn":
            mdn_map(float(setting))
        else:
            data, truncation = setting.split()
            if data not in DP_DATA:
                parser.error(f"dp data must be one of {sorted(DP_DATA)}, not {data!r}")
            dp_advi(data, int(truncation))
        print(f"{args.experiment} {setting}: {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
