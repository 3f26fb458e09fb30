r"""Negative-binomial components: over-dispersed counts, features conditionally independent.

With mean :math:`\mu_{kd}` and dispersion :math:`\alpha_{kd}` (PyMC's
``NegativeBinomial(mu, alpha)``; variance :math:`\mu + \mu^2/\alpha`, the
Poisson as :math:`\alpha \to \infty`):

.. math::

    p(x \mid \mu, \alpha) = \frac{\Gamma(x + \alpha)}{\Gamma(\alpha)\, x!}
        \Big(\frac{\alpha}{\alpha + \mu}\Big)^{\alpha} \Big(\frac{\mu}{\alpha + \mu}\Big)^{x},
    \qquad
    \mu_{kd} \sim \operatorname{Gamma}(2,\; 1/\bar x_d), \quad
    \alpha_{kd} \sim \operatorname{Gamma}(2,\; 0.2).

The dispersion prior has its mode at 5 and 95% of its mass between 1.2 and 28:
it leaves room for strong over-dispersion (:math:`\alpha < 1`) and for nearly
Poisson components. The EM baseline is bayesmix's own (no maintained Python
library fits negative-binomial mixtures): the M-step's mean is the weighted
mean count, its dispersion a one-dimensional maximization of the weighted
log-likelihood (safeguarded Newton, every component and feature at once);
with one component it reproduces statsmodels' maximum-likelihood fit.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytensor.tensor as pt
import xarray as xr
from scipy.optimize import minimize_scalar
from scipy.special import digamma, gammaln, polygamma, xlogy

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

# The EM searches log(alpha) here; the upper end is the Poisson limit for any count data.
_LOG_DISPERSION_BOUNDS = (-8.0, 12.0)
MAX_NEWTON_STEPS = 50
# Newton stops when no step in log(alpha) is longer than this.
STEP_TOLERANCE = 1e-9


class NegativeBinomialResponse:
    r"""The negative binomial as a regression response: log link and a dispersion per component,
    :math:`y_i \mid k \sim \operatorname{NB}(\mu = e^{\eta_{ik}}, \alpha_k)`, variance
    :math:`\mu + \mu^2 / \alpha_k`, with the families' :math:`\operatorname{Gamma}(2, 0.2)` prior on
    :math:`\alpha_k`. Its EM step is statsmodels' GLM at the current dispersion, then the dispersion
    maximizing the weighted log-likelihood at those means (flexmix's ``FLXMRnegbin`` alternates the same
    two steps); statsmodels' ``alpha`` is :math:`1/\alpha_k`."""

    family = "negative_binomial"
    link = "log"
    extras = ("dispersions",)
    natural = ("means", "dispersions")
    discrete = True
    roles: ClassVar[dict[str, Role]] = {
        "dispersions": Role("the prior of the component dispersions", POSITIVE_DISTRIBUTIONS)
    }

    def check_y(self, y: np.ndarray, *, name: str = "y") -> None:
        check_count_response(y, name=name, family=self.family)

    def center_and_scale(self, y: np.ndarray) -> tuple[float, float]:
        return count_link_center(y), 1.0

    def default_priors(self, y: np.ndarray) -> dict[str, Any]:
        return {"dispersions": Prior("Gamma", alpha=2.0, beta=0.2)}

    def logp(self, y, eta, dispersions):
        a = dispersions
        return (
            pt.gammaln(y + a)
            - pt.gammaln(a)
            - pt.gammaln(y + 1.0)
            + a * pt.log(a)
            + y * eta
            - (a + y) * pt.log(a + pt.exp(eta))
        )

    def natural_parameters(self, eta: np.ndarray, dispersions: np.ndarray) -> tuple[np.ndarray, ...]:
        return np.exp(eta), np.broadcast_to(dispersions[..., None, :], eta.shape)

    def log_pdf(self, y: np.ndarray, means: np.ndarray, dispersions: np.ndarray) -> np.ndarray:
        return _log_pmf(y, means, dispersions)

    def draw(self, rng: np.random.Generator, means: np.ndarray, dispersions: np.ndarray) -> np.ndarray:
        return FAMILY.sample(rng, means, dispersions)

    def m_step(self, design: np.ndarray, y: np.ndarray, weights: np.ndarray, previous: dict | None) -> dict:
        import statsmodels.api as sm

        start, dispersion = (None, 1.0) if previous is None else (previous["beta"], float(previous["dispersions"]))
        family = sm.families.NegativeBinomial(alpha=1.0 / dispersion)
        beta, means = fit_weighted_glm(design, y, weights, family, start)

        def negative(log_dispersion):
            return -np.sum(weights * _log_pmf(y, means, np.exp(log_dispersion)))

        found = minimize_scalar(negative, bounds=_LOG_DISPERSION_BOUNDS, method="bounded", options={"xatol": 1e-8})
        return {"beta": beta, "dispersions": np.exp(found.x)}


