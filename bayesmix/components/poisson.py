r"""Poisson components: counts, conditionally independent across features within a component.

.. math::

    p(x_i \mid \lambda_k) = \prod_{d=1}^D \frac{\lambda_{kd}^{x_{id}} e^{-\lambda_{kd}}}{x_{id}!},
    \qquad \lambda_{kd} \sim \operatorname{Gamma}(2,\; 1 / \bar x_d),

a prior with mode at the column's mean count :math:`\bar x_d` and mean twice
that (95% of its mass between 0.24 and 5.6 times the mean count). The EM
baseline has a closed-form M-step, :math:`\lambda_{kd} = \sum_i r_{ik} x_{id} /
\sum_i r_{ik}`; no maintained Python library fits Poisson mixtures, so it is
bayesmix's own (:mod:`bayesmix.baseline._em`), tested against Hasselblad's
(1969) published maximum-likelihood fit.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytensor.tensor as pt
import xarray as xr
from scipy.special import gammaln

from bayesmix._validation import Data
from bayesmix.components._counts import (
    POSITIVE_DISTRIBUTIONS,
    check_count_response,
    check_counts,
    count_em,
    count_link_center,
    count_scale,
)
from bayesmix.components._family import PLAIN, Naming, observed_cells
from bayesmix.components._response import fit_weighted_glm
from bayesmix.priors import Prior, Role


class PoissonResponse:
    r"""The Poisson as a regression response: log link, no parameter of its own,
    :math:`y_i \mid k \sim \operatorname{Poisson}(e^{\eta_{ik}})`."""

    family = "poisson"
    link = "log"
    extras = ()
    natural = ("rates",)
    discrete = True
    roles: ClassVar[dict[str, Role]] = {}

    def check_y(self, y: np.ndarray, *, name: str = "y") -> None:
        check_count_response(y, name=name, family=self.family)

    def center_and_scale(self, y: np.ndarray) -> tuple[float, float]:
        return count_link_center(y), 1.0

    def default_priors(self, y: np.ndarray) -> dict[str, Any]:
        return {}

    def logp(self, y, eta):
        return y * eta - pt.exp(eta) - pt.gammaln(y + 1.0)

    def natural_parameters(self, eta: np.ndarray) -> tuple[np.ndarray, ...]:
        return (np.exp(eta),)

    def log_pdf(self, y: np.ndarray, rates: np.ndarray) -> np.ndarray:
        return y * np.log(rates) - rates - gammaln(y + 1.0)

    def draw(self, rng: np.random.Generator, rates: np.ndarray) -> np.ndarray:
        return rng.poisson(rates).astype(float)

    def m_step(self, design: np.ndarray, y: np.ndarray, weights: np.ndarray, previous: dict | None) -> dict:
        import statsmodels.api as sm

        start = None if previous is None else previous["beta"]
        return {"beta": fit_weighted_glm(design, y, weights, sm.families.Poisson(), start)[0]}


class PoissonFamily:
    name = "poisson"
    parameters = ("rates",)
    location = "rates"
    discrete = True
    ellipse = None
    profile = None
    nutpie_backend = "numba"
    covariance_types = ()
    roles: ClassVar[dict[str, Role]] = {"rates": Role("the prior of the component rates", POSITIVE_DISTRIBUTIONS)}
    signature = "(k,d)"

    marginalizes_missing = True
    response = PoissonResponse()

    def check_data(self, X: Any, *, name: str = "X", missing: bool = False) -> Data:
        return check_counts(X, name=name, family=self.name, missing=missing)

    def default_priors(self, data: Data, covariance: str | None) -> dict[str, Any]:
        return {"rates": Prior("Gamma", alpha=2.0, beta=1.0 / count_scale(data))}

    def prior_shapes(self, n_components: int, n_features: int, covariance: str | None) -> dict[str, tuple]:
        return {"rates": (n_components, n_features)}

    def parameter_dims(self) -> dict[str, tuple[str, ...]]:
        return {"rates": ("component", "feature")}

    def build(self, data: Data, n_components: int, priors: dict, covariance: str | None, naming: Naming = PLAIN):
        return (priors["rates"].create(naming("rates"), dims=naming.dims("component", "feature")),)

    def m_step_for(self, data: Data, covariance: str | None):
        return self.m_step

    def logp(self, value, rates, *, covariance: str | None, n_features: int, missing: np.ndarray | None = None):
        # sum_d x_d log(lambda_kd) - lambda_kd - log(x_d!), as an (N, K) matrix
        if missing is not None:  # cells coded MISSING (negative) are left out
            x = value[:, None, :]
            return pt.switch(pt.ge(x, 0), x * pt.log(rates) - rates - pt.gammaln(x + 1.0), 0.0).sum(-1)
        cross = (value[:, None, :] * pt.log(rates)).sum(-1)
        return cross - rates.sum(-1) - pt.gammaln(value + 1.0).sum(-1)[:, None]

    def log_density(self, X: np.ndarray, rates: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_rates = np.log(rates)
        observed, X = observed_cells(X)  # NaN cells (missing="marginalize") are left out
        # 0 * log(0) is 0 for a rate of zero: the count is certainly zero there
        cross = np.einsum("nd,...kd->...nk", X, np.where(np.isfinite(log_rates), log_rates, 0.0))
        impossible = np.einsum("nd,...kd->...nk", X, (~np.isfinite(log_rates)).astype(float)) > 0
        logp = cross - np.einsum("nd,...kd->...nk", observed, rates) - gammaln(X + 1.0).sum(-1)[:, None]
        return np.where(impossible, -np.inf, logp)

    def sample(self, rng: np.random.Generator, rates: np.ndarray) -> np.ndarray:
        return rng.poisson(rates).astype(float)

    def n_parameters(self, n_components: int, data: Data, covariance: str | None) -> int:
        return n_components * data.n_features

    def m_step(self, X: np.ndarray, resp: np.ndarray, previous: dict | None = None) -> dict[str, np.ndarray]:
        observed, X = observed_cells(X)
        return {"rates": (resp.T @ X) / (resp.T @ observed)}

    def em(self, data: Data, n_components: int, *, covariance: str | None, n_init: int, seed: int) -> xr.Dataset:
        return count_em(self, data, n_components, n_init=n_init, seed=seed)

    def initial_values(self, solution, data: Data, covariance: str | None) -> dict[str, np.ndarray]:
        # A rate of exactly zero is on the boundary of the log transform's domain.
        return {"rates": np.maximum(solution["rates"].values, 1e-3 * count_scale(data))}


FAMILY = PoissonFamily()
