"""``python -m bayesmix.bench``: run the benchmark and write its table, JSON and plot."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

from bayesmix.bench.cases import all_cases
from bayesmix.bench.contenders import CONTENDERS, DEFAULT_CONTENDERS
from bayesmix.bench.report import markdown, plot
from bayesmix.persistence import write_text_atomic

_CHILD = "import json, sys; from {module} import {function}; print(json.dumps({function}(*{args!r})))"


def _in_fresh_process(
    function: str,
    args: tuple,
    chains: int,
    timeout: float,
    cold_cache: bool = False,
    module: str = "bayesmix.bench.measure",
) -> dict:
    """Run a measurement in a new interpreter, so no compiled code is shared between contenders.

    With ``cold_cache`` the interpreter gets empty PyTensor and numba caches
    (its own temporary folders), so the first fit pays every compilation a
    first fit on a fresh machine pays. Without, it uses the caches that
    earlier runs on this machine filled, as a returning user would.
    """
    env = dict(os.environ)
    # numpyro runs chains in parallel on one XLA host device each; the flag must be set before JAX starts.
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={chains}".strip()
    code = _CHILD.format(module=module, function=function, args=args)
    empty_cache = tempfile.TemporaryDirectory(prefix="bayesmix-bench-cache-") if cold_cache else nullcontext()
    with empty_cache as cache:
        if cold_cache:
            env["PYTENSOR_FLAGS"] = f"{env.get('PYTENSOR_FLAGS', '')},base_compiledir={cache}/pytensor".strip(",")
            env["NUMBA_CACHE_DIR"] = f"{cache}/numba"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{function}{args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    cases = list(all_cases())
    parser = argparse.ArgumentParser(prog="python -m bayesmix.bench", description=__doc__)
    parser.add_argument("--cases", nargs="+", default=cases, choices=cases, metavar="CASE", help=f"of {cases}")
    parser.add_argument("--contenders", nargs="+", default=list(DEFAULT_CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--out", type=Path, default=Path("benchmarks"), help="folder for the table, JSON and plot")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--large-draws", type=int, default=1000, help="draws and tuning steps for N = 1e5")
    parser.add_argument("--draws", type=int, help="draws and tuning steps for every case (a smoke run)")
    parser.add_argument(
        "--report-only", action="store_true", help="re-render the table and plot from OUT/benchmark.json"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per measurement")
    parser.add_argument(
        "--cold-cache",
        action="store_true",
        help="give every measurement empty PyTensor and numba caches (a first fit on a fresh machine)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    command = " ".join(["python -m bayesmix.bench", *(argv if argv is not None else sys.argv[1:])])
    nuts_rows, em_rows = [], []
    if args.report_only:
        measured = json.loads((args.out / "benchmark.json").read_text())
        nuts_rows, em_rows, args.cases = measured["nuts"], measured["em"], []
        machine, command = measured.get("machine", machine), measured.get("command", command)
        args.cold_cache = measured.get("cold_cache", False)
    for case in args.cases:
        chains = all_cases(args.large_draws)[case].chains
        em_rows.append(_in_fresh_process("measure_em", (case,), chains, args.timeout))
        for contender in args.contenders:
            measurement = (case, contender, args.seed, args.large_draws, args.draws)
            row = _in_fresh_process("measure", measurement, chains, args.timeout, args.cold_cache)
            nuts_rows.append(row)
            print(
                f"{case:32s} {contender:9s} first {row['first_s']:7.1f} s  second {row['second_s']:7.1f} s  "
                f"ESS {row['second']['min_bulk_ess']:6.0f}  R-hat {row['second']['max_rhat']:.3f}",
                flush=True,
            )
            # Written after every measurement, so an interrupted run keeps what it measured.
            write_text_atomic(
                args.out / "benchmark.json",
                json.dumps(
                    {
                        "nuts": nuts_rows,
                        "em": em_rows,
                        "machine": machine,
                        "command": command,
                        "cold_cache": args.cold_cache,
                    },
                    indent=1,
                ),
            )
    write_text_atomic(
        args.out / "benchmark.md", markdown(nuts_rows, em_rows, machine, command, cold_cache=args.cold_cache)
    )
    plot(nuts_rows, args.out / "ess_per_second.png")
    print(f"\nWrote {args.out / 'benchmark.md'}, benchmark.json and ess_per_second.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