def _log_pmf(y: np.ndarray, means: np.ndarray, dispersions: np.ndarray) -> np.ndarray:
    a = dispersions
    return (
        gammaln(y + a) - gammaln(a) - gammaln(y + 1.0) + a * np.log(a) + xlogy(y, means) - (a + y) * np.log(a + means)
    )


class NegativeBinomialFamily:
    name = "negative_binomial"
    parameters = ("means", "dispersions")
    location = "means"
    discrete = True
    ellipse = None
    profile = None
    nutpie_backend = "numba"
    covariance_types = ()
    roles: ClassVar[dict[str, Role]] = {
        "means": Role("the prior of the component mean counts", POSITIVE_DISTRIBUTIONS),
        "dispersions": Role("the prior of the component dispersions", POSITIVE_DISTRIBUTIONS),
    }
    signature = "(k,d),(k,d)"

    marginalizes_missing = True
    response = NegativeBinomialResponse()

    def check_data(self, X: Any, *, name: str = "X", missing: bool = False) -> Data:
        return check_counts(X, name=name, family=self.name, missing=missing)

    def default_priors(self, data: Data, covariance: str | None) -> dict[str, Any]:
        return {
            "means": Prior("Gamma", alpha=2.0, beta=1.0 / count_scale(data)),
            "dispersions": Prior("Gamma", alpha=2.0, beta=0.2),
        }

    def prior_shapes(self, n_components: int, n_features: int, covariance: str | None) -> dict[str, tuple]:
        return {"means": (n_components, n_features), "dispersions": (n_components, n_features)}

    def parameter_dims(self) -> dict[str, tuple[str, ...]]:
        return {"means": ("component", "feature"), "dispersions": ("component", "feature")}

    def build(self, data: Data, n_components: int, priors: dict, covariance: str | None, naming: Naming = PLAIN):
        dims = naming.dims("component", "feature")
        means = priors["means"].create(naming("means"), dims=dims)
        return means, priors["dispersions"].create(naming("dispersions"), dims=dims)

    def m_step_for(self, data: Data, covariance: str | None):
        return self.m_step

    def logp(
        self, value, means, dispersions, *, covariance: str | None, n_features: int, missing: np.ndarray | None = None
    ):
        x = value[:, None, :]  # (N, 1, D) against (K, D)
        terms = (
            pt.gammaln(x + dispersions)
            - pt.gammaln(dispersions)
            - pt.gammaln(x + 1.0)
            + dispersions * pt.log(dispersions)
            + x * pt.log(means)
            - (dispersions + x) * pt.log(dispersions + means)
        )
        if missing is not None:  # cells coded MISSING (negative) are left out
            terms = pt.switch(pt.ge(x, 0), terms, 0.0)
        return terms.sum(-1)

    def log_density(self, X: np.ndarray, means: np.ndarray, dispersions: np.ndarray) -> np.ndarray:
        observed, X = observed_cells(X)  # NaN cells (missing="marginalize") are left out
        x = X[:, None, :]
        mu, a = means[..., None, :, :], dispersions[..., None, :, :]  # (..., 1, K, D)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = (
                gammaln(x + a)
                - gammaln(a)
                - gammaln(x + 1.0)
                + a * np.log(a)
                + np.where(x > 0, x * np.log(mu), 0.0)
                - (a + x) * np.log(a + mu)
            )
        return (terms * observed[:, None, :]).sum(-1)

    def sample(self, rng: np.random.Generator, means: np.ndarray, dispersions: np.ndarray) -> np.ndarray:
        # A Poisson whose rate is Gamma(alpha, alpha / mu): the negative binomial's definition.
        return rng.poisson(rng.gamma(dispersions, means / dispersions)).astype(float)

    def n_parameters(self, n_components: int, data: Data, covariance: str | None) -> int:
        return 2 * n_components * data.n_features

    def m_step(self, X: np.ndarray, resp: np.ndarray, previous: dict | None = None) -> dict[str, np.ndarray]:
        observed, filled = observed_cells(X)
        means = np.maximum((resp.T @ filled) / (resp.T @ observed), 1e-10)
        start = None if previous is None else previous["dispersions"]
        return {"means": means, "dispersions": _dispersions(X, resp, means, start)}

    def em(self, data: Data, n_components: int, *, covariance: str | None, n_init: int, seed: int) -> xr.Dataset:
        return count_em(self, data, n_components, n_init=n_init, seed=seed, tol=1e-9, max_iter=3000)

    def initial_values(self, solution, data: Data, covariance: str | None) -> dict[str, np.ndarray]:
        return {
            "means": np.maximum(solution["means"].values, 1e-3 * count_scale(data)),
            # Start a Poisson-like component (alpha at the EM's upper bound) where the prior has mass.
            "dispersions": np.clip(solution["dispersions"].values, 0.05, 100.0),
        }


