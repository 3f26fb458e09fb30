"""Running a spec: every candidate fitted as an independent task on a Dask cluster, saved as it finishes.

The client (this process) reads and checks the spec, sends one task per
candidate that is not yet saved to the cluster, and writes each result the
moment it comes back, as ``DIR/<candidate>.nc`` (written to a temporary name
and renamed, see :func:`bayesmix.save`). A run that is interrupted therefore
loses only the fits in flight; running it again skips what is saved. Results
travel back to the client, so workers need no shared file system with it.
When every candidate is done, the comparison and the report are written.

Files in ``DIR``:

``run.json``
    The plan (spec text, candidates, settings); a later run into the same
    folder must have the same plan, so results of different specs never mix.
``.bayesmix.lock``
    Held (an advisory ``flock``) while a run writes into the folder: a second
    run started into it at the same time is refused, never interleaved. The
    operating system releases it when the process ends, killed or not.
``<candidate>.nc``
    Each fit (relabelled to EM for a finite mixture). One that cannot be read,
    or that another candidate made, is moved aside to
    ``<candidate>.nc.unreadable`` (never deleted) and fitted again.
``baselines/<candidate>_map.nc``
    For an MDN fitted by ADVI or NUTS, the MAP fit of the same network.
``comparison.csv``, ``report.html``
    See :func:`bayesmix.comparison.compare` and :mod:`bayesmix.cli.report`.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bayesmix import persistence
from bayesmix._version import __version__
from bayesmix.cli.spec import Candidate, DataSpec, Spec, SpecError, read_spec
from bayesmix.diagnostics.sampler_checks import SamplerWarning

__all__ = ["RunSummary", "run_analysis"]

EVENT_TOPIC = "bayesmix-candidate"
# The attribute that names the candidate a saved result was fitted for.
CANDIDATE_ATTR = "bayesmix_candidate"
RUN_FILE = "run.json"
LOCK_FILE = ".bayesmix.lock"
BASELINE_FOLDER = "baselines"
# What a progress callback receives: candidate name, status, and a detail (seconds, an error).
Event = Callable[[str, str, Any], None]


@dataclass
class RunSummary:
    """What a run did."""

    out: Path
    fitted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    set_aside: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    report: Path | None = None
    seconds: float = 0.0


def run_analysis(
    spec: Spec | str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    scheduler: str | None = None,
    quick: bool = False,
    n_workers: int | None = None,
    on_event: Event | None = None,
) -> RunSummary:
    """Fit every candidate of a spec on Dask, compare them by LOO and write the report.

    Parameters
    ----------
    spec : Spec or path
        A spec file (checked completely by :func:`bayesmix.cli.spec.read_spec`
        before anything is fitted) or an already read :class:`Spec`.
    out : path, optional
        The output folder; defaults to the spec's ``output``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``). By default
        an in-process ``LocalCluster`` with one single-threaded worker per
        core (at most one per candidate) is started and closed afterwards.
    quick : bool, default False
        Short chains (``bayesmix.spec.QUICK``) for a smoke run.
    n_workers : int, optional
        Workers of the local cluster (ignored with ``scheduler``).
    on_event : callable, optional
        Called as ``on_event(candidate, status, detail)`` with status
        "skipped", "set_aside" (an unreadable or foreign result file moved
        aside; detail: why), "queued", "started" (detail: the worker's process
        id), "saved" or "failed" (detail: the error).

    Returns
    -------
    RunSummary
        Candidates fitted, skipped (already saved) and failed, with the errors.
        A candidate whose worker died is retried on another worker by Dask
        (``distributed.scheduler.allowed-failures`` times) and then reported
        failed; a result that cannot be saved (a full disk) is reported failed
        and the results saved before it stay intact. Running the spec again
        fits only what is missing.

    Raises
    ------
    SpecError
        For a bad spec, a folder of another plan, or a folder another run is
        writing into.
    """
    start = time.perf_counter()
    spec = spec if isinstance(spec, Spec) else read_spec(spec)
    if quick:
        spec = spec.quick()
    out = Path(out) if out is not None else spec.output
    notify = on_event or (lambda *args: None)
    plan = _plan(spec, quick)
    out.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        _prepare_folder(out, plan)
        summary = RunSummary(out=out)
        pending = []
        for candidate in spec.candidates:
            path = result_path(out, candidate.name)
            problem = _saved_result_problem(path, candidate.name) if path.exists() else "missing"
            if problem is None:
                summary.skipped.append(candidate.name)
                notify(candidate.name, "skipped", None)
                continue
            if problem != "missing":
                path.replace(path.with_name(path.name + ".unreadable"))
                summary.set_aside[candidate.name] = problem
                notify(candidate.name, "set_aside", problem)
            pending.append(candidate)
        if pending:
            with _client(scheduler, n_workers or min(len(pending), os.cpu_count() or 1)) as client:
                client.subscribe_topic(EVENT_TOPIC, lambda event: notify(event[1]["name"], "started", event[1]["pid"]))
                _fit_all(client, spec, pending, out, summary, notify)
        from bayesmix.cli.report import write_report

        plan["failed"] = summary.failed
        persistence.write_text_atomic(out / RUN_FILE, json.dumps(plan, indent=2))
        summary.report = write_report(out)
    summary.seconds = time.perf_counter() - start
    return summary


@contextmanager
def _exclusive(out: Path):
    """Hold the folder's lock for the whole run; refuse at once if another run holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; runs are not guarded there
        yield
        return
    with open(out / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise SpecError(
                f"{out}: another bayesmix run (process {holder}) is writing into this folder; wait for it to "
                "finish, or choose another --out folder."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)  # no holder now (a killed run leaves its pid, and no lock, behind)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _saved_result_problem(path: Path, name: str) -> str | None:
    """Why a saved result cannot stand for candidate ``name`` (unreadable, or another candidate's), or None."""
    try:
        result = persistence.load(path)
    except (ValueError, OSError) as err:
        return f"cannot be read ({err})"
    made_for = result.attrs.get(CANDIDATE_ATTR)
    if made_for is not None and made_for != name:
        return f"holds candidate {made_for!r}'s result"
    return None


def result_path(out: Path, name: str) -> Path:
    return Path(out) / f"{name}.nc"


def baseline_path(out: Path, name: str) -> Path:
    return Path(out) / BASELINE_FOLDER / f"{name}_map.nc"


def fit_candidate(candidate: Candidate, data: DataSpec, seed: int) -> dict[str, Any]:
    """Build and fit one candidate; runs on a Dask worker.

    A finite mixture is relabelled to the EM solution of the same component
    family, K and covariance (and, unless ``init = "prior"``, started there), a mixture of regressions
    likewise to its EM solution; an MDN fitted by
    ADVI or NUTS also gets its MAP fit, the baseline its diagnostics use.
    """
    import bayesmix as bm

    _announce(candidate.name)
    start = time.perf_counter()
    frame = data.frame()
    model = candidate.build(data, frame)
    options = dict(candidate.fit_options)
    baseline = None
    finite = candidate.family == "mixture"
    if finite:
        em = bm.em(
            frame[data.columns],
            candidate.model_options["n_components"],
            component=candidate.model_options["component"],
            covariance=candidate.model_options.get("covariance", "full"),
            random_seed=seed,
            missing=candidate.model_options.get("missing"),
        )
        options["init"] = em if candidate.init_from_em else "prior"
    elif candidate.family == "mixreg":
        from bayesmix.models._base import get_info
        from bayesmix.models.mixreg import em_start

        em = em_start(get_info(model), seed)
        options["init"] = em if candidate.init_from_em else "prior"
    # Sampler warnings go back to the client with the result rather than to the worker's log,
    # where they would interleave with the progress display; the report repeats them.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SamplerWarning)
        result = bm.fit(model, random_seed=seed, progressbar=False, **options)
        if finite or candidate.family == "mixreg":
            result = bm.relabel(result, reference=em)
        if candidate.family == "mdn" and options["method"] != "map":
            baseline = bm.fit(model, method="map", random_seed=seed, progressbar=False)
    notices = [str(w.message) for w in caught if issubclass(w.category, SamplerWarning)]
    return {"result": result, "baseline": baseline, "seconds": time.perf_counter() - start, "warnings": notices}


def _announce(name: str) -> None:
    """Tell the client that a candidate has started (a Dask worker event)."""
    try:
        from distributed import get_worker

        get_worker().log_event(EVENT_TOPIC, {"name": name, "pid": os.getpid()})
    except ValueError:  # not running on a worker
        pass


def _fit_all(client, spec: Spec, pending: list[Candidate], out: Path, summary: RunSummary, notify: Event) -> None:
    from distributed import as_completed

    futures = {}
    for candidate in pending:
        future = client.submit(
            fit_candidate,
            candidate,
            spec.data,
            spec.seed_for(candidate),
            pure=False,
            key=f"bayesmix-{candidate.name}-{time.time_ns()}",
        )
        futures[future] = candidate.name
        notify(candidate.name, "queued", None)
    for future in as_completed(futures):
        name = futures[future]
        try:
            fitted = future.result()
        except Exception as err:  # a failed fit must not stop the others; it is reported
            summary.failed[name] = f"{type(err).__name__}: {err}"
            notify(name, "failed", summary.failed[name])
            continue
        fitted["result"].attrs[CANDIDATE_ATTR] = name
        try:
            if fitted["baseline"] is not None:
                (out / BASELINE_FOLDER).mkdir(exist_ok=True)
                persistence.save(fitted["baseline"], baseline_path(out, name))
            persistence.save(fitted["result"], result_path(out, name))
        except OSError as err:  # e.g. a full disk: save leaves no partial file, and the others go on
            summary.failed[name] = f"not saved: {err}"
            notify(name, "failed", summary.failed[name])
            continue
        summary.fitted.append(name)
        summary.warnings[name] = fitted["warnings"]
        notify(name, "saved", fitted["seconds"])


@contextmanager
def _client(scheduler: str | None, n_workers: int):
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as err:
            raise SpecError(f"--scheduler {scheduler}: no Dask scheduler answered ({err}).") from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        yield client


def _plan(spec: Spec, quick: bool) -> dict[str, Any]:
    """What identifies a run: a folder holds the results of one plan only."""
    candidates = [
        {
            **asdict(c),
            "seed": spec.seed_for(c),
            "model_options": {k: list(v) if isinstance(v, tuple) else v for k, v in c.model_options.items()},
        }
        for c in spec.candidates
    ]
    return {
        "bayesmix_version": __version__,
        "spec": str(spec.source),
        "spec_text": spec.source.read_text(),
        "title": spec.title,
        "data": {"description": spec.data.describe(), "columns": spec.data.columns, "x": spec.data.x, "y": spec.data.y},
        "baseline": spec.baseline,
        "seed": spec.seed,
        "quick": quick,
        "candidates": candidates,
    }


def _prepare_folder(out: Path, plan: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    persistence.remove_partial_files(out)
    if (out / BASELINE_FOLDER).is_dir():
        persistence.remove_partial_files(out / BASELINE_FOLDER)
    previous = out / RUN_FILE
    if previous.exists():
        old = json.loads(previous.read_text())
        if old.get("candidates") != plan["candidates"] or old.get("data") != plan["data"]:
            raise SpecError(
                f"{out}: holds the results of another plan (other data, candidates or settings"
                f"{', or a --quick run' if old.get('quick') != plan['quick'] else ''}); "
                "choose another --out folder or delete this one."
            )
    persistence.write_text_atomic(previous, json.dumps(plan, indent=2))
