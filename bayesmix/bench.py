"""Wall time of the default fit on faithful, each run in a fresh process (compilation included).

Run ``python -m bayesmix.bench [--repeats 3]``. Prints a markdown table of the
wall time of ``bayesmix.fit`` (defaults: nutpie, 4 chains x 1000 draws after
1000 tuning steps) for faithful with K = 2 and full covariance, started
without and with the EM initialization, plus the largest R-hat and smallest
bulk ESS after relabelling to EM. Each measurement runs in its own Python
process, so nothing is cached between repeats except what the libraries keep
on disk.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys

_ONE_RUN = """
import json, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import bayesmix as bm, arviz_stats as azs
X = bm.datasets.load("faithful")
em = bm.em(X, 2, random_seed={seed})
model = bm.models.gmm(X, 2, covariance="full")
fit_start = time.perf_counter()
result = bm.fit(model, init=em if {use_init} else None, random_seed={seed}, progressbar=False)
fit_time = time.perf_counter() - fit_start
params = bm.relabel(result, reference=em)["posterior"].to_dataset()[["weights", "means", "covariances"]]
rhat = max(float(v.max()) for v in azs.rhat(params).data_vars.values())
ess = min(float(v.min()) for v in azs.ess(params, method="bulk").data_vars.values())
print(json.dumps({{"fit_s": fit_time, "process_s": time.perf_counter() - start, "rhat": rhat, "ess": ess}}))
"""


def _measure(use_init: bool, seed: int) -> dict:
    code = _ONE_RUN.format(seed=seed, use_init=use_init)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    print("| start | repeat | fit wall time (s, compile incl.) | whole process (s) | max R-hat | min bulk ESS |")
    print("|---|---|---|---|---|---|")
    for use_init in (False, True):
        for repeat in range(args.repeats):
            m = _measure(use_init, seed=100 + repeat)
            label = "EM init" if use_init else "default"
            cells = [
                label,
                repeat + 1,
                f"{m['fit_s']:.1f}",
                f"{m['process_s']:.1f}",
                f"{m['rhat']:.3f}",
                f"{m['ess']:.0f}",
            ]
            print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