def _dispersions(X: np.ndarray, resp: np.ndarray, means: np.ndarray, start: np.ndarray | None) -> np.ndarray:
    r"""The :math:`\alpha_{kd}` that maximize :math:`\sum_i r_{ik} \log \mathrm{NB}(x_{id} \mid \mu_{kd}, \alpha_{kd})`.

    Safeguarded Newton in :math:`\log \alpha`, all components and features at
    once, started at the previous M-step's answer: a step is halved until the
    weighted log-likelihood does not fall, so every M-step is an ascent (EM's
    monotonicity holds) and, warm-started, it converges in a few steps.
    """
    low, high = _LOG_DISPERSION_BOUNDS
    # The weighted log-likelihood depends on the data only through each count's total weight.
    values = np.unique(X[~np.isnan(X)])  # a missing cell has no count, so no weight
    weights = np.stack([resp.T @ (X[:, d][:, None] == values).astype(float) for d in range(X.shape[1])], axis=-1)
    x = values[:, None, None]  # (V, 1, 1) against weights (K, V, D) -> terms (V, K, D) after moving axes
    w = np.moveaxis(weights, 1, 0)
    mu = means[None]

    def objective(u):
        a = np.exp(u)[None]
        return (w * (gammaln(x + a) - gammaln(a) + a * np.log(a) - (a + x) * np.log(a + mu))).sum(0)

    u = np.full(means.shape, 0.0) if start is None else np.log(np.clip(start, np.exp(low), np.exp(high)))
    current = objective(u)
    for _ in range(MAX_NEWTON_STEPS):
        a = np.exp(u)[None]
        gradient = digamma(x + a) - digamma(a) + np.log(a) + 1 - np.log(a + mu) - (a + x) / (a + mu)
        curvature = polygamma(1, x + a) - polygamma(1, a) + 1 / a - 1 / (a + mu) - (mu - x) / (a + mu) ** 2
        gradient, curvature = (w * gradient).sum(0), (w * curvature).sum(0)
        a = a[0]
        g_u, h_u = a * gradient, a * a * curvature + a * gradient  # derivatives in u = log(alpha)
        step = np.where(h_u < 0, -g_u / np.where(h_u < 0, h_u, -1.0), np.sign(g_u))
        step = np.clip(u + np.clip(step, -2.0, 2.0), low, high) - u
        if np.abs(step).max() < STEP_TOLERANCE:
            break
        for _ in range(30):  # halve until the objective does not fall (beyond rounding)
            proposal = u + step
            value = objective(proposal)
            worse = value < current - 1e-12 * np.abs(current)
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
        if worse.all():  # no step gains anything: the maximum, to rounding
            break
        u, current = np.where(worse, u, proposal), np.where(worse, current, value)
    return np.exp(u)


FAMILY = NegativeBinomialFamily()
