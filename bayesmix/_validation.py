"""Input checks shared by every public function.

Each check raises ``ValueError`` or ``TypeError`` with a message naming the
argument, what was wrong and what to do, in scikit-learn's style, so that bad
input never surfaces as a traceback from inside PyTensor or scikit-learn.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd


class DegenerateDataWarning(UserWarning):
    """The data have a feature that cannot inform a Gaussian mixture (a constant column)."""


@dataclass(frozen=True)
class Data:
    """A validated data matrix with its feature names.

    Categorical data hold codes: ``values[i, d]`` indexes the union of the
    features' categories (:func:`bayesmix.components.categorical.category_union`),
    and ``categories[d]`` lists feature ``d``'s own labels.
    """

    values: np.ndarray  # (n_obs, n_features), float64
    feature_names: list[str]
    categories: tuple[tuple[str, ...], ...] | None = None

    @property
    def n_obs(self) -> int:
        return self.values.shape[0]

    @property
    def n_features(self) -> int:
        return self.values.shape[1]


# What the NaN error suggests where a family can leave missing cells out of the likelihood.
MARGINALIZE_HINT = "or pass missing='marginalize' to the model to leave NaN cells out of each row's likelihood"


def check_data(X: object, *, name: str = "X", allow_missing: bool = False) -> Data:
    """Validate a data matrix and return it as float64 with feature names.

    Accepts a DataFrame (its column names become the feature names), a 2-D
    array-like (features named ``x0, x1, ...``), or a 1-D array-like (one feature).
    With ``allow_missing``, NaN (and pandas NA) cells are kept as NaN.
    """
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        non_numeric = [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        if non_numeric or any(pd.api.types.is_bool_dtype(X[c]) for c in X.columns):
            bad = non_numeric or [str(c) for c in X.columns if pd.api.types.is_bool_dtype(X[c])]
            raise TypeError(
                f"Argument `{name}` has non-numeric columns {bad}; drop or encode them "
                "as numbers before fitting a Gaussian mixture."
            )
        feature_names = [str(c) for c in X.columns]
        values = X.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            values = np.asarray(X)
        except Exception as err:  # ragged nested lists and the like
            raise TypeError(
                f"Argument `{name}` could not be read as a numeric array ({err}); pass a "
                "2-D array of shape (n_obs, n_features) or a DataFrame."
            ) from err
        if values.dtype == object or not (
            np.issubdtype(values.dtype, np.number) and not np.issubdtype(values.dtype, np.bool_)
        ):
            raise TypeError(
                f"Argument `{name}` must be numeric but has dtype {values.dtype}; pass a "
                "2-D array of numbers or a DataFrame of numeric columns."
            )
        if values.ndim == 1:
            values = values[:, None]
        feature_names = [f"x{j}" for j in range(values.shape[1])] if values.ndim == 2 else []
        values = values.astype(float)
    if values.ndim != 2:
        raise ValueError(
            f"Argument `{name}` must be 1-D or 2-D (n_obs, n_features) but has "
            f"{values.ndim} dimensions with shape {values.shape}; reshape it first."
        )
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(
            f"Argument `{name}` is empty (shape {values.shape}); pass at least one observation of at least one feature."
        )
    bad = np.isinf(values) if allow_missing else ~np.isfinite(values)
    bad_rows = np.flatnonzero(bad.any(axis=1))
    if bad_rows.size:
        shown = row_positions(bad_rows)
        what = "infinite values" if allow_missing else "NaN or infinite values"
        remedy = "drop those rows first" if allow_missing else f"drop or impute those rows first, {MARGINALIZE_HINT}"
        raise ValueError(f"Argument `{name}` contains {what} in {bad_rows.size} row(s) (positions {shown}); {remedy}.")
    return Data(values=np.ascontiguousarray(values), feature_names=feature_names)


def row_positions(rows: np.ndarray) -> str:
    """The first ten row positions for an error message, then an ellipsis."""
    return ", ".join(str(i) for i in rows[:10]) + (" ..." if rows.size > 10 else "")


def check_no_empty_column(missing: np.ndarray, feature_names: list[str], *, name: str) -> None:
    """A column with no observed cell tells nothing and leaves its parameters to the prior: an error."""
    empty = [feature_names[j] for j in np.flatnonzero(missing.all(axis=0))]
    if empty:
        raise ValueError(f"Argument `{name}`: column(s) {empty} are missing in every row; drop them.")


def constant_features(data: Data) -> np.ndarray:
    """Indices of the features whose values are all equal."""
    return np.flatnonzero(np.nanmax(data.values, axis=0) == np.nanmin(data.values, axis=0))


def warn_constant_features(data: Data, remedy: str, *, stacklevel: int = 3) -> np.ndarray:
    """Warn about constant features, saying what is done about them; return their indices."""
    constant = constant_features(data)
    if constant.size:
        described = ", ".join(f"{data.feature_names[j]!r} (always {np.nanmax(data.values[:, j]):g})" for j in constant)
        warnings.warn(
            f"Constant feature(s) {described} carry no information about the components and would "
            f"give them zero variance there; {remedy} Drop the feature(s) to silence this warning.",
            DegenerateDataWarning,
            stacklevel=stacklevel,
        )
    return constant


def check_n_components(n_components: object, n_obs: int, *, name: str = "n_components") -> int:
    """Validate a number of mixture components against the number of observations."""
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise TypeError(f"Argument `{name}` must be a positive integer but got {n_components!r}.")
    if n_components < 1:
        raise ValueError(f"Expected `{name}` >= 1 but got {name} = {n_components}.")
    if n_components > n_obs:
        raise ValueError(
            f"Expected n_samples >= {name} but got {name} = {n_components}, "
            f"n_samples = {n_obs}; use fewer components or more data."
        )
    return int(n_components)


def check_choice(value: object, options: Iterable[str], *, name: str) -> str:
    """Check that ``value`` is one of ``options``."""
    options = list(options)
    if value not in options:
        raise ValueError(f"Unknown {name} {value!r}; choose one of {options}.")
    return str(value)


def check_positive_int(value: object, *, name: str, allow_zero: bool = False) -> int:
    """Check that ``value`` is a positive (or non-negative) integer."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"Argument `{name}` must be an integer but got {value!r}.")
    low = 0 if allow_zero else 1
    if value < low:
        raise ValueError(f"Argument `{name}` must be >= {low} but got {name} = {value}.")
    return int(value)
