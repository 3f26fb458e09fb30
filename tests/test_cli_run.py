"""`bayesmix run` end to end on Dask: an existing 2-worker cluster on loopback, the report, and a run
killed half-way and resumed."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

import bayesmix as bm
from bayesmix.cli.app import app

pytestmark = pytest.mark.slow

SPEC = """
    title = "mcycle smoke test"
    seed = 7
    [data]
    dataset = "mcycle"
    columns = ["accel"]
    x = ["times"]
    y = ["accel"]
    [baseline]
    n_components = [1, 2]
    covariance = ["full"]
    [[candidates]]
    family = "gmm"
    n_components = [1, 2]
    init = "em"
    draws = 100
    tune = 100
    chains = 2
    [[candidates]]
    family = "dp_gmm"
    truncation = 5
    method = "advi"
    steps = 500
    draws = 200
    [[candidates]]
    family = "mdn"
    n_components = [1, 2]
    hidden = [4]
    steps = 500
    draws = 200
"""
GMM_ONLY = """
    seed = 7
    [data]
    dataset = "faithful"
    [[candidates]]
    family = "gmm"
    n_components = [1, 2, 3]
    draws = 100
    tune = 100
    chains = 2
"""
NAMES = ["gmm_full_k1", "gmm_full_k2", "dp_gmm_full_t5", "mdn_k1_h4", "mdn_k2_h4"]


def write_spec(folder: Path, text: str = SPEC) -> Path:
    path = folder / "smoke.toml"
    path.write_text(textwrap.dedent(text))
    return path


def embedded_images(page: str) -> list[Image.Image]:
    images = []
    for encoded in re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page):
        image = Image.open(io.BytesIO(base64.b64decode(encoded, validate=True)))
        image.load()  # decodes the whole PNG; a truncated or corrupt one raises
        images.append(image)
    return images


def chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("BAYESMIX_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed but BAYESMIX_REQUIRE_BROWSER is set (CI installs it)")
        pytest.skip("chromium is not installed (`make test` installs it where apt-get is allowed)")
    return browser


def render(page: Path, tmp_path: Path) -> Image.Image:
    """Screenshot of the page in headless Chromium, with the flags this sandboxed machine needs."""
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium'}",
            f"--screenshot={shot}",
            "--window-size=1100,2400",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Image.open(shot)


@pytest.fixture(scope="module")
def loopback_cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def test_run_on_an_existing_cluster_writes_results_comparison_and_report(tmp_path, loopback_cluster):
    out = tmp_path / "out"
    runner = CliRunner()
    outcome = runner.invoke(app, ["run", str(write_spec(tmp_path)), "--out", str(out), "--scheduler", loopback_cluster])
    assert outcome.exit_code == 0, outcome.output
    assert "5 fitted, 0 already saved, 0 failed" in outcome.stdout

    for name in NAMES:
        result = bm.load(out / f"{name}.nc")
        spec_family = name.rsplit("_", 2)[0]
        assert result.attrs["bayesmix_family"] == {"gmm": "mixture", "dp_gmm": "dp_mixture"}.get(
            spec_family, spec_family
        )
    assert result.attrs["method"] == "advi" and (out / "baselines" / "mdn_k2_h4_map.nc").exists()
    assert "relabel" in bm.load(out / "gmm_full_k2.nc").children

    table = pd.read_csv(out / "comparison.csv", index_col="candidate")
    assert set(table.index) == set(NAMES)
    assert set(table["group"]) == {"Mixtures of x", "Mixture density networks, y given x"}
    # Each group is ranked within itself, against the LOO of the saved results.
    mixtures = bm.compare({n: bm.load(out / f"{n}.nc") for n in NAMES[:3]})
    assert np.allclose(table.loc[mixtures.index, "elpd_loo"], mixtures["elpd_loo"], rtol=1e-5)

    page = (out / "report.html").read_text()
    images = embedded_images(page)
    # data x2, comparison and Pareto k x2, per candidate a convergence and a model figure, DP cluster counts
    assert len(images) == 6 + 2 * len(NAMES) + 1
    assert all(min(image.size) > 50 for image in images)
    headings = ["EM model selection", "Comparison by PSIS-LOO", *NAMES, "Posterior against EM", "Posterior against MAP"]
    for heading in headings:
        assert heading in page
    shot = np.asarray(render(out / "report.html", tmp_path).convert("L"), dtype=float)
    assert shot.std() > 10  # text, tables and figures, not a blank or error page

    # `bayesmix report` re-renders from the saved files (a re-run that skips them: the test below).
    before = (out / "report.html").stat().st_mtime_ns
    outcome = runner.invoke(app, ["report", str(out)])
    assert outcome.exit_code == 0 and (out / "report.html").stat().st_mtime_ns > before
    assert len(embedded_images((out / "report.html").read_text())) == len(images)


FAMILIES = {
    "counts": (
        """
        seed = 3
        [data]
        dataset = "biochemists"
        columns = ["art"]
        [baseline]
        component = "negative_binomial"
        n_components = [1, 2]
        [[candidates]]
        family = "mixture"
        component = ["poisson", "negative_binomial"]
        n_components = 2
        draws = 100
        tune = 100
        chains = 2
        """,
        # convergence and count frequencies each; the negative binomial's dispersions
        {"poisson_k2": 2, "negative_binomial_k2": 3},
        "observed count frequencies against the posterior predictive",
    ),
    "heavy tails": (
        """
        seed = 3
        [data]
        dataset = "hbk"
        columns = ["X1", "X2"]
        [[candidates]]
        family = "mixture"
        component = ["gaussian", "student_t"]
        n_components = 2
        covariance = "diag"
        draws = 100
        tune = 100
        chains = 2
        """,
        # convergence and ellipses each; the Student-t's degrees of freedom
        {"gmm_diag_k2": 2, "student_t_diag_k2": 3},
        "ellipses of the scale matrices",
    ),
    "binary items": (
        """
        seed = 3
        [data]
        dataset = "lsat6"
        [baseline]
        component = "bernoulli"
        n_components = [1, 2]
        [[candidates]]
        family = "mixture"
        component = "bernoulli"
        n_components = [1, 2]
        draws = 100
        tune = 100
        chains = 2
        """,
        # convergence and the latent class profile each
        {"bernoulli_k1": 2, "bernoulli_k2": 2},
        "latent class profile, posterior against EM",
    ),
    "categorical items": (
        """
        seed = 3
        [data]
        dataset = "biochemists"
        columns = ["fem", "mar", "kid5"]
        [baseline]
        component = "categorical"
        n_components = [1, 2]
        [[candidates]]
        family = "mixture"
        component = "categorical"
        n_components = [1, 2]
        draws = 100
        tune = 100
        chains = 2
        """,
        {"categorical_k1": 2, "categorical_k2": 2},
        "latent class profile, posterior against EM",
    ),
    "mixed columns with missing ages": (
        """
        seed = 3
        [data]
        dataset = "titanic"
        columns = ["pclass", "sex", "age", "parch"]
        [baseline]
        component = { pclass = "categorical", sex = "categorical", age = "gaussian", parch = "poisson" }
        covariance = "full"
        n_components = [1, 2]
        [[candidates]]
        family = "mixture"
        component = { pclass = "categorical", sex = "categorical", age = "gaussian", parch = "poisson" }
        missing = "marginalize"
        n_components = [1, 2]
        draws = 100
        tune = 100
        chains = 2
        """,
        # convergence, the categorical columns' profile and the Poisson block's rates
        {"mixed_full_k1": 3, "mixed_full_k2": 3},
        "latent class profile, posterior against EM",
    ),
}


@pytest.mark.parametrize("case", FAMILIES)
def test_the_report_draws_what_each_family_calls_for(tmp_path, loopback_cluster, case):
    text, figures, marker = FAMILIES[case]
    out = tmp_path / "out"
    outcome = CliRunner().invoke(
        app, ["run", str(write_spec(tmp_path, text)), "--out", str(out), "--scheduler", loopback_cluster]
    )
    assert outcome.exit_code == 0, outcome.output
    for name in figures:
        result = bm.load(out / f"{name}.nc")
        assert result.attrs["bayesmix_family"] == "mixture" and "relabel" in result.children
    page = (out / "report.html").read_text()
    for name, n in figures.items():
        section = page.split(f"<h2 id='{name}'>")[1].split("<h2")[0]
        assert len(embedded_images(section)) == n, name
    assert marker in page
    has_baseline = "[baseline]" in text
    # data, comparison and Pareto k, the EM table's section has no figure
    assert len(embedded_images(page)) == 3 + sum(figures.values())
    assert ("EM model selection" in page) == has_baseline


def test_the_report_draws_a_mixture_of_regressions_and_its_gate(tmp_path, loopback_cluster):
    text = """
        seed = 3
        [data]
        dataset = "biochemists"
        x = ["fem", "mar", "kid5", "ment"]
        y = ["art"]
        [[candidates]]
        family = "mixreg"
        component = "poisson"
        n_components = 1
        draws = 100
        tune = 100
        chains = 2
        [[candidates]]
        family = "mixreg"
        component = "poisson"
        n_components = 2
        experts = ["kid5", "ment"]
        gating = ["fem", "mar"]
        draws = 100
        tune = 100
        chains = 2
        """
    out = tmp_path / "out"
    outcome = CliRunner().invoke(
        app, ["run", str(write_spec(tmp_path, text)), "--out", str(out), "--scheduler", loopback_cluster]
    )
    assert outcome.exit_code == 0, outcome.output
    gated = bm.load(out / "mixreg_poisson_k2_gated.nc")
    assert gated.attrs["bayesmix_family"] == "mixreg" and "relabel" in gated.children
    assert gated["relabel"].attrs["reference"] == "em"
    page = (out / "report.html").read_text()
    # rank plots and the fitted regressions each; the gate for the gated one
    figures = {"mixreg_poisson_k1": 2, "mixreg_poisson_k2_gated": 3}
    for name, n in figures.items():
        section = page.split(f"<h2 id='{name}'>")[1].split("<h2")[0]
        assert len(embedded_images(section)) == n, name
    assert "Mixtures of regressions, y given x" in page and "Posterior against EM" in page
    # data, comparison and Pareto k
    assert len(embedded_images(page)) == 3 + sum(figures.values())


def test_a_folder_of_another_plan_is_refused_untouched(tmp_path, loopback_cluster):
    out = tmp_path / "out"
    out.mkdir()
    spec = write_spec(tmp_path)
    (out / "run.json").write_text('{"candidates": [], "data": {}}')
    outcome = CliRunner().invoke(app, ["run", str(spec), "--out", str(out), "--scheduler", loopback_cluster])
    assert outcome.exit_code == 2 and "holds the results of another plan" in outcome.stderr
    # Only the (empty) lock file that every run holds while it looks at the folder is added.
    assert sorted(p.name for p in out.iterdir()) == [".bayesmix.lock", "run.json"]
    assert (out / "run.json").read_text() == '{"candidates": [], "data": {}}'
    assert (out / ".bayesmix.lock").read_text() == ""


def test_an_unreachable_scheduler_exits_2(tmp_path):
    outcome = CliRunner().invoke(
        app, ["run", str(write_spec(tmp_path)), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"]
    )
    assert outcome.exit_code == 2 and "no Dask scheduler answered" in outcome.stderr


def test_a_killed_run_resumes_where_it_stopped(tmp_path):
    """A local cluster of 2 workers (on loopback); kill the whole process group once the first
    result is saved, then run again."""
    spec = write_spec(tmp_path, GMM_ONLY)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "bayesmix.cli.app", "run", str(spec), "--out", str(out), "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(out.glob("*.nc")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    saved = {p.name: p.stat().st_mtime_ns for p in out.glob("*.nc")}
    assert 1 <= len(saved) < 3, f"the run should be cut off after its first result: {sorted(saved)}"
    for name in saved:
        bm.load(out / name)  # complete and readable, not half-written
    assert not (out / "report.html").exists()

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{3 - len(saved)} fitted, {len(saved)} already saved, 0 failed" in resumed.stdout
    assert {p.name for p in out.glob("*.nc")} == {"gmm_full_k1.nc", "gmm_full_k2.nc", "gmm_full_k3.nc"}
    assert all((out / name).stat().st_mtime_ns == mtime for name, mtime in saved.items())
    assert not list(out.glob(".*.partial")) and (out / "report.html").exists()
