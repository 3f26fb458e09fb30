"""What a component family answers, so that no pipeline function tests a family's name.

A mixture is a mixing (how the weights arise) times a component family (what
each component is). Each family module defines one object with the members of
:class:`ComponentFamily`; the factories, :func:`bayesmix.fit`,
:func:`bayesmix.relabel`, :func:`bayesmix.diagnose`, the prediction functions
and the EM baseline ask it instead of testing strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import xarray as xr

from bayesmix._validation import Data
from bayesmix.priors import Role


class ComponentFamily(Protocol):
    """The questions every component family answers.

    Attributes
    ----------
    name : str
        What users pass as ``component=``.
    parameters : tuple of str
        The posterior variables that define the components, in the order
        :meth:`log_density` and :meth:`sample` take them; each has the
        ``component`` dim first. The EM baseline uses the same names.
    location : str
        The (component, feature) variable that relabelling matches on.
    discrete : bool
        Whether the data are counts (or other integers): the report then draws
        the observed frequencies against the posterior predictive ones.
    ellipse : str or None
        The (component, feature, feature_bis) matrix whose 2-sd ellipses the
        report draws for continuous data (a covariance or a scale matrix).
    profile : str or None
        The (component, feature) answer probabilities that the report draws as
        a latent class profile (each class's probability per item with its
        interval), for families of binary or categorical items.
    nutpie_backend : {"jax", "numba"}
        What compiles PyMC's graph when nutpie samples it (the Gaussian's own
        kernel aside). Numba compiles slowly but samples without calling back
        into Python: it pays for the cheap count likelihoods (Poisson, N = 1e3,
        4 x (1000 + 1000): 8.7 s against 9.5 s on a first fit, 4.1 s against
        7.8 s on the next; negative binomial 18.0 s against 29.2 s), not for the
        Student-t, whose numba compilation took about a minute.
    covariance_types : tuple of str
        The ``covariance`` values the family takes; empty where none applies.
    roles : mapping
        The prior roles of the component parameters (the weights' prior
        belongs to the mixing).
    signature : str
        The parameters' core shapes in a gufunc signature, e.g. ``"(k,d)"``.
    """

    name: str
    parameters: tuple[str, ...]
    location: str
    discrete: bool
    ellipse: str | None
    profile: str | None
    nutpie_backend: str
    covariance_types: tuple[str, ...]
    roles: Mapping[str, Role]
    signature: str

    def check_data(self, X: Any, *, name: str = "X") -> Data:
        """The data as a :class:`bayesmix._validation.Data`, or a clear error naming the bad cells."""

    def default_priors(self, data: Data, covariance: str | None) -> dict[str, Any]:
        """Weakly informative priors for the component parameters, scaled to the data."""

    def prior_shapes(self, n_components: int, n_features: int, covariance: str | None) -> dict[str, tuple]:
        """The shape each prior role's parameters must broadcast to."""

    # Families with ``dedicated_model = True`` (the Gaussian) are built by their own factories;
    # for the others :func:`bayesmix.models.mixture` calls :meth:`build` and :meth:`logp`.
    def build(self, data: Data, n_components: int, priors: dict, covariance: str | None, naming: Naming) -> tuple:
        """Create the component parameters in the model on the context stack, named by ``naming``; return
        the likelihood's inputs: the :attr:`parameters` in order, then any extra input of :meth:`logp` (a
        Cholesky factor), with the core shapes :attr:`signature` gives."""

    def m_step_for(self, data: Data, covariance: str | None):
        """The EM's M-step, ``m_step(X, responsibilities, previous) -> parameters``, as
        :func:`bayesmix.baseline._em.run_em` calls it (the mixture of columns of several families runs
        each family's)."""

    def logp(self, value, *inputs, covariance: str | None, n_features: int, missing: np.ndarray | None = None):
        """PyTensor: log-density of every observation under every component, shape (n_obs, K). Under
        ``missing="marginalize"``, ``missing`` is the (n_obs, D) mask of the missing cells, which reach
        ``value`` coded :data:`MISSING`; the density is then that of each row's observed cells."""

    def log_density(self, X: np.ndarray, *params: np.ndarray) -> np.ndarray:
        """numpy: the same, broadcast over leading draw axes of the parameters: (..., n_obs, K)."""

    def sample(self, rng: np.random.Generator, *params: np.ndarray) -> np.ndarray:
        """One draw per row of the parameters (each already picked per draw and component): (n, D)."""

    def n_parameters(self, n_components: int, data: Data, covariance: str | None) -> int:
        """Free parameters of the components (the weights not included), for BIC and AIC."""

    def em(self, data: Data, n_components: int, *, covariance: str | None, n_init: int, seed: int) -> xr.Dataset:
        """The maximum-likelihood fit in the posterior's names: ``weights``, the :attr:`parameters`,
        ``responsibilities``, ``degenerate`` and the scalars ``log_likelihood``, ``n_parameters``,
        ``bic``, ``aic``, ``icl``, ``converged``, ``n_iter``."""

    def initial_values(self, solution: xr.Dataset, data: Data, covariance: str | None) -> dict[str, np.ndarray]:
        """Initial values (constrained scale) of the free component parameters from an EM solution."""

    def parameter_dims(self) -> dict[str, tuple[str, ...]]:
        """The dims of each of :attr:`parameters`."""

    # Optional: ``sample_given(rng, X, *params)`` draws each row's missing cells given its observed ones
    # (:func:`bayesmix.impute`); families whose features are independent within a component need none.
    # Optional: ``coords(data)`` gives the coordinates of dims beyond component and feature (the
    # categorical family's ``category``); read it through :func:`family_coords`.


@dataclass(frozen=True)
class Naming:
    """How a family names its model variables and their feature dims: as they are (:data:`PLAIN`) or, in a
    mixture of columns of several families (:mod:`bayesmix.components.mixed`), prefixed by the family's
    name (``gaussian_means`` over ``gaussian_feature``), so that two families' ``means`` stay apart."""

    prefix: str = ""

    def __call__(self, name: str) -> str:
        return self.prefix + name

    def dims(self, *dims: str) -> tuple[str, ...]:
        return tuple(self.prefix + dim if dim in ("feature", "feature_bis") else dim for dim in dims)


PLAIN = Naming()


# How a missing cell reaches PyMC's observed data under missing="marginalize" (every family that
# marginalizes has non-negative values, and PyMC would impute NaN cells instead of leaving them out).
MISSING = -1.0


def observed_cells(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1 where a cell is observed else 0, the data with missing cells set to 0), for sums over observed cells."""
    missing = np.isnan(X)
    return (~missing).astype(float), np.where(missing, 0.0, X)


def family_coords(family: ComponentFamily, data: Data) -> dict[str, list]:
    """The coordinates a family adds to the model's and the EM's (none for most families)."""
    coords = getattr(family, "coords", None)
    return {} if coords is None else coords(data)


def broadcast_prior_parameter(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, float), shape)
