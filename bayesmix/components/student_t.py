r"""Multivariate Student-t components: heavy tails, robust to outliers.

.. math::

    p(x_i \mid \mu_k, \Sigma_k, \nu_k) =
        \frac{\Gamma\big(\tfrac{\nu_k + D}{2}\big)}{\Gamma\big(\tfrac{\nu_k}{2}\big)\,(\nu_k\pi)^{D/2}\,
        \lvert\Sigma_k\rvert^{1/2}}
        \Big(1 + \frac{\delta_{ik}^2}{\nu_k}\Big)^{-\frac{\nu_k + D}{2}},
    \qquad \delta_{ik}^2 = (x_i - \mu_k)^\top \Sigma_k^{-1} (x_i - \mu_k),

with :math:`\Sigma_k` a *scale* matrix (the covariance is
:math:`\tfrac{\nu_k}{\nu_k - 2}\Sigma_k` for :math:`\nu_k > 2`), structured as
full, diagonal, spherical or tied like the Gaussian's covariances and with the
Gaussian's priors on means, scales and LKJ correlations, and the degrees of
freedom :math:`\nu_k \sim \operatorname{Gamma}(2, 0.1)` (Juárez and Steel
2010: mean 20, weakly informative between very heavy tails and the Gaussian).
A point far from a component raises its :math:`\delta^2` only logarithmically
in the log-density, so outliers pull the means and scales much less than
under Gaussian components.

The EM baseline is the ECM algorithm of McLachlan and Peel (2000, ch. 7):
each E-step adds the latent precision weights
:math:`u_{ik} = (\nu_k + D) / (\nu_k + \delta^2_{ik})`; the M-step takes
:math:`u`-weighted means and scale matrices (structured like the model's) and
solves for each :math:`\nu_k` by root-finding. It is bayesmix's own because
studenttmixture, the maintained library, fits full scale matrices only; the
tests check that both reach the same maximum on full ones.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy.optimize import brentq
from scipy.special import digamma, gammaln

from bayesmix._validation import Data, check_data
from bayesmix.baseline._em import em_dataset, ordered, run_em
from bayesmix.components._counts import POSITIVE_DISTRIBUTIONS
from bayesmix.components._covariance import (
    COVARIANCE_TYPES,
    cholesky_factors,
    initial_values_from_covariances,
    structured,
)
from bayesmix.components._family import PLAIN, Naming
from bayesmix.components._gaussian_model import (
    COMPONENT_ROLES,
    RELATIVE_VARIANCE_FLOOR,
    component_means,
    data_scale,
    default_component_priors,
    scale_prior_shape,
    variance_floor,
)
from bayesmix.components._linalg import gram, log_determinant, whiten
from bayesmix.priors import Prior, Role

_LOG_PI = float(np.log(np.pi))
# Where the ECM looks for each component's degrees of freedom; the upper end is Gaussian for any data.
DOF_BOUNDS = (0.2, 500.0)


class StudentTFamily:
    name = "student_t"
    parameters = ("means", "scale_matrices", "degrees_of_freedom")
    location = "means"
    discrete = False
    ellipse = "scale_matrices"
    profile = None
    nutpie_backend = "jax"
    covariance_types = COVARIANCE_TYPES
    roles: ClassVar[dict[str, Role]] = {
        **COMPONENT_ROLES,
        "degrees_of_freedom": Role("the prior of the components' degrees of freedom", POSITIVE_DISTRIBUTIONS),
    }
    signature = "(k,d),(k,d,d),(k),(k,d,d)"

    def check_data(self, X: Any, *, name: str = "X") -> Data:
        return check_data(X, name=name)

    def default_priors(self, data: Data, covariance: str | None) -> dict[str, Any]:
        return {**default_component_priors(data, covariance), "degrees_of_freedom": Prior("Gamma", alpha=2.0, beta=0.1)}

    def prior_shapes(self, n_components: int, n_features: int, covariance: str | None) -> dict[str, tuple]:
        return {
            "means": (n_components, n_features),
            "scales": scale_prior_shape(covariance, n_components, n_features),
            "degrees_of_freedom": (n_components,),
        }

    def parameter_dims(self) -> dict[str, tuple[str, ...]]:
        return {
            "means": ("component", "feature"),
            "scale_matrices": ("component", "feature", "feature_bis"),
            "degrees_of_freedom": ("component",),
        }

    def build(self, data: Data, n_components: int, priors: dict, covariance: str | None, naming: Naming = PLAIN):
        D = data.n_features
        means = component_means(priors["means"], data, n_components, naming=naming)
        chol = cholesky_factors(covariance, n_components, D, priors, variance_floor(data, covariance), naming)
        dims = naming.dims("component", "feature", "feature_bis")
        scale_matrices = pm.Deterministic(naming("scale_matrices"), gram(chol, D), dims=dims)
        dof = priors["degrees_of_freedom"].create(naming("degrees_of_freedom"), dims="component")
        # The likelihood also takes the Cholesky factor: no factorization inside the gradient.
        return means, scale_matrices, dof, chol

    def logp(self, value, means, scale_matrices, dof, chol, *, covariance: str, n_features: int):
        D = n_features
        residuals = value[:, None, :] - means  # (N, K, D)
        if covariance in ("diag", "spherical") or D == 1:
            sd = pt.diagonal(chol, axis1=-2, axis2=-1)
            scaled, log_det = residuals / sd, pt.log(sd).sum(-1)
        else:
            scaled, log_det = whiten(chol, residuals, D), log_determinant(chol, D)
        delta2 = pt.sqr(scaled).sum(-1)
        return (
            pt.gammaln((dof + D) / 2.0)
            - pt.gammaln(dof / 2.0)
            - 0.5 * D * (pt.log(dof) + _LOG_PI)
            - log_det
            - 0.5 * (dof + D) * pt.log1p(delta2 / dof)
        )

    def log_density(self, X: np.ndarray, means: np.ndarray, scale_matrices: np.ndarray, dof: np.ndarray) -> np.ndarray:
        D = X.shape[-1]
        chol = np.linalg.cholesky(scale_matrices)  # (..., K, D, D)
        diff = X[..., None, :, :] - means[..., :, None, :]  # (..., K, N, D)
        z = np.linalg.solve(chol, np.swapaxes(diff, -1, -2))  # (..., K, D, N)
        delta2 = np.einsum("...dn,...dn->...n", z, z)  # (..., K, N)
        log_det = np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
        nu = dof[..., :, None]
        logp = (
            gammaln((nu + D) / 2.0)
            - gammaln(nu / 2.0)
            - 0.5 * D * (np.log(nu) + _LOG_PI)
            - log_det[..., None]
            - 0.5 * (nu + D) * np.log1p(delta2 / nu)
        )
        return np.swapaxes(logp, -1, -2)

    def sample(self, rng: np.random.Generator, means, scale_matrices, dof) -> np.ndarray:
        # x = mu + L z sqrt(nu / g), g ~ chi-square(nu): a Gaussian scale mixture
        chol = np.linalg.cholesky(scale_matrices)
        z = np.einsum("nij,nj->ni", chol, rng.standard_normal(means.shape))
        return means + z * np.sqrt(dof / rng.chisquare(dof))[:, None]

    def n_parameters(self, n_components: int, data: Data, covariance: str | None) -> int:
        K, D = n_components, data.n_features
        scale_parameters = {"full": K * D * (D + 1) // 2, "diag": K * D, "spherical": K, "tied": D * (D + 1) // 2}
        return K * D + scale_parameters[covariance] + K

    def m_step_for(self, data: Data, covariance: str | None):
        floor = RELATIVE_VARIANCE_FLOOR * data_scale(data)[1] ** 2
        return functools.partial(_m_step, covariance=covariance, floor=floor)

    def em(self, data: Data, n_components: int, *, covariance: str | None, n_init: int, seed: int) -> xr.Dataset:
        X = data.values
        fit = run_em(
            X,
            n_components,
            log_density=self.log_density,
            m_step=self.m_step_for(data, covariance),
            start_features=(X - X.mean(axis=0)) / data_scale(data)[1],
            n_init=n_init,
            seed=seed,
            tol=1e-9,
            max_iter=3000,
        )
        fit = ordered(fit, self.location)
        from bayesmix.baseline.gaussian import COLLAPSE_RELATIVE_VARIANCE, _relative_min_variance

        collapsed = _relative_min_variance(X, fit["parameters"]["scale_matrices"]) < COLLAPSE_RELATIVE_VARIANCE
        fit["degenerate"] = collapsed | (fit["weights"] * data.n_obs < data.n_features + 1)
        return em_dataset(
            self,
            data,
            fit,
            covariance=covariance,
            attrs={"covariance": covariance, "n_init": n_init, "random_seed": seed},
        )

    def initial_values(self, solution, data: Data, covariance: str | None) -> dict[str, np.ndarray]:
        scales = solution["scale_matrices"].values
        if covariance == "tied":
            weights = solution["weights"].values
            scales = np.broadcast_to(np.average(scales, axis=0, weights=weights), scales.shape)
        return {
            "means": solution["means"].values,
            "degrees_of_freedom": np.clip(solution["degrees_of_freedom"].values, 1.0, 100.0),
        } | initial_values_from_covariances(covariance, np.asarray(scales))


def _m_step(X: np.ndarray, resp: np.ndarray, previous: dict | None, covariance: str, floor: np.ndarray) -> dict:
    """One conditional maximization: u-weighted means and scales, then each component's degrees of freedom."""
    N, D = X.shape
    K = resp.shape[1]
    if previous is None:  # first step: Gaussian weights, moderately heavy tails
        u, dof, log_u = np.ones((N, K)), np.full(K, 10.0), np.zeros((N, K))
    else:
        dof = previous["degrees_of_freedom"]
        chol = np.linalg.cholesky(previous["scale_matrices"])
        diff = X[None, :, :] - previous["means"][:, None, :]
        z = np.linalg.solve(chol, np.swapaxes(diff, -1, -2))
        delta2 = np.einsum("kdn,kdn->nk", z, z)
        u = (dof + D) / (dof + delta2)
        # E[log u] under the posterior of the latent precision (McLachlan and Peel, eq. 7.26)
        log_u = np.log(u) + digamma((dof + D) / 2.0) - np.log((dof + D) / 2.0)
    totals = resp.sum(axis=0)
    ru = resp * u
    means = (ru.T @ X) / ru.sum(axis=0)[:, None]
    diff = X[None, :, :] - means[:, None, :]  # (K, N, D)
    scatter = np.einsum("nk,knd,kne->kde", ru, diff, diff) / totals[:, None, None]
    scatter = structured(scatter, totals, covariance, floor)
    new_dof = np.array([_dof(resp[:, k], u[:, k], log_u[:, k], totals[k]) for k in range(K)])
    return {"means": means, "scale_matrices": scatter, "degrees_of_freedom": new_dof}


def _dof(resp: np.ndarray, u: np.ndarray, log_u: np.ndarray, total: float) -> float:
    """The root in nu of -psi(nu/2) + log(nu/2) + 1 + mean_r(E[log u] - u) (McLachlan and Peel, eq. 7.31)."""
    constant = 1.0 + float(resp @ (log_u - u)) / total

    def score(nu: float) -> float:
        return -digamma(nu / 2.0) + np.log(nu / 2.0) + constant

    low, high = DOF_BOUNDS
    if score(high) > 0:  # tails no heavier than a Gaussian's: the likelihood rises towards it
        return high
    if score(low) < 0:
        return low
    return float(brentq(score, low, high, xtol=1e-10))


FAMILY = StudentTFamily()
