"""The ``bayesmix`` command line: run a spec, re-render a report, list the shipped data sets.

Exit codes: 0 when everything asked for was done; 1 when some candidate failed
to fit (the others are saved and reported); 2 for a spec or folder that cannot
be used, before anything is fitted or written.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(
    help="Bayesian mixture modelling: fit the candidates of a spec, compare them by LOO, write a report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# PyTensor warns at import, in this process and in every Dask worker, that it found no BLAS;
# the samplers (nutpie, numpyro) do not use PyTensor's C backend, and the repeated notice
# would bury the progress display.
_BLAS_NOTICE = "PyTensor could not link to a BLAS installation"
os.environ.setdefault("PYTHONWARNINGS", f"ignore:{_BLAS_NOTICE}:UserWarning")
warnings.filterwarnings("ignore", message=_BLAS_NOTICE)
console = Console()
errors = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="A spec file, e.g. models/faithful.toml.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: the spec's `output`).")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a running Dask scheduler, e.g. tcp://host:8786.")
    ] = None,
    quick: Annotated[bool, typer.Option(help="Short chains: a smoke run of every step.")] = False,
    workers: Annotated[int | None, typer.Option(min=1, help="Workers of the local Dask cluster.")] = None,
) -> None:
    """Fit every candidate of SPEC on Dask, compare them by PSIS-LOO and write DIR/report.html."""
    from bayesmix.cli.analysis import run_analysis
    from bayesmix.cli.spec import SpecError, read_spec

    try:
        plan = read_spec(spec)
    except SpecError as err:
        _fail(str(err))
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(bar_width=24),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        overall = progress.add_task("[bold]all candidates", total=len(plan.candidates), status="")
        rows = {c.name: progress.add_task(c.name, total=1, status="waiting", start=False) for c in plan.candidates}
        started: dict[str, float] = {}

        def on_event(name: str, status: str, detail: object) -> None:
            row = rows[name]
            if status == "started":
                started[name] = time.perf_counter()
                progress.start_task(row)
                progress.update(row, status="fitting")
            elif status == "queued":
                progress.update(row, status="queued")
            elif status == "set_aside":
                errors.print(f"[yellow]{name}:[/] the saved result {detail}; moved aside, fitting it again")
            else:
                progress.start_task(row)
                text = {
                    "skipped": "[dim]already saved, skipped[/]",
                    "saved": f"[green]saved[/] ({detail:.0f} s)" if isinstance(detail, float) else "[green]saved[/]",
                    "failed": f"[red]failed: {detail}[/]",
                }[status]
                progress.update(row, completed=1, status=text)
                progress.stop_task(row)
                progress.advance(overall)

        try:
            summary = run_analysis(
                plan, out=out, scheduler=scheduler, quick=quick, n_workers=workers, on_event=on_event
            )
        except SpecError as err:
            progress.stop()
            _fail(str(err))
    console.print(
        f"{len(summary.fitted)} fitted, {len(summary.skipped)} already saved, {len(summary.failed)} failed "
        f"in {summary.seconds:.0f} s. Report: [bold]{summary.report}[/]"
    )
    for name, notices in summary.warnings.items():
        for notice in notices:
            console.print(f"[yellow]{name}:[/] {notice.split(';')[0]} (see the report)", highlight=False)
    for name, error in summary.failed.items():
        errors.print(f"[red]{name} failed:[/] {error}", highlight=False)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="An output folder of `bayesmix run`.")],
) -> None:
    """Re-render FOLDER/report.html and FOLDER/comparison.csv from the saved results."""
    from bayesmix.cli.report import write_report

    if not (folder / "run.json").is_file():
        _fail(f"{folder}: not a bayesmix run folder (no run.json); run `bayesmix run SPEC --out {folder}` first.")
    try:
        page = write_report(folder)
    except ValueError as err:  # a result file that cannot be read: named, with what to do
        _fail(str(err))
    console.print(f"Report: [bold]{page}[/]")


@app.command()
def datasets() -> None:
    """List the data sets shipped with bayesmix."""
    from bayesmix import datasets as shipped

    table = Table("name", "rows", "columns", "description")
    for name in shipped.names():
        frame = shipped.load(name)
        table.add_row(name, str(len(frame)), ", ".join(frame.columns), shipped.describe(name))
    console.print(table)


def main() -> None:  # the console-script entry point
    app()


if __name__ == "__main__":
    main()
