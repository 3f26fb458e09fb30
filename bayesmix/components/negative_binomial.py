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
log-likelihood; with one component it reproduces statsmodels' maximum-likelihood fit.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytensor.tensor as pt
import xarray as xr
from scipy.optimize import minimize_scalar
from scipy.special import gammaln

from bayesmix._validation import Data
from bayesmix.baseline._em import em_dataset, ordered, run_em
from bayesmix.components._counts import POSITIVE_DISTRIBUTIONS, check_counts, count_scale, nearly_empty
from bayesmix.priors import Prior, Role

# The EM searches log(alpha) here; the upper end is the Poisson limit for any count data.
_LOG_DISPERSION_BOUNDS = (-8.0, 12.0)


class NegativeBinomialFamily:
    name = "negative_binomial"
    parameters = ("means", "dispersions")
    location = "means"
    covariance_types = ()
    roles: ClassVar[dict[str, Role]] = {
        "means": Role("the prior of the component mean counts", POSITIVE_DISTRIBUTIONS),
        "dispersions": Role("the prior of the component dispersions", POSITIVE_DISTRIBUTIONS),
    }
    signature = "(k,d),(k,d)"

    def check_data(self, X: Any, *, name: str = "X") -> Data:
        return check_counts(X, name=name, family=self.name)

    def default_priors(self, data: Data, covariance: str | None) -> dict[str, Any]:
        return {
            "means": Prior("Gamma", alpha=2.0, beta=1.0 / count_scale(data)),
            "dispersions": Prior("Gamma", alpha=2.0, beta=0.2),
        }

    def prior_shapes(self, n_components: int, n_features: int, covariance: str | None) -> dict[str, tuple]:
        return {"means": (n_components, n_features), "dispersions": (n_components, n_features)}

    def parameter_dims(self) -> dict[str, tuple[str, ...]]:
        return {"means": ("component", "feature"), "dispersions": ("component", "feature")}

    def build(self, data: Data, n_components: int, priors: dict, covariance: str | None) -> tuple:
        dims = ("component", "feature")
        return priors["means"].create("means", dims=dims), priors["dispersions"].create("dispersions", dims=dims)

    def logp(self, value, means, dispersions, *, covariance: str | None, n_features: int):
        x = value[:, None, :]  # (N, 1, D) against (K, D)
        terms = (
            pt.gammaln(x + dispersions)
            - pt.gammaln(dispersions)
            - pt.gammaln(x + 1.0)
            + dispersions * pt.log(dispersions)
            + x * pt.log(means)
            - (dispersions + x) * pt.log(dispersions + means)
        )
        return terms.sum(-1)

    def log_density(self, X: np.ndarray, means: np.ndarray, dispersions: np.ndarray) -> np.ndarray:
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
        return terms.sum(-1)

    def sample(self, rng: np.random.Generator, means: np.ndarray, dispersions: np.ndarray) -> np.ndarray:
        # A Poisson whose rate is Gamma(alpha, alpha / mu): the negative binomial's definition.
        return rng.poisson(rng.gamma(dispersions, means / dispersions)).astype(float)

    def n_parameters(self, n_components: int, n_features: int, covariance: str | None) -> int:
        return 2 * n_components * n_features

    def m_step(self, X: np.ndarray, resp: np.ndarray, previous: dict | None = None) -> dict[str, np.ndarray]:
        totals = resp.sum(axis=0)
        means = np.maximum((resp.T @ X) / totals[:, None], 1e-10)
        dispersions = np.empty_like(means)
        for d in range(X.shape[1]):
            # The weighted log-likelihood depends on the data only through each count's weight.
            values, inverse = np.unique(X[:, d], return_inverse=True)
            for k in range(resp.shape[1]):
                counts = np.bincount(inverse, weights=resp[:, k], minlength=values.size)
                dispersions[k, d] = _dispersion(values, counts, means[k, d])
        return {"means": means, "dispersions": dispersions}

    def em(self, data: Data, n_components: int, *, covariance: str | None, n_init: int, seed: int) -> xr.Dataset:
        fit = run_em(
            data.values,
            n_components,
            log_density=self.log_density,
            m_step=self.m_step,
            start_features=np.log1p(data.values),
            n_init=n_init,
            seed=seed,
            tol=1e-9,
            max_iter=3000,
        )
        fit = ordered(fit, self.location)
        fit["degenerate"] = nearly_empty(fit["weights"], data.n_obs, data.n_features)
        return em_dataset(self, data, fit, covariance=None, attrs={"n_init": n_init, "random_seed": seed})

    def initial_values(self, solution, data: Data, covariance: str | None) -> dict[str, np.ndarray]:
        return {
            "means": np.maximum(solution["means"].values, 1e-3 * count_scale(data)),
            # Start a Poisson-like component (alpha at the EM's upper bound) where the prior has mass.
            "dispersions": np.clip(solution["dispersions"].values, 0.05, 100.0),
        }


def _dispersion(values: np.ndarray, weights: np.ndarray, mean: float) -> float:
    """The alpha that maximizes sum_j weights_j log NB(values_j | mean, alpha)."""

    def negative(log_alpha: float) -> float:
        a = np.exp(log_alpha)
        ll = gammaln(values + a) - gammaln(a) + a * np.log(a) - (a + values) * np.log(a + mean)
        return -float(weights @ ll)

    found = minimize_scalar(negative, bounds=_LOG_DISPERSION_BOUNDS, method="bounded", options={"xatol": 1e-8})
    return float(np.exp(found.x))


FAMILY = NegativeBinomialFamily()
