"""What every bayesmix model carries besides its PyMC graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pymc as pm

from bayesmix._validation import Data

_INFO_ATTRIBUTE = "bayesmix_info"


@dataclass(frozen=True)
class ModelInfo:
    """Family, settings, resolved priors and training data of a bayesmix model."""

    family: str
    settings: dict[str, Any]
    priors: dict[str, Any]
    data: Data
    # Names of the observed variable and of the parameters that index components.
    observed: str = "X"
    extras: dict[str, Any] = field(default_factory=dict)


def attach_info(model: pm.Model, info: ModelInfo) -> pm.Model:
    setattr(model, _INFO_ATTRIBUTE, info)
    return model


def get_info(model: pm.Model) -> ModelInfo | None:
    """The :class:`ModelInfo` of a model built by a bayesmix factory, else None."""
    return getattr(model, _INFO_ATTRIBUTE, None)
