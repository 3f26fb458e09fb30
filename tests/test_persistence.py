"""save() and load(): exact round trips in netCDF and zarr, atomic writes, clear errors."""

import shutil

import numpy as np
import pytest
import xarray as xr

import bayesmix as bm
from bayesmix._result import priors_of


@pytest.fixture(scope="module")
def results(faithful):
    nuts = bm.fit(bm.models.gmm(faithful, 2), draws=30, tune=50, chains=2, random_seed=0, progressbar=False)
    advi = bm.fit(
        bm.models.gmm(faithful, 2, covariance="diag"),
        method="advi",
        n_steps=300,
        draws=30,
        random_seed=0,
        progressbar=False,
    )
    return {"nuts_relabelled": bm.relabel(nuts), "advi": advi}


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
@pytest.mark.parametrize("kind", ["nuts_relabelled", "advi"])
def test_round_trip_is_exact(results, tmp_path, suffix, kind):
    result = results[kind]
    path = bm.save(result, tmp_path / f"fit{suffix}")
    back = bm.load(path)
    xr.testing.assert_identical(back, result)
    assert back.attrs == result.attrs
    assert priors_of(back) == priors_of(result)
    # Fully in memory: the result outlives its file.
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    np.testing.assert_array_equal(back["posterior"]["weights"].values, result["posterior"]["weights"].values)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_saving_over_a_result_replaces_it_and_leaves_no_temporary_files(results, tmp_path, suffix):
    path = tmp_path / f"fit{suffix}"
    bm.save(results["advi"], path)
    bm.save(results["nuts_relabelled"], path)
    xr.testing.assert_identical(bm.load(path), results["nuts_relabelled"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize(("suffix", "writer"), [(".nc", "to_netcdf"), (".zarr", "to_zarr")])
def test_an_interrupted_save_keeps_the_previous_result(results, tmp_path, monkeypatch, suffix, writer):
    path = tmp_path / f"fit{suffix}"
    bm.save(results["advi"], path)
    original = getattr(xr.DataTree, writer)

    def write_half_then_die(self, target, *args, **kwargs):
        original(self["posterior"], target, *args, **kwargs)  # part of the result is on disk
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.DataTree, writer, write_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        bm.save(results["nuts_relabelled"], path)
    monkeypatch.undo()
    xr.testing.assert_identical(bm.load(path), results["advi"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_damaged_and_foreign_files_give_clear_errors(tmp_path):
    damaged = tmp_path / "damaged.nc"
    damaged.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(ValueError, match="could not be read as a netcdf file"):
        bm.load(damaged)
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(foreign)
    with pytest.raises(ValueError, match="is not a bayesmix fit result"):
        bm.load(foreign)
    with pytest.raises(FileNotFoundError, match="no such file"):
        bm.load(tmp_path / "missing.zarr")


def test_bad_paths_are_named(results, tmp_path):
    with pytest.raises(ValueError, match=r"must end in one of \['.nc', '.zarr'\]"):
        bm.save(results["advi"], tmp_path / "fit.pkl")
    with pytest.raises(ValueError, match="does not exist; create it first"):
        bm.save(results["advi"], tmp_path / "no" / "fit.nc")
    with pytest.raises(TypeError, match=r"must be an xarray\.DataTree"):
        bm.save(results["advi"]["posterior"].to_dataset(), tmp_path / "fit.nc")
    with pytest.raises(TypeError, match="`path` must be a str or path-like"):
        bm.load(3)
