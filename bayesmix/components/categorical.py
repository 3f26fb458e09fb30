r"""Categorical components: items with several answers, independent within a class (polytomous latent class analysis).

Feature :math:`d` takes one of its own categories :math:`c = 1, \dots, C_d`;
class :math:`k` answers it with probabilities :math:`\pi_{kd\cdot}`:

.. math::

    p(x_i \mid \pi_k) = \prod_{d=1}^D \pi_{kd x_{id}},
    \qquad \pi_{kd\cdot} \sim \operatorname{Dirichlet}(\mathbf 1_{C_d}),

the model of poLCA and of StepMix's ``"categorical"`` measurement. Columns
may be text, pandas ``Categorical`` (their declared categories are kept, in
their order, even those no row uses) or integer codes. The posterior's
``probabilities`` have dims (component, feature, category), the ``category``
coordinate the union of every feature's labels; a category that a feature
does not have gets probability zero there.

Features that share their set of categories (Likert items, say) share one
Dirichlet variable ``probabilities_<C>cat`` of shape (component, features,
C); ``probabilities`` is their deterministic union. The EM baseline's M-step
is closed-form, :math:`\pi_{kdc} = \sum_i r_{ik} [x_{id} = c] / \sum_i
r_{ik}`, run by bayesmix's EM driver (:mod:`bayesmix.baseline._em`), tested
against StepMix.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayesmix._validation import MARGINALIZE_HINT, Data, row_positions
from bayesmix.components._family import PLAIN, Naming
from bayesmix.components._items import item_em
from bayesmix.priors import Role

# EM's zero probabilities are moved this far inside the simplex to start the sampler on its interior.
_START_MARGIN = 1e-3


def category_union(categories: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every feature's labels, each once, in the order they first appear."""
    return list(dict.fromkeys(label for labels in categories for label in labels))


def decode(
    codes: np.ndarray, categories: tuple[tuple[str, ...], ...], features: np.ndarray | None = None
) -> np.ndarray:
    """Codes (NaN where missing) as the labels they stand for, an object array (NaN stays NaN).

    ``codes`` has the features on its last axis, or, with ``features``, holds cells of the features it
    names. A feature without categories (a numeric column beside categorical ones) keeps its values.
    """
    codes = np.asarray(codes, dtype=float)
    features = np.arange(codes.shape[-1]) if features is None else np.asarray(features)
    coded = np.array([bool(labels) for labels in categories])[features] & ~np.isnan(codes)
    union = np.asarray([*category_union(categories), np.nan], dtype=object)  # the last entry answers NaN
    labels = union[np.where(coded, codes, -1).astype(int)]
    return np.where(coded, labels, codes.astype(object))


def check_categorical(X: Any, *, name: str = "X", like: Data | None = None, missing: bool = False) -> Data:
    """Text, Categorical, boolean or integer columns as codes into the union of their categories.

    With ``like`` (the training data) the categories are the training ones and
    a value that training never saw is an error naming the column and the value.
    With ``missing``, NaN and pandas NA cells are kept, as NaN codes.
    """
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if not isinstance(X, pd.DataFrame):
        values = np.asarray(X)
        if values.dtype.kind not in "biuf":  # text and mixed cells stay Python objects
            values = values.astype(object)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise ValueError(
                f"Argument `{name}` must be 1-D or 2-D (n_obs, n_features) but has {values.ndim} dimensions "
                f"with shape {values.shape}; reshape it first."
            )
        X = pd.DataFrame(values, columns=[f"x{j}" for j in range(values.shape[1])])
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(
            f"Argument `{name}` is empty (shape {X.shape}); pass at least one observation of at least one feature."
        )
    absent = X.isna().to_numpy()
    columns = [str(c) for c in X.columns]
    if absent.any() and not missing:
        rows = np.flatnonzero(absent.any(axis=1))
        shown = row_positions(rows)
        raise ValueError(
            f"Argument `{name}` contains NaN or missing values in {rows.size} row(s) (positions {shown}); "
            f"drop or impute those rows first, {MARGINALIZE_HINT}."
        )
    for column in columns:
        values = X[column].dropna()
        if pd.api.types.is_float_dtype(values) and not np.all(np.isfinite(values) & (values == np.round(values))):
            bad = values[~(np.isfinite(values) & (values == np.round(values)))].iloc[0]
            raise ValueError(
                f"Argument `{name}`: column {column!r} holds numbers that are not category codes, e.g. {bad:g}; "
                "categorical columns are text, pandas Categorical, booleans or integer codes. For measurements "
                "use component='gaussian' or 'student_t'."
            )
    if like is not None:
        categories = like.categories
    else:
        categories = tuple(_labels(X.iloc[:, j]) for j in range(X.shape[1]))
    union = {label: code for code, label in enumerate(category_union(categories))}
    codes = np.empty(X.shape, dtype=float)
    for j, column in enumerate(columns):
        present = ~absent[:, j]
        labels = _as_text(X.iloc[:, j].dropna())
        unknown = sorted(set(labels) - set(categories[j]))
        if unknown:
            raise ValueError(
                f"Argument `{name}`: column {column!r} has value(s) {unknown[:5]} that the model was not fitted "
                f"on; its categories are {list(categories[j])}. Recode them, or refit with data that include them."
            )
        codes[:, j] = np.nan
        codes[present, j] = [union[label] for label in labels]
    return Data(values=codes, feature_names=columns, categories=categories)


