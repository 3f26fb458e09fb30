"""Large data: time, peak memory and saved size of a fit and of what follows it (issue 38).

Run ``python benchmarks/large_data.py`` (``--cases nuts-1e5-stored nuts-1e5 nuts-1e6``).
Each case runs in its own process, so that its peak resident memory (``ru_maxrss``) is its
own, and prints one JSON line; the table goes to stdout as markdown.

Cases: ``nuts-<N>`` fits 2-D data with three correlated Gaussian clusters (weights 0.5,
0.3, 0.2), K = 3, full covariance, with ``bm.fit``'s defaults (nutpie, the kernel, 4 x
(1000 + 1000)); ``nuts-<N>-stored`` the same with ``log_likelihood=True`` (the pointwise
group every fit stored before). After the fit the case times ``bm.diagnose``, the
PSIS-LOO of ``bayesmix.comparison.loo`` (subsampled where the group is not stored) and
``bm.save``, and reports the saved file's size. ``advi-<N>`` runs minibatch ADVI
(``method="advi", batch_size=1000``) on the same kind of data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

MEANS = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 5.0]])
MIXING = np.linalg.cholesky(np.array([[1.0, 0.3], [0.3, 0.73]]))


def synthetic(n_obs: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n_obs, p=[0.5, 0.3, 0.2])
    return MEANS[labels] + rng.standard_normal((n_obs, 2)) @ MIXING.T


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: str) -> dict:
    import bayesmix as bm
    from bayesmix.comparison import loo

    kind, size, *rest = case.split("-")
    n_obs = int(float(size))
    X = synthetic(n_obs)
    row: dict = {"case": case, "n_obs": n_obs, "data_mb": X.nbytes / 1e6}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "nuts":
            result = bm.fit(
                bm.models.gmm(X, 3), random_seed=1, progressbar=False, log_likelihood=True if rest else None
            )
        else:
            result = bm.fit(bm.models.gmm(X, 3), method="advi", batch_size=1000, random_seed=1, progressbar=False)
    row["fit_s"] = time.perf_counter() - start
    row["fit_peak_mb"] = peak_mb()
    row["log_likelihood_stored"] = "log_likelihood" in result.children
    start = time.perf_counter()
    diagnostics = bm.diagnose(result)
    row["diagnose_s"] = time.perf_counter() - start
    table = diagnostics.convergence
    row["max_rhat"] = float(table["r_hat"].max()) if "r_hat" in table else float("nan")
    start = time.perf_counter()
    if result["posterior"].sizes["chain"] * result["posterior"].sizes["draw"] > 1:
        elpd = loo({"fit": result})["fit"]
        row["loo_s"] = time.perf_counter() - start
        row["elpd_loo"] = float(elpd.elpd)
        row["elpd_se"] = float(elpd.se)
        row["subsampling_se"] = float(getattr(elpd, "subsampling_se", 0.0))
        row["loo_rows"] = int(getattr(elpd, "subsample_size", n_obs))
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = bm.save(result, Path(folder) / "fit.nc")
        row["save_s"] = time.perf_counter() - start
        row["saved_mb"] = path.stat().st_size / 1e6
    row["peak_mb"] = peak_mb()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["nuts-1e5-stored", "nuts-1e5", "nuts-1e6"])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one)), flush=True)
        return
    rows = []
    for case in args.cases:
        done = subprocess.run(
            [sys.executable, __file__, "--one", case], capture_output=True, text=True, env=os.environ.copy()
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            print(f"{case}: failed (exit {done.returncode})\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(lines[-1]))
        print(lines[-1], file=sys.stderr, flush=True)
    machine = platform.processor() or platform.machine()
    print(f"Machine: {machine}, {os.cpu_count()} cores; Python {platform.python_version()}\n")
    print(
        "| case | N | pointwise stored | fit s | peak MB after fit | diagnose s | LOO s | LOO rows | "
        "elpd_loo (se, subsampling se) | save s | saved MB | peak MB | max R-hat |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        elpd = f"{r['elpd_loo']:.1f} ({r['elpd_se']:.1f}, {r['subsampling_se']:.1f})" if "elpd_loo" in r else "n/a"
        print(
            f"| {r['case']} | {r['n_obs']:.0e} | {'yes' if r['log_likelihood_stored'] else 'no'} | "
            f"{r['fit_s']:.0f} | {r['fit_peak_mb']:.0f} | {r['diagnose_s']:.1f} | {r.get('loo_s', float('nan')):.1f} | "
            f"{r.get('loo_rows', 0)} | {elpd} | {r['save_s']:.1f} | {r['saved_mb']:.1f} | {r['peak_mb']:.0f} | "
            f"{r['max_rhat']:.3f} |"
        )


if __name__ == "__main__":
    main()
