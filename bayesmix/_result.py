"""Conventions of a bayesmix fit result (an ``xarray.DataTree``).

Attrs on the root node:

``bayesmix_family`` (``"mixture"``, ``"dp_mixture"``, ``"mixreg"`` or ``"mdn"``), ``bayesmix_component``
(the component family), ``bayesmix_settings`` (JSON), ``bayesmix_priors`` (JSON),
``bayesmix_version``, ``method``, ``sampler``, ``random_seed``, ``wall_time_s``,
``fit_settings`` (JSON). Everything is a str or number so that results
round-trip through netCDF unchanged.
"""

from __future__ import annotations

import json
from itertools import product
from typing import Any

import numpy as np
import xarray as xr

from bayesmix._validation import Data
from bayesmix._version import __version__
from bayesmix.models._base import ModelInfo, kind_of
from bayesmix.priors import priors_from_json, priors_to_json

SAMPLE_DIMS = ("chain", "draw")


def entry_labels(da: xr.DataArray) -> list[str]:
    """Labels ``name[coord, ...]`` of a variable's scalar entries, in C order of its non-sample dims."""
    dims = [d for d in da.dims if d not in SAMPLE_DIMS and d != "ci_bound"]
    if not dims:
        return [str(da.name)]
    values = product(*(da[d].values for d in dims))
    return [f"{da.name}[{', '.join(str(v) for v in combo)}]" for combo in values]


def flatten_draws(da: xr.DataArray) -> np.ndarray:
    """The values with chain and draw stacked (chain-major) into one leading axis."""
    da = da.transpose(*SAMPLE_DIMS, ...)
    return da.values.reshape(-1, *da.shape[2:])


def thinning_step(n_draws: int, max_draws: int | None) -> int:
    """The stride that keeps at most ``max_draws`` of ``n_draws`` draws, evenly (every draw for None)."""
    return 1 if max_draws is None else max(1, -(-n_draws // max_draws))


def mixture_parameters(posterior: xr.Dataset, family, max_draws: int | None = None) -> list[np.ndarray]:
    """``weights`` and the family's parameters with chain and draw stacked, thinned evenly to at most ``max_draws``."""
    flat = [flatten_draws(posterior[v]) for v in ("weights", *family.parameters)]
    step = thinning_step(flat[0].shape[0], max_draws)
    return [f[::step] for f in flat]


def family_of(result: xr.DataTree):
    """The component family of a mixture fit result."""
    return kind_of(result.attrs).component_family


def data_groups(info: ModelInfo) -> dict[str, xr.Dataset]:
    """``observed_data`` (and, for an MDN, the inputs in ``constant_data``) of a fit result."""
    data = info.data
    inputs = xr.Dataset(
        {"X": (("obs_id", "feature"), data.values)},
        coords={"obs_id": np.arange(data.n_obs), "feature": data.feature_names},
    )
    if data.categories is not None:  # the labels behind the codes, for prediction on new data
        inputs["X"].attrs["categories"] = json.dumps(data.categories)
    if not info.is_conditional:
        return {"observed_data": inputs.rename({"X": info.observed})}
    y = info.extras["y"]
    observed = xr.Dataset(
        {info.observed: (("obs_id", "output"), y.values)},
        coords={"obs_id": np.arange(y.n_obs), "output": y.feature_names},
    )
    return {"observed_data": observed, "constant_data": inputs}


def result_attrs(info: ModelInfo, *, fit_settings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    attrs = {
        "bayesmix_family": info.family,
        "bayesmix_component": info.component,
        "bayesmix_settings": json.dumps(info.settings, sort_keys=True),
        "bayesmix_priors": priors_to_json(info.priors),
        "bayesmix_version": __version__,
        "fit_settings": json.dumps(fit_settings, sort_keys=True),
    }
    attrs.update(extra)
    return attrs


def is_result(tree: xr.DataTree) -> bool:
    """Whether a DataTree has what every bayesmix fit result has."""
    return "bayesmix_family" in tree.attrs and "posterior" in tree.children


def check_result(result: Any, *, name: str = "result") -> xr.DataTree:
    """Check that ``result`` is a bayesmix fit result."""
    if not isinstance(result, xr.DataTree):
        raise TypeError(
            f"Argument `{name}` must be an xarray.DataTree from bayesmix.fit but got {type(result).__name__}."
        )
    if not is_result(result):
        raise ValueError(
            f"Argument `{name}` is not a bayesmix fit result (no posterior group or no "
            "bayesmix attrs); produce it with bayesmix.fit."
        )
    return result


def settings_of(result: xr.DataTree) -> dict[str, Any]:
    return json.loads(result.attrs["bayesmix_settings"])


def priors_of(result: xr.DataTree) -> dict[str, Any]:
    """The priors recorded in a result, as :class:`bayesmix.Prior` objects and numbers."""
    return priors_from_json(result.attrs["bayesmix_priors"])


def conditional_data_of(result: xr.DataTree) -> tuple[Data, Data]:
    """The inputs X (``constant_data``) and the outputs y (``observed_data``) of a fit of y given x."""
    X, y = result["constant_data"]["X"], result["observed_data"]["y"]
    return (
        Data(values=np.asarray(X.values, float), feature_names=[str(f) for f in X["feature"].values]),
        Data(values=np.asarray(y.values, float), feature_names=[str(f) for f in y["output"].values]),
    )


def observed_data_of(result: xr.DataTree) -> Data:
    da = next(iter(result["observed_data"].data_vars.values()))
    categories = da.attrs.get("categories")
    return Data(
        values=np.asarray(da.values, float),
        feature_names=[str(f) for f in da["feature"].values],
        categories=None if categories is None else tuple(tuple(c) for c in json.loads(categories)),
    )
