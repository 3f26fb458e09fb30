r"""Columns of several families in one mixture: numeric, count, binary and categorical columns side by side.

``component={"bill_length": "gaussian", "flipper": "gaussian", "island": "categorical", "smoker": "bernoulli"}``
maps each column of a DataFrame to a family. Within a component, the columns of
different families are independent, and the columns of one family form a block
that the family models as it would alone; the Gaussian columns together are one
block with the chosen ``covariance`` (full by default), so their correlations
are kept:

.. math::

    p(x_i \mid \theta_k) = \prod_{b} f_b(x_{i,b} \mid \theta_{kb}),

with :math:`b` running over the families present, :math:`x_{i,b}` row
:math:`i`'s columns of family :math:`b`, and each block's parameters under its
family's data-scaled priors (each module of :mod:`bayesmix.components`). With
``missing="marginalize"`` each block leaves its missing cells out as its family
does (the Gaussian block by the marginal of the observed sub-vector), so a row's
density is that of its observed cells.

The model's variables are the families' own, prefixed by the family's name
(``gaussian_means`` (component, gaussian_feature), ``bernoulli_probabilities``
(component, bernoulli_feature), ``categorical_probabilities`` (component,
categorical_feature, category)), so that two families' parameters never share a
name. The EM baseline alternates the same E-step with each family's own M-step
on its block (:mod:`bayesmix.baseline._em`); it is bayesmix's because StepMix's
nested model has no full-covariance Gaussian block with missing cells. The
tests check it against StepMix where StepMix has the model (binary, categorical
and diagonal Gaussian columns).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesmix._validation import Data
from bayesmix.baseline._em import em_dataset, ordered, run_em
from bayesmix.components._family import ComponentFamily, Naming, family_coords

NAME = "mixed"


@dataclass(frozen=True)
class Block:
    """The columns of one family: where they sit among the model's features and how their variables are named."""

    family: ComponentFamily
    columns: tuple[str, ...]
    start: int  # the block's first column among the model's features

    @property
    def naming(self) -> Naming:
        return Naming(f"{self.family.name}_")

    @property
    def features(self) -> slice:
        return slice(self.start, self.start + len(self.columns))

    @property
    def n_inputs(self) -> int:
        """The family's likelihood inputs: its parameters, then extras such as a Cholesky factor."""
        return len(_signature_parts(self.family.signature))

    def covariance(self, covariance: str | None) -> str | None:
        return covariance if self.family.covariance_types else None

    def data(self, data: Data) -> Data:
        """The block's columns of the mixed data, with their categories for a categorical block."""
        categories = None if data.categories is None else data.categories[self.features]
        if categories is not None and not any(categories):
            categories = None
        return Data(values=data.values[:, self.features], feature_names=list(self.columns), categories=categories)

    def named(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {self.naming(name): value for name, value in values.items()}

    def own(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The entries of ``values`` that belong to this block, under the family's own names."""
        prefix = self.naming.prefix
        return {name[len(prefix) :]: value for name, value in values.items() if name.startswith(prefix)}


class MixedFamily:
    """The component family of a mixture of columns of several families (see the module docstring)."""

    name = NAME
    ellipse = None

    def __init__(self, columns: Mapping[str, str]):
        from bayesmix.components import COMPONENTS, get_component

        columns = check_columns(columns)
        by_family: dict[str, list[str]] = {}
        for column, family in columns.items():
            by_family.setdefault(get_component(family).name, []).append(column)
        blocks, start = [], 0
        for family_name in COMPONENTS:  # the registry's order: Gaussian first, it is the best to relabel on
            if family_name in by_family:
                blocks.append(Block(COMPONENTS[family_name], tuple(by_family[family_name]), start))
                start += len(by_family[family_name])
        self.columns = dict(columns)
        self.blocks: tuple[Block, ...] = tuple(blocks)
        self.feature_names = [column for block in blocks for column in block.columns]
        self.parameters = tuple(block.naming(p) for block in blocks for p in block.family.parameters)
        first = blocks[0]
        self.location = first.naming(first.family.location)
        self.discrete = all(block.family.discrete for block in blocks)
        # the report's latent class profile: the last block of answered items (categorical before Bernoulli)
        items = [block for block in blocks if block.family.profile is not None]
        self.profile = items[-1].naming(items[-1].family.profile) if items else None
        self.nutpie_backend = "jax" if any(b.family.nutpie_backend == "jax" for b in blocks) else "numba"
        self.covariance_types = next((b.family.covariance_types for b in blocks if b.family.covariance_types), ())
        self.roles = {block.naming(role): r for block in blocks for role, r in block.family.roles.items()}
        parts = [_signature_parts(block.family.signature) for block in blocks]
        n_parameters = [len(block.family.parameters) for block in blocks]
        ordered_parts = [p for part, n in zip(parts, n_parameters, strict=True) for p in part[:n]]
        ordered_parts += [p for part, n in zip(parts, n_parameters, strict=True) for p in part[n:]]
        self.signature = "(" + "),(".join(ordered_parts) + ")"
        self.marginalizes_missing = all(getattr(b.family, "marginalizes_missing", False) for b in blocks)
        self.settings = {"columns": self.columns}

    def answer_columns(self) -> np.ndarray:
        """Which features are answered items (Bernoulli, categorical), whose cells impute as modal answers."""
        return np.concatenate([np.full(len(b.columns), b.family.profile is not None) for b in self.blocks])

    def matching_locations(self) -> list[tuple[str, np.ndarray]]:
        """Every block's location with the model's columns it covers: relabelling matches on all of them."""
        return [
            (block.naming(block.family.location), np.arange(block.features.start, block.features.stop))
            for block in self.blocks
        ]

    # --- data -------------------------------------------------------------------------------------------------

    def check_data(self, X: Any, *, name: str = "X", missing: bool = False, like: Data | None = None) -> Data:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"Argument `{name}` must be a pandas DataFrame when `component` maps columns to families, but got "
                f"{type(X).__name__}; pass a DataFrame with the columns {list(self.columns)}."
            )
        present = [str(c) for c in X.columns]
        absent = [c for c in self.columns if c not in present]
        if absent:
            raise ValueError(
                f"Argument `component` names column(s) {absent} that `{name}` lacks; its columns are {present}. "
                "Map only columns of the data."
            )
        unmapped = [c for c in present if c not in self.columns]
        if unmapped:
            raise ValueError(
                f"Argument `{name}` has column(s) {unmapped} that `component` does not map to a family; add them "
                f"to the mapping or drop them from `{name}`."
            )
        X = X.set_axis(present, axis=1)
        parts, categories = [], []
        for block in self.blocks:
            options = {"missing": True} if missing else {}
            if like is not None and like.categories is not None and any(like.categories[block.features]):
                options["like"] = block.data(like)
            part = block.family.check_data(X[list(block.columns)], name=name, **options)
            parts.append(part.values)
            categories += list(part.categories) if part.categories is not None else [()] * len(block.columns)
        return Data(
            values=np.hstack(parts),
            feature_names=self.feature_names,
            categories=tuple(categories) if any(categories) else None,
        )

    def coords(self, data: Data) -> dict[str, list]:
        coords: dict[str, list] = {}
        for block in self.blocks:
            dims = {d for dims in block.family.parameter_dims().values() for d in dims}
            coords[block.naming.dims("feature")[0]] = list(block.columns)
            if "feature_bis" in dims:
                coords[block.naming.dims("feature_bis")[0]] = list(block.columns)
            coords |= family_coords(block.family, block.data(data))
        return coords

    # --- priors and model -------------------------------------------------------------------------------------

    def default_priors(self, data: Data, covariance: str | None) -> dict[str, Any]:
        return {
            name: prior
            for block in self.blocks
            for name, prior in block.named(
                block.family.default_priors(block.data(data), block.covariance(covariance))
            ).items()
        }

    def prior_shapes(self, n_components: int, n_features: int, covariance: str | None) -> dict[str, tuple]:
        shapes = {}
        for block in self.blocks:
            own = block.family.prior_shapes(n_components, len(block.columns), block.covariance(covariance))
            shapes |= block.named(own)
        return shapes

    def parameter_dims(self) -> dict[str, tuple[str, ...]]:
        return {
            block.naming(name): block.naming.dims(*dims)
            for block in self.blocks
            for name, dims in block.family.parameter_dims().items()
        }

    def build(self, data: Data, n_components: int, priors: dict, covariance: str | None) -> tuple:
        parameters, extras = [], []
        for block in self.blocks:
            inputs = block.family.build(
                block.data(data), n_components, block.own(priors), block.covariance(covariance), block.naming
            )
            n = len(block.family.parameters)
            parameters += inputs[:n]
            extras += inputs[n:]
        return (*parameters, *extras)

    def logp(self, value, *inputs, covariance: str | None, n_features: int, missing: np.ndarray | None = None):
        total = 0.0
        for block, own in zip(self.blocks, self._split(inputs), strict=True):
            block_missing = None if missing is None else missing[:, block.features]
            total = total + block.family.logp(
                value[:, block.features],
                *own,
                covariance=block.covariance(covariance),
                n_features=len(block.columns),
                missing=block_missing if block_missing is not None and block_missing.any() else None,
            )
        return total

    def _split(self, inputs: tuple) -> list[tuple]:
        """Each block's inputs from :meth:`build`'s order (every parameter, then every extra); the numpy
        functions pass the parameters only, and get each block's parameters."""
        n_parameters = [len(block.family.parameters) for block in self.blocks]
        parameters, extras = list(inputs[: sum(n_parameters)]), list(inputs[sum(n_parameters) :])
        split = []
        for block, n in zip(self.blocks, n_parameters, strict=True):
            n_extra = block.n_inputs - n
            split.append((*parameters[:n], *extras[:n_extra]))
            parameters, extras = parameters[n:], extras[n_extra:]
        return split

    # --- numpy ------------------------------------------------------------------------------------------------

    def log_density(self, X: np.ndarray, *params: np.ndarray) -> np.ndarray:
        return sum(
            block.family.log_density(X[:, block.features], *own)
            for block, own in zip(self.blocks, self._split(params), strict=True)
        )

    def sample(self, rng: np.random.Generator, *params: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [block.family.sample(rng, *own) for block, own in zip(self.blocks, self._split(params), strict=True)],
            axis=-1,
        )

    def sample_given(self, rng: np.random.Generator, X: np.ndarray, *params: np.ndarray) -> np.ndarray:
        """Each block's draws given the row's observed cells (blocks are independent within a component)."""
        parts = []
        for block, own in zip(self.blocks, self._split(params), strict=True):
            given = getattr(block.family, "sample_given", None)
            parts.append(block.family.sample(rng, *own) if given is None else given(rng, X[:, block.features], *own))
        return np.concatenate(parts, axis=-1)

    def n_parameters(self, n_components: int, data: Data, covariance: str | None) -> int:
        return sum(
            block.family.n_parameters(n_components, block.data(data), block.covariance(covariance))
            for block in self.blocks
        )

    # --- EM ---------------------------------------------------------------------------------------------------

    def m_step_for(self, data: Data, covariance: str | None):
        steps = [block.family.m_step_for(block.data(data), block.covariance(covariance)) for block in self.blocks]

        def m_step(X: np.ndarray, resp: np.ndarray, previous: dict | None) -> dict[str, np.ndarray]:
            out = {}
            for block, step in zip(self.blocks, steps, strict=True):
                own_previous = None if previous is None else block.own(previous)
                out |= block.named(step(X[:, block.features], resp, own_previous))
            return out

        return m_step

    def start_features(self, data: Data) -> np.ndarray:
        """Where the EM's k-means starts: each block's columns on a comparable scale (standardized numbers,
        one-hot categories)."""
        parts = []
        for block in self.blocks:
            own = block.data(data)
            starter = getattr(block.family, "start_features", None)
            if starter is not None:
                parts.append(starter(own))
                continue
            spread = np.nanstd(own.values, axis=0)
            parts.append((own.values - np.nanmean(own.values, axis=0)) / np.where(spread > 0, spread, 1.0))
        return np.hstack(parts)

    def em(self, data: Data, n_components: int, *, covariance: str | None, n_init: int, seed: int) -> xr.Dataset:
        fit = run_em(
            data.values,
            n_components,
            log_density=self.log_density,
            m_step=self.m_step_for(data, covariance),
            start_features=self.start_features(data),
            n_init=n_init,
            seed=seed,
            tol=1e-10,
        )
        fit = ordered(fit, self.location)
        fit["degenerate"] = fit["weights"] * data.n_obs < 1.0
        return em_dataset(self, data, fit, covariance=covariance, attrs={"n_init": n_init, "random_seed": seed})

    def initial_values(self, solution: xr.Dataset, data: Data, covariance: str | None) -> dict[str, np.ndarray]:
        values = {}
        for block in self.blocks:
            names = {block.naming(p): p for p in block.family.parameters}
            own = solution[["weights", *names]].rename(names)
            values |= block.named(block.family.initial_values(own, block.data(data), block.covariance(covariance)))
        return values


def check_columns(columns: object) -> dict[str, str]:
    """A non-empty mapping of column names to family names (the families are checked when looked up)."""
    if not isinstance(columns, Mapping) or not columns:
        raise TypeError(
            "Argument `component` must be a family name or a non-empty mapping of column names to family names, "
            f"e.g. {{'age': 'gaussian', 'sex': 'bernoulli'}}, but got {columns!r}."
        )
    for column, family in columns.items():
        if not isinstance(family, str):
            raise TypeError(
                f"Argument `component` maps column {column!r} to {family!r}; map each column to a family name."
            )
        if family == NAME:
            raise ValueError(f"Argument `component` maps column {column!r} to {NAME!r}; name the column's own family.")
    return {str(column): family for column, family in columns.items()}


def _signature_parts(signature: str) -> list[str]:
    """``"(k,d),(k,d,d)"`` -> ``["k,d", "k,d,d"]``."""
    return signature.strip("()").split("),(")