def _labels(column: pd.Series) -> tuple[str, ...]:
    """A column's categories as text: a Categorical's declared ones in order, else the sorted values found."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return tuple(str(c) for c in column.cat.categories)
    return tuple(dict.fromkeys(_as_text(column.dropna().sort_values())))


def _as_text(column: pd.Series) -> np.ndarray:
    """Labels as text; integer codes stored as floats (1.0) read as the integers they are (1)."""
    if pd.api.types.is_float_dtype(column):
        column = column.astype(np.int64)
    return column.astype(str).to_numpy()


class CategoricalFamily:
    name = "categorical"
    parameters = ("probabilities",)
    location = "probabilities"
    discrete = True
    ellipse = None
    profile = "probabilities"
    # JAX: 3.9 s against 14.5 s for a second fit of 200 rows x 3 items (2 x (300 + 300) draws), where
    # numba's compilation dominates; 54 s for both at 5000 rows x 8 items
    nutpie_backend = "jax"
    covariance_types = ()
    roles: ClassVar[dict[str, Role]] = {
        "probabilities": Role("the Dirichlet concentration of each item's answer probabilities", scalar=True)
    }
    signature = "(k,d,c)"

    marginalizes_missing = True

    def check_data(self, X: Any, *, name: str = "X", like: Data | None = None, missing: bool = False) -> Data:
        return check_categorical(X, name=name, like=like, missing=missing)

    def coords(self, data: Data) -> dict[str, list[str]]:
        return {"category": category_union(data.categories)}

    def default_priors(self, data: Data, covariance: str | None) -> dict[str, Any]:
        return {"probabilities": 1.0}

    def prior_shapes(self, n_components: int, n_features: int, covariance: str | None) -> dict[str, tuple]:
        return {"probabilities": ()}

    def parameter_dims(self) -> dict[str, tuple[str, ...]]:
        return {"probabilities": ("component", "feature", "category")}

    def build(self, data: Data, n_components: int, priors: dict, covariance: str | None, naming: Naming = PLAIN):
        concentration = float(priors["probabilities"])
        union = category_union(data.categories)
        parts, features = [], []
        for labels, group_features in _groups(data.categories).items():
            shape = (n_components, len(group_features), len(labels))
            group = pm.Dirichlet(naming(_group_name(labels, data.categories)), a=np.full(shape, concentration))
            # place the group's categories at their columns of the union (zeros elsewhere)
            placement = np.zeros((len(labels), len(union)))
            placement[np.arange(len(labels)), [union.index(label) for label in labels]] = 1.0
            parts.append(pt.dot(group, placement))
            features += group_features
        probabilities = pt.concatenate(parts, axis=1)[:, np.argsort(features), :]
        dims = naming.dims("component", "feature", "category")
        return (pm.Deterministic(naming("probabilities"), probabilities, dims=dims),)

    def logp(self, value, probabilities, *, covariance: str | None, n_features: int, missing: np.ndarray | None = None):
        # one-hot answers (N, 1, D, C) pick log-probabilities (K, D, C), summed over items and categories;
        # a category a feature lacks has probability 0 and is never answered: its log is replaced by 0 to
        # keep the gradient finite. A missing cell (code MISSING, negative) matches no category: it is left
        # out, with or without ``missing``. (Gathering the answered entries instead, as a take on the flattened
        # log-probabilities, sampled 5000 rows of 8 items 1.1-1.3x slower.)
        one_hot = pt.eq(value[:, None, :, None], pt.arange(probabilities.shape[-1]))
        log_p = pt.log(pt.switch(pt.gt(probabilities, 0.0), probabilities, 1.0))
        return pt.switch(one_hot, log_p, 0.0).sum(axis=(-1, -2))

    def log_density(self, X: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        one_hot = _one_hot(X, probabilities.shape[-1])
        with np.errstate(divide="ignore"):
            log_p = np.log(probabilities)
        finite = np.isfinite(log_p)
        flat = one_hot.reshape(X.shape[0], -1)
        logp = flat @ np.swapaxes(np.where(finite, log_p, 0.0).reshape(*log_p.shape[:-2], -1), -1, -2)
        impossible = flat @ np.swapaxes((~finite).reshape(*log_p.shape[:-2], -1), -1, -2) > 0
        return np.where(impossible, -np.inf, logp)

    def sample(self, rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
        cumulative = np.cumsum(probabilities, axis=-1)
        u = rng.random(probabilities.shape[:-1])[..., None] * cumulative[..., -1:]
        return np.minimum((u > cumulative).sum(-1), probabilities.shape[-1] - 1).astype(float)

    def n_parameters(self, n_components: int, data: Data, covariance: str | None) -> int:
        return n_components * sum(len(labels) - 1 for labels in data.categories)

    def m_step_for(self, data: Data, covariance: str | None):
        """Each class's answer shares per item, from the one-hot answers of ``data`` (computed once)."""
        one_hot = _one_hot(data.values, len(category_union(data.categories)))
        flat = one_hot.reshape(data.n_obs, -1)
        observed = (~np.isnan(data.values)).astype(float)  # a missing cell's one-hot row is all zero

        def m_step(X: np.ndarray, resp: np.ndarray, previous: dict | None) -> dict[str, np.ndarray]:
            counts = (resp.T @ flat).reshape(resp.shape[1], *one_hot.shape[1:])
            return {"probabilities": np.clip(counts / (resp.T @ observed)[:, :, None], 0.0, 1.0)}

        return m_step

    def start_features(self, data: Data) -> np.ndarray:
        """The one-hot answers, where the EM's k-means starts."""
        return _one_hot(data.values, len(category_union(data.categories))).reshape(data.n_obs, -1)

    def em(self, data: Data, n_components: int, *, covariance: str | None, n_init: int, seed: int) -> xr.Dataset:
        m_step, flat = self.m_step_for(data, covariance), self.start_features(data)
        return item_em(self, data, n_components, m_step=m_step, start_features=flat, n_init=n_init, seed=seed)

    def initial_values(self, solution, data: Data, covariance: str | None) -> dict[str, np.ndarray]:
        union = category_union(data.categories)
        values = {}
        for labels, features in _groups(data.categories).items():
            columns = [union.index(label) for label in labels]
            group = solution["probabilities"].values[:, features][:, :, columns] + _START_MARGIN
            values[_group_name(labels, data.categories)] = group / group.sum(-1, keepdims=True)
        return values


def _groups(categories: tuple[tuple[str, ...], ...]) -> dict[tuple[str, ...], list[int]]:
    """Features grouped by their categories (same labels, same order): one Dirichlet variable per group."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for d, labels in enumerate(categories):
        groups.setdefault(tuple(labels), []).append(d)
    return groups


def _group_name(labels: tuple[str, ...], categories: tuple[tuple[str, ...], ...]) -> str:
    """``probabilities_<C>cat``, numbered where several groups have C categories."""
    same_size = [g for g in _groups(categories) if len(g) == len(labels)]
    suffix = f"_{same_size.index(labels)}" if len(same_size) > 1 else ""
    return f"probabilities_{len(labels)}cat{suffix}"


def _one_hot(X: np.ndarray, n_categories: int) -> np.ndarray:
    """(N, D) codes as (N, D, C) indicators."""
    return (X[:, :, None] == np.arange(n_categories)).astype(float)


FAMILY = CategoricalFamily()
