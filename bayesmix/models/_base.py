"""What every bayesmix model carries besides its PyMC graph.

A model is a *mixing* (how the weights arise) times a *component family* (what
each component is). Pipeline functions ask the :class:`ModelInfo` of a model,
or :func:`kind_of` a fit result, instead of testing a factory's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pymc as pm

from bayesmix._validation import Data

_INFO_ATTRIBUTE = "bayesmix_info"

# The mixings and the family name each gives a result (and a spec candidate).
FINITE, DIRICHLET_PROCESS, NETWORK, REGRESSION = "finite", "dirichlet_process", "network", "regression"
FAMILY_OF_MIXING = {FINITE: "mixture", DIRICHLET_PROCESS: "dp_mixture", NETWORK: "mdn", REGRESSION: "mixreg"}
# Results saved before component families were modules name the Gaussian factories.
_LEGACY_FAMILIES = {"gmm": (FINITE, "gaussian"), "dp_gmm": (DIRICHLET_PROCESS, "gaussian")}


class _MixtureKind:
    """What :class:`ModelInfo` and :class:`ResultKind` answer alike from their ``mixing`` and ``component``."""

    mixing: str
    component: str
    settings: dict[str, Any]

    @property
    def family(self) -> str:
        """``"mixture"``, ``"dp_mixture"``, ``"mixreg"`` or ``"mdn"``: the model's family as results and specs
        name it."""
        return FAMILY_OF_MIXING[self.mixing]

    @property
    def is_dirichlet_process(self) -> bool:
        return self.mixing == DIRICHLET_PROCESS

    @property
    def is_conditional(self) -> bool:
        """Whether the model is a density of y given x (the MDN, a mixture of regressions) rather than of x."""
        return self.mixing in (NETWORK, REGRESSION)

    @property
    def is_network(self) -> bool:
        return self.mixing == NETWORK

    @property
    def is_regression(self) -> bool:
        return self.mixing == REGRESSION

    @property
    def n_components(self) -> int:
        return self.settings["truncation"] if self.is_dirichlet_process else self.settings["n_components"]

    @property
    def component_argument(self) -> str | dict[str, str]:
        """What ``component=`` was: a family name, or the mapping of columns to families of a mixture of
        columns of several families (kept in the settings)."""
        return self.settings.get("columns", self.component)

    @property
    def component_family(self):
        """The :mod:`bayesmix.components` family of the components."""
        from bayesmix.components import get_component

        return get_component(self.component_argument)


@dataclass(frozen=True)
class ModelInfo(_MixtureKind):
    """Mixing, component family, settings, resolved priors and training data of a bayesmix model."""

    mixing: str
    settings: dict[str, Any]
    priors: dict[str, Any]
    data: Data
    component: str = "gaussian"
    # Name of the observed variable.
    observed: str = "X"
    extras: dict[str, Any] = field(default_factory=dict)


def attach_info(model: pm.Model, info: ModelInfo) -> pm.Model:
    setattr(model, _INFO_ATTRIBUTE, info)
    return model


def get_info(model: pm.Model) -> ModelInfo | None:
    """The :class:`ModelInfo` of a model built by a bayesmix factory, else None."""
    return getattr(model, _INFO_ATTRIBUTE, None)


@dataclass(frozen=True)
class ResultKind(_MixtureKind):
    """What a fit result is: its mixing, component family and settings (read from its attrs)."""

    mixing: str
    component: str
    settings: dict[str, Any]


def kind_of(attrs: dict[str, Any]) -> ResultKind:
    """The :class:`ResultKind` recorded in a fit result's attrs (older Gaussian results included)."""
    family = attrs["bayesmix_family"]
    settings = json.loads(attrs.get("bayesmix_settings", "{}"))
    if family in _LEGACY_FAMILIES:
        mixing, component = _LEGACY_FAMILIES[family]
        return ResultKind(mixing, component, settings)
    mixing = {name: mixing for mixing, name in FAMILY_OF_MIXING.items()}[family]
    return ResultKind(mixing, attrs.get("bayesmix_component", "gaussian"), settings)
