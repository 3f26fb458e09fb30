"""What a user of a cluster meets during `bayesmix run`: a worker that dies in the middle of a candidate,
two runs started into one folder, a damaged or foreign result file left in it, a disk that fills up."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dask
import pytest
import xarray as xr
from typer.testing import CliRunner

import bayesmix as bm
from bayesmix.cli import analysis
from bayesmix.cli.app import app
from bayesmix.cli.spec import SpecError

pytestmark = pytest.mark.slow

SPEC = """
    seed = 7
    [data]
    dataset = "faithful"
    [[candidates]]
    family = "gmm"
    n_components = [1, 2]
    draws = 100
    tune = 100
    chains = 2
"""
NAMES = ["gmm_full_k1", "gmm_full_k2"]


def write_spec(folder: Path) -> Path:
    path = folder / "faults.toml"
    path.write_text(textwrap.dedent(SPEC))
    return path


def local_cluster(**config):
    """Two single-threaded worker processes on loopback; ``config``: the scheduler's dask settings."""
    from distributed import LocalCluster

    with dask.config.set(config):
        return LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True, dashboard_address=None)


def killing(victim: str, times: int):
    """An on_event callback that kills the worker process of ``victim``'s first ``times`` starts."""
    kills = []

    def on_event(name, status, detail):
        if name == victim and status == "started" and len(kills) < times:
            kills.append(detail)
            os.kill(detail, signal.SIGKILL)

    return on_event, kills


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A finished run of the spec (its folder is copied by the tests that damage it)."""
    folder = tmp_path_factory.mktemp("saved")
    with local_cluster() as cluster:
        summary = analysis.run_analysis(write_spec(folder), out=folder / "out", scheduler=cluster.scheduler_address)
    assert sorted(summary.fitted) == NAMES
    return folder


def test_a_worker_killed_mid_candidate_is_retried_and_the_run_finishes(tmp_path):
    on_event, kills = killing("gmm_full_k2", times=1)
    with local_cluster() as cluster:
        summary = analysis.run_analysis(
            write_spec(tmp_path), out=tmp_path / "out", scheduler=cluster.scheduler_address, on_event=on_event
        )
    assert len(kills) == 1  # the worker really died in the middle of the candidate
    assert sorted(summary.fitted) == NAMES and summary.failed == {}
    for name in NAMES:
        bm.load(tmp_path / "out" / f"{name}.nc")
    assert (tmp_path / "out" / "report.html").exists()


def test_a_candidate_whose_worker_keeps_dying_fails_alone_and_a_rerun_fits_only_it(tmp_path):
    spec, out = write_spec(tmp_path), tmp_path / "out"
    on_event, kills = killing("gmm_full_k2", times=1)
    # No retries: the first death of its worker fails the candidate (Dask's KilledWorker).
    with local_cluster(**{"distributed.scheduler.allowed-failures": 0}) as cluster:
        summary = analysis.run_analysis(spec, out=out, scheduler=cluster.scheduler_address, on_event=on_event)
    assert len(kills) == 1
    assert summary.fitted == ["gmm_full_k1"]
    assert list(summary.failed) == ["gmm_full_k2"] and "KilledWorker" in summary.failed["gmm_full_k2"]
    assert not (out / "gmm_full_k2.nc").exists() and (out / "report.html").exists()
    with local_cluster() as cluster:
        again = analysis.run_analysis(spec, out=out, scheduler=cluster.scheduler_address)
    assert again.fitted == ["gmm_full_k2"] and again.skipped == ["gmm_full_k1"] and again.failed == {}


def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path):
    """Another process holds the folder's lock, as a running `bayesmix run` does; a second run exits 2
    at once and writes nothing."""
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from bayesmix.cli.analysis import _exclusive\n"
            f"with _exclusive(Path({str(out)!r})):\n    print('held', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        outcome = CliRunner().invoke(app, ["run", str(write_spec(tmp_path)), "--out", str(out)])
        assert outcome.exit_code == 2
        assert f"another bayesmix run (process {holder.pid}) is writing into this folder" in outcome.stderr
        assert sorted(p.name for p in out.iterdir()) == [analysis.LOCK_FILE]
    finally:
        holder.kill()
        holder.wait()
    # Once the holder is gone (killed, even), the lock is free again.
    with analysis._exclusive(out):
        pass


def test_a_damaged_or_foreign_result_is_set_aside_and_fitted_again(tmp_path, saved_run):
    out = tmp_path / "out"
    shutil.copytree(saved_run / "out", out)
    first, second = out / "gmm_full_k1.nc", out / "gmm_full_k2.nc"
    original = first.read_bytes()
    first.write_bytes(original[: len(original) // 2])  # a copy cut short
    second.write_bytes(original)  # gmm_full_k1's result under gmm_full_k2's name

    # `bayesmix report` on such a folder says which file and what to do, without a traceback.
    outcome = CliRunner().invoke(app, ["report", str(out)])
    assert outcome.exit_code == 2
    assert "gmm_full_k1.nc" in outcome.stderr and "cannot be read" in outcome.stderr

    events = []
    with local_cluster() as cluster:
        summary = analysis.run_analysis(
            write_spec(saved_run), out=out, scheduler=cluster.scheduler_address, on_event=lambda *e: events.append(e)
        )
    assert sorted(summary.fitted) == NAMES and summary.failed == {}
    assert "cannot be read" in summary.set_aside["gmm_full_k1"]
    assert summary.set_aside["gmm_full_k2"] == "holds candidate 'gmm_full_k1''s result"
    assert ("gmm_full_k2", "set_aside", summary.set_aside["gmm_full_k2"]) in events
    # What the user had is kept, under a name that says why.
    assert (out / "gmm_full_k1.nc.unreadable").read_bytes() == original[: len(original) // 2]
    assert (out / "gmm_full_k2.nc.unreadable").read_bytes() == original
    assert bm.load(second).attrs[analysis.CANDIDATE_ATTR] == "gmm_full_k2"
    assert (out / "report.html").exists()


def test_a_disk_that_fills_up_while_saving_keeps_the_earlier_results(tmp_path, saved_run, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(saved_run / "out", out)
    (out / "gmm_full_k2.nc").unlink()
    kept = (out / "gmm_full_k1.nc").read_bytes()

    def full_disk(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89HDF\r\n" + b"\0" * 4096)  # part of a file, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(xr.DataTree, "to_netcdf", full_disk)
    with local_cluster() as cluster:
        summary = analysis.run_analysis(write_spec(saved_run), out=out, scheduler=cluster.scheduler_address)
    assert summary.skipped == ["gmm_full_k1"] and summary.fitted == []
    assert summary.failed["gmm_full_k2"].startswith(f"not saved: [Errno {errno.ENOSPC}]")
    assert (out / "gmm_full_k1.nc").read_bytes() == kept  # untouched, and readable
    bm.load(out / "gmm_full_k1.nc")
    assert not (out / "gmm_full_k2.nc").exists() and not list(out.glob(".*.partial"))


def test_a_folder_lock_is_not_left_behind_by_a_refused_plan(tmp_path, saved_run):
    """A run refused for another plan releases the folder at once."""
    other = tmp_path / "other.toml"
    other.write_text(textwrap.dedent(SPEC).replace("[1, 2]", "[3]"))
    with pytest.raises(SpecError, match="holds the results of another plan"):
        analysis.run_analysis(other, out=saved_run / "out")
    started = time.monotonic()
    with analysis._exclusive(saved_run / "out"):
        assert time.monotonic() - started < 1
