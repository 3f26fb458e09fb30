"""The benchmark: its relabelling-aware convergence figures, and a short run end to end."""

import json

import numpy as np
import pytest
from PIL import Image

import bayesmix as bm
from bayesmix.bench.__main__ import main
from bayesmix.bench.cases import all_cases
from bayesmix.bench.measure import convergence
from bayesmix.bench.report import nuts_table
from bayesmix.models._base import get_info


def _draws_around(case, em, rng, n_chains=4, n_draws=300, noise=0.01):
    K, D = case.n_components, case.n_features
    shape = (n_chains, n_draws)
    return {
        "weights": em["weights"].values * (1 + noise * rng.standard_normal((*shape, K))),
        "means": em["means"].values + noise * rng.standard_normal((*shape, K, D)),
        "covariances": np.broadcast_to(em["covariances"].values, (*shape, K, D, D)).copy(),
    }


def test_convergence_undoes_label_switching_between_chains():
    case = all_cases()["faithful K=2"]
    em = bm.em(case.X, 2, random_seed=0)
    draws = _draws_around(case, em, np.random.default_rng(0))
    for name in ("weights", "means", "covariances"):
        draws[name][2:] = draws[name][2:, :, ::-1]  # chains 2 and 3 in the other labelling
    figures = convergence(case, draws, em)
    assert figures["max_rhat"] < 1.01
    assert figures["min_bulk_ess"] > 600


def test_convergence_reports_chains_that_disagree():
    case = all_cases()["faithful K=2"]
    em = bm.em(case.X, 2, random_seed=0)
    draws = _draws_around(case, em, np.random.default_rng(1))
    draws["means"][0] += 0.5  # one chain elsewhere: not a relabelling
    assert convergence(case, draws, em)["max_rhat"] > 1.1


def test_cases_share_one_set_of_priors_with_bayesmix_defaults():
    case = all_cases()["faithful K=3"]
    model = bm.models.gmm(case.X, 3)
    defaults = get_info(model).priors
    np.testing.assert_allclose(defaults["means"].parameters["sigma"], case.mean_sigma)
    np.testing.assert_allclose(defaults["scales"].parameters["sigma"], case.scale_sigma)
    assert all_cases()["synthetic N=1e5"].n_obs == 100_000


@pytest.mark.slow
def test_short_run_writes_table_json_and_plot(tmp_path):
    pytest.importorskip("numpyro")
    args = ["--cases", "synthetic N=1e3", "--contenders", "bayesmix", "bayesmix-prior", "numpyro", "--draws", "100"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    measured = json.loads((tmp_path / "benchmark.json").read_text())
    assert [row["contender"] for row in measured["nuts"]] == ["bayesmix", "bayesmix-prior", "numpyro"]
    for row in measured["nuts"]:
        assert row["first_s"] > 0 and row["second_s"] > 0
        assert row["second"]["max_rhat"] < 1.1  # well-separated clusters, after relabelling
    em = measured["em"][0]
    assert em["bayesmix_loglik"] == pytest.approx(em["sklearn_loglik"], abs=1e-3 * abs(em["sklearn_loglik"]))
    table = (tmp_path / "benchmark.md").read_text()
    assert table.count("| synthetic N=1e3 |") == 4  # three NUTS rows and the EM row
    with Image.open(tmp_path / "ess_per_second.png") as image:
        image.load()
        assert image.size[0] > 300


def _row(contender, ess, seconds, rhat=1.0):
    fit = {"min_bulk_ess": ess, "max_rhat": rhat, "divergences": 0}
    return {
        "case": "c",
        "n_obs": 10,
        "contender": contender,
        "first_s": seconds,
        "second_s": seconds,
        "first": fit,
        "second": fit,
    }


def test_ratios_compare_with_other_code_only_and_only_when_converged():
    rows = [
        _row("bayesmix", 1000, 10),  # 100 ESS/s
        _row("bayesmix-numpyro", 1000, 2),  # 500 ESS/s: another bayesmix path, not a rival
        _row("pymc", 1000, 20),  # 50 ESS/s
        _row("numpyro", 1000, 1, rhat=1.2),  # fastest, but not converged: no rival either
    ]
    lines = {line.split(" | ")[2]: line for line in nuts_table(rows).splitlines()[2:]}
    assert lines["bayesmix"].endswith("| 2.00x / 2.00x |")
    assert lines["bayesmix-numpyro"].endswith("| 10.00x / 10.00x |")
    assert lines["pymc"].endswith("| 0.10x / 0.10x |")  # against the faster bayesmix path
    assert lines["numpyro"].endswith("| — / — |")


def test_cold_cache_gives_each_measurement_empty_compile_caches(monkeypatch):
    """--cold-cache points PyTensor and numba at a new, empty folder per measurement, and the table says so."""
    import subprocess

    from bayesmix.bench import __main__ as bench_main
    from bayesmix.bench.report import markdown

    seen = []

    def fake_run(command, env, **kwargs):
        seen.append(env)
        return subprocess.CompletedProcess(command, 0, stdout='{"ok": 1}\n', stderr="")

    monkeypatch.setattr(bench_main.subprocess, "run", fake_run)
    monkeypatch.setenv("PYTENSOR_FLAGS", "floatX=float64")
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    for _ in range(2):
        assert bench_main._in_fresh_process("measure_em", ("faithful K=2",), 4, 10.0, cold_cache=True) == {"ok": 1}
    assert bench_main._in_fresh_process("measure_em", ("faithful K=2",), 4, 10.0) == {"ok": 1}
    first, second, warm = seen
    assert first["PYTENSOR_FLAGS"].startswith("floatX=float64,base_compiledir=")
    assert first["PYTENSOR_FLAGS"] != second["PYTENSOR_FLAGS"]
    assert first["NUMBA_CACHE_DIR"] != second["NUMBA_CACHE_DIR"]
    assert warm["PYTENSOR_FLAGS"] == "floatX=float64" and "NUMBA_CACHE_DIR" not in warm
    assert "empty PyTensor and numba caches" in markdown([], [], "m", "c", cold_cache=True)
    assert "caches that earlier runs on this machine had filled" in markdown([], [], "m", "c")
