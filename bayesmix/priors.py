"""Prior specifications: a PyMC distribution name plus its parameters.

A :class:`Prior` is a small, serializable description of a prior. Model factories
accept a ``priors`` mapping from a role (``"means"``, ``"scales"``...) to a
:class:`Prior` (or a plain number for scalar hyper-parameters such as ``lkj_eta``),
check it against what the role allows, fill in data-scaled defaults for the roles
left out, and record the final choice in the fit result's attrs.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm

__all__ = ["Prior"]


@dataclass(frozen=True)
class Prior:
    """A prior: a PyMC distribution name and its parameters.

    Parameters
    ----------
    distribution : str
        The name of a PyMC distribution, e.g. ``"Normal"`` or ``"HalfNormal"``.
    **parameters
        Its parameters, as numbers or array-likes that broadcast to the
        variable's shape (for example one value per feature).

    Examples
    --------
    >>> import bayesmix as bm
    >>> bm.Prior("Normal", mu=0.0, sigma=2.0)
    Prior('Normal', mu=0.0, sigma=2.0)
    """

    distribution: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def __init__(self, distribution: str, /, **parameters: Any) -> None:
        if not isinstance(distribution, str):
            raise TypeError(f"Prior distribution must be a PyMC distribution name (a str) but got {distribution!r}.")
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "parameters", {k: _plain(v) for k, v in parameters.items()})

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"Prior({self.distribution!r}{', ' if params else ''}{params})"

    @property
    def pymc_class(self) -> type[pm.Distribution]:
        """The PyMC distribution class named by this prior."""
        cls = getattr(pm, self.distribution, None)
        if not (isinstance(cls, type) and issubclass(cls, pm.Distribution)):
            raise ValueError(f"Unknown PyMC distribution {self.distribution!r}.")
        return cls

    def create(self, name: str, **kwargs: Any):
        """Create this prior as a named variable in the PyMC model on the context stack."""
        return self.pymc_class(name, **self.parameters, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dictionary; :meth:`from_dict` inverts it."""
        return {"distribution": self.distribution, **self.parameters}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Prior:
        """Build a prior from ``{"distribution": name, **parameters}``."""
        spec = dict(spec)
        try:
            name = spec.pop("distribution")
        except KeyError:
            raise ValueError(f"A prior given as a mapping needs a 'distribution' key but got {sorted(spec)}.") from None
        return cls(name, **spec)


def _plain(value: Any) -> Any:
    """Turn numpy scalars and arrays into plain floats and (nested) lists."""
    if isinstance(value, np.ndarray | list | tuple):
        return np.asarray(value, dtype=float).tolist()
    if isinstance(value, np.generic | int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"Prior parameters must be numbers or arrays of numbers but got {value!r}.")


@dataclass(frozen=True)
class Role:
    """What one prior role accepts: allowed distributions, or a positive number."""

    description: str
    distributions: tuple[str, ...] = ()
    scalar: bool = False


def resolve_priors(
    priors: Mapping[str, Any] | None,
    roles: Mapping[str, Role],
    defaults: Mapping[str, Any],
) -> dict[str, Any]:
    """Check user priors against ``roles`` and fill the rest from ``defaults``.

    Returns a mapping role -> :class:`Prior` (or float for scalar roles).
    """
    if priors is None:
        priors = {}
    if not isinstance(priors, Mapping):
        raise TypeError(
            f"Argument `priors` must be a dict mapping a role to a bayesmix.Prior but got "
            f"{type(priors).__name__}; allowed roles are {sorted(roles)}."
        )
    unknown = sorted(set(priors) - set(roles))
    if unknown:
        raise ValueError(f"Unknown prior key(s) {unknown} in `priors`; allowed keys are {sorted(roles)}.")
    resolved = dict(defaults)
    for key, value in priors.items():
        role = roles[key]
        if role.scalar:
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise TypeError(f"priors[{key!r}] ({role.description}) must be a positive number but got {value!r}.")
            if not value > 0:
                raise ValueError(f"priors[{key!r}] ({role.description}) must be > 0 but got {value}.")
            resolved[key] = float(value)
            continue
        if isinstance(value, Mapping):
            value = Prior.from_dict(value)
        if not isinstance(value, Prior):
            raise TypeError(
                f"priors[{key!r}] must be a bayesmix.Prior, e.g. "
                f"Prior({role.distributions[0]!r}, ...), but got {value!r}."
            )
        if value.distribution not in role.distributions:
            raise ValueError(
                f"priors[{key!r}] uses distribution {value.distribution!r}, which cannot serve "
                f"as {role.description}; choose one of {list(role.distributions)}."
            )
        _check_parameters(key, value)
        resolved[key] = value
    return resolved


def _check_parameters(key: str, prior: Prior) -> None:
    """Build the distribution once, outside any model, to catch bad parameters early."""
    accepted = [
        name
        for name, p in inspect.signature(prior.pymc_class.dist).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in ("size", "shape", "dims")
    ]
    unknown = sorted(set(prior.parameters) - set(accepted))
    if unknown:
        raise ValueError(
            f"priors[{key!r}] = {prior!r} has invalid parameters {unknown}; pm.{prior.distribution} accepts {accepted}."
        )
    parameters = dict(prior.parameters)
    if prior.distribution == "Dirichlet" and np.ndim(parameters.get("a", 1.0)) == 0:
        # Factories broadcast a scalar concentration over the components.
        parameters["a"] = np.full(2, parameters.get("a", 1.0))
    try:
        prior.pymc_class.dist(**parameters)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"priors[{key!r}] = {prior!r} has invalid parameters: {err}. "
            f"See the PyMC documentation of pm.{prior.distribution} for its parameters."
        ) from None


def priors_to_json(priors: Mapping[str, Any]) -> str:
    """Serialize resolved priors for a result's attrs."""
    return json.dumps(
        {k: (v.to_dict() if isinstance(v, Prior) else v) for k, v in priors.items()},
        sort_keys=True,
    )


def priors_from_json(text: str) -> dict[str, Any]:
    """Inverse of :func:`priors_to_json`."""
    raw = json.loads(text)
    return {k: (Prior.from_dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
