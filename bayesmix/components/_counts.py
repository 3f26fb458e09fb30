"""What the count families (Poisson, negative binomial) share: validating counts and scaling their priors."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr

from bayesmix._validation import Data, DegenerateDataWarning, check_data, row_positions
from bayesmix.baseline._em import em_dataset, ordered, run_em

# Distributions that can serve as the prior of a positive rate or mean.
POSITIVE_DISTRIBUTIONS = ("Gamma", "LogNormal", "HalfNormal", "Exponential", "InverseGamma", "HalfStudentT", "Weibull")


def check_counts(X: Any, *, name: str = "X", family: str, missing: bool = False) -> Data:
    """Numeric data whose every cell is a non-negative integer (or, with ``missing``, NaN); the error names
    the rows and columns that are not."""
    data = check_data(X, name=name, allow_missing=missing)
    values = data.values
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(values) & ((values < 0) | (values != np.round(values)))
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        columns = [data.feature_names[j] for j in np.flatnonzero(bad.any(axis=0))]
        row, col = np.argwhere(bad)[0]
        shown = row_positions(rows)
        raise ValueError(
            f"Argument `{name}` must hold counts (non-negative integers) for component={family!r}, but "
            f"{rows.size} row(s) (positions {shown}) in column(s) {columns} do not, e.g. "
            f"{values[row, col]:g} in row {row}, column {data.feature_names[col]!r}; pass counts, or choose "
            "component='gaussian' or 'student_t' for continuous data."
        )
    zero = np.flatnonzero(((values == 0) | np.isnan(values)).all(axis=0))
    if zero.size:
        warnings.warn(
            f"Column(s) {[data.feature_names[j] for j in zero]} are zero in every row and carry no "
            "information about the components; their rates get a prior scaled to 1 / n_obs so that the "
            "posterior stays proper. Drop the column(s) to silence this warning.",
            DegenerateDataWarning,
            stacklevel=4,
        )
    return data


def check_count_response(y: np.ndarray, *, name: str, family: str) -> None:
    """A regression response of counts: non-negative integers, or a ValueError naming a bad row."""
    from bayesmix.components._response import first_bad

    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(y) | (y < 0) | (y != np.round(y))
    if bad.any():
        raise ValueError(
            f"Argument `{name}` must hold counts (non-negative integers) for component={family!r}, but "
            f"{first_bad(y, bad)}; pass counts, or component='gaussian' for a continuous y."
        )


def count_link_center(y: np.ndarray) -> float:
    """log of y's mean count (half a count for all-zero data): where a log link's linear predictor sits."""
    return float(np.log(max(np.mean(y), 0.5)))


def count_scale(data: Data) -> np.ndarray:
    """Per-feature mean count, at least 1 / n_obs (an all-zero column's prior must stay proper)."""
    return np.maximum(np.nanmean(data.values, axis=0), 1.0 / data.n_obs)


def nearly_empty(weights: np.ndarray, n_obs: int, n_features: int) -> np.ndarray:
    """Components with fewer than D + 1 observations' worth of weight (the Gaussian baseline's rule)."""
    return weights * n_obs < n_features + 1


def count_em(family, data: Data, n_components: int, *, n_init: int, seed: int, **options) -> xr.Dataset:
    """EM of a count family (:func:`bayesmix.baseline._em.run_em` with the family's density and M-step),
    started from k-means on log(1 + x), ordered by location, flagged where a component is nearly empty."""
    fit = run_em(
        data.values,
        n_components,
        log_density=family.log_density,
        m_step=family.m_step,
        start_features=np.log1p(data.values),
        n_init=n_init,
        seed=seed,
        **options,
    )
    fit = ordered(fit, family.location)
    fit["degenerate"] = nearly_empty(fit["weights"], data.n_obs, data.n_features)
    return em_dataset(family, data, fit, covariance=None, attrs={"n_init": n_init, "random_seed": seed})
