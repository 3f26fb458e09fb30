"""Saving and loading fit results: netCDF or zarr, written atomically.

A result is written under a temporary name beside its destination and renamed
into place only once it is complete, so an interrupted save leaves the previous
file (or nothing), never half a file. Loading checks that the file is a bayesmix
result and reads it fully into memory, so the file is closed afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import xarray as xr

from bayesmix._result import check_result, is_result

# suffix -> (format name, xarray engine)
FORMATS = {".nc": ("netcdf", "netcdf4"), ".zarr": ("zarr", "zarr")}


def _check_path(path: object) -> tuple[Path, str, str]:
    """The path, its format name and its xarray engine, from its suffix."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"Argument `path` must be a str or path-like but got {type(path).__name__}.")
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(
            f"Argument `path` must end in one of {sorted(FORMATS)} (netCDF or zarr) but got {str(path)!r}."
        )
    return (path, *FORMATS[path.suffix.lower()])


def save(result: xr.DataTree, path: str | os.PathLike) -> Path:
    """Write a fit result to ``path`` (``.nc``: netCDF, ``.zarr``: zarr), atomically.

    Parameters
    ----------
    result : xarray.DataTree
        A result of :func:`bayesmix.fit` (relabelled or not).
    path : str or path-like
        Destination; its suffix chooses the format. An existing file or zarr
        folder there is replaced only once the new one is completely written.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    result = check_result(result)
    path, fmt, engine = _check_path(path)
    if not path.parent.is_dir():
        raise ValueError(f"Argument `path`: the folder {str(path.parent)!r} does not exist; create it first.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        written = tmp / path.name
        if fmt == "netcdf":
            result.to_netcdf(written, engine=engine)
        else:
            result.to_zarr(written, mode="w")
        _replace(written, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _replace(new: Path, path: Path) -> None:
    """Move ``new`` to ``path``; a file is replaced atomically, a zarr folder via a backup."""
    if new.is_file() or not path.exists():
        os.replace(new, path)
        return
    # A directory cannot be replaced in one rename: move the old one aside first, so that
    # an interruption leaves the old result under its backup name or the new one in place.
    backup = path.with_name(f".{path.name}.old")
    shutil.rmtree(backup, ignore_errors=True)
    os.replace(path, backup)
    os.replace(new, path)
    shutil.rmtree(backup, ignore_errors=True)


def load(path: str | os.PathLike) -> xr.DataTree:
    """Read a fit result written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
        A ``.nc`` file or ``.zarr`` folder.

    Returns
    -------
    xarray.DataTree
        The result, fully in memory, with the values, dims, coords and attrs
        it was saved with.
    """
    path, fmt, engine = _check_path(path)
    if not path.exists():
        raise FileNotFoundError(f"Argument `path`: no such file {str(path)!r}.")
    try:
        with xr.open_datatree(path, engine=engine) as tree:
            result = tree.load().copy()
    except Exception as err:  # h5py, zarr and xarray raise many types for a damaged file
        raise ValueError(
            f"Argument `path`: {str(path)!r} could not be read as a {fmt} file ({type(err).__name__}: {err}); "
            "it may be damaged or not a bayesmix result."
        ) from err
    if not is_result(result):
        raise ValueError(
            f"Argument `path`: {str(path)!r} is readable but is not a bayesmix fit result "
            "(no posterior group or no bayesmix attrs); write results with bayesmix.save."
        )
    return result


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it a normal file's mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def remove_partial_files(folder: Path) -> list[Path]:
    """Delete what interrupted atomic writes left in ``folder`` (``.*.partial``); return what was removed."""
    removed = sorted(Path(folder).glob(".*.partial"))
    for leftover in removed:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    return removed
