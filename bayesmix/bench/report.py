"""The benchmark's markdown tables and its plot of ESS per second against N."""

from __future__ import annotations

from bayesmix.bench.contenders import CONTENDERS, DESCRIPTIONS

RHAT_BOUND = 1.01


def ess_per_second(row: dict, which: str) -> float:
    """Smallest bulk ESS per second of wall time: ``first`` includes compilation, ``second`` does not."""
    return row[which]["min_bulk_ess"] / row[f"{which}_s"]


def converged(row: dict) -> bool:
    """Both fits with R-hat at most 1.01 after relabelling: only then is an ESS/s worth comparing."""
    return max(row["first"]["max_rhat"], row["second"]["max_rhat"]) <= RHAT_BOUND


def _rival(contender: str, other: str) -> bool:
    """Another contender's code: two bayesmix paths are not compared with each other."""
    return contender.split("-")[0] != other.split("-")[0]


def nuts_table(rows: list[dict]) -> str:
    header = (
        "| case | N | contender | wall, first fit (s, compile incl.) | wall, second fit (s) | "
        "min bulk ESS | ESS/s incl. compile | ESS/s second fit | max R-hat | divergences | "
        "ESS/s vs best other (incl. compile / second fit) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in rows:
        others = [
            r for r in rows if r["case"] == row["case"] and _rival(r["contender"], row["contender"]) and converged(r)
        ]
        ratios = []
        for which in ("first", "second"):
            if not (others and converged(row)):
                ratios.append("—")
                continue
            best = max(ess_per_second(r, which) for r in others)
            ratios.append(f"{ess_per_second(row, which) / best:.2f}x")
        rhat = max(row["first"]["max_rhat"], row["second"]["max_rhat"])
        divergences = f"{row['first']['divergences']} / {row['second']['divergences']}"
        cells = [
            row["case"],
            f"{row['n_obs']:,}",
            row["contender"],
            f"{row['first_s']:.1f}",
            f"{row['second_s']:.1f}",
            f"{row['second']['min_bulk_ess']:.0f}",
            f"{ess_per_second(row, 'first'):.0f}",
            f"{ess_per_second(row, 'second'):.0f}",
            f"{rhat:.3f}",
            divergences,
            " / ".join(ratios),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return header + "\n".join(lines) + "\n"


def em_table(rows: list[dict]) -> str:
    header = (
        "| case | N | bayesmix.em (s) | sklearn GaussianMixture (s) | ratio | log-likelihood bayesmix / sklearn |\n"
        "|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['case']} | {r['n_obs']:,} | {r['bayesmix_s']:.2f} | {r['sklearn_s']:.2f} | "
        f"{r['sklearn_s'] / r['bayesmix_s']:.2f}x | {r['bayesmix_loglik']:.2f} / {r['sklearn_loglik']:.2f} |"
        for r in rows
    ]
    return header + "\n".join(lines) + "\n"


def markdown(nuts_rows: list[dict], em_rows: list[dict], machine: str, command: str, cold_cache: bool = False) -> str:
    present = [name for name in CONTENDERS if any(r["contender"] == name for r in nuts_rows)]
    contenders = "\n".join(f"- **{name}**: {DESCRIPTIONS[name]}" for name in present)
    return (
        f"Machine: {machine}. Command: `{command}`.\n\n"
        "Each contender fits each case twice in one fresh process: the first fit includes building "
        "and compiling the model, the second reuses what the contender's API lets a user reuse. "
        + (
            "Every process started with empty PyTensor and numba caches (`--cold-cache`): the first fit is "
            "a first fit on a fresh machine. "
            if cold_cache
            else "Processes used the PyTensor and numba caches that earlier runs on this machine had filled, "
            "so a first fit may find compiled code of the same model on the same data there. "
        )
        + "ESS is the smallest bulk ESS over weights, means and covariances after relabelling to the "
        "EM solution; R-hat is the largest over both fits. The ratio compares the contender's ESS/s "
        "with the best other contender's on the same case, measured in this run, among contenders "
        f"whose R-hat is at most {RHAT_BOUND} (— where there is none: an unconverged fit has no "
        "meaningful ESS/s).\n\n"
        f"{contenders}\n\n{nuts_table(nuts_rows)}\nEM, median of 3:\n\n{em_table(em_rows)}"
    )


def plot(nuts_rows: list[dict], path) -> None:
    """ESS per second against N on the synthetic cases, log-log, one colour per contender."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    synthetic = [r for r in nuts_rows if r["case"].startswith("synthetic")]
    for i, contender in enumerate(CONTENDERS):
        rows = sorted((r for r in synthetic if r["contender"] == contender), key=lambda r: r["n_obs"])
        if not rows:
            continue
        n = [r["n_obs"] for r in rows]
        ax.plot(n, [ess_per_second(r, "first") for r in rows], "o-", color=f"C{i}", label=f"{contender}, incl. compile")
        ax.plot(n, [ess_per_second(r, "second") for r in rows], "s--", color=f"C{i}", label=f"{contender}, second fit")
    ax.set(xscale="log", yscale="log", xlabel="N (observations)", ylabel="min bulk ESS per second")
    ax.set_title("Synthetic D = 2, K = 3, full covariance")
    if ax.lines:  # a run without synthetic cases draws nothing
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
