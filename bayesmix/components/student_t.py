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
from bayesmix.components._linalg import gram, mahalanobis
from bayesmix.components._patterns import (
    conditional_on_observed,
    elliptical_logp_by_pattern,
    log_density_by_pattern,
    missing_patterns,
)
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

    marginalizes_missing = True

    def check_data(self, X: Any, *, name: str = "X", missing: bool = False) -> Data:
        return check_data(X, name=name, allow_missing=missing)

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

    def logp(
        self,
        value,
        means,
        scale_matrices,
        dof,
        chol,
        *,
        covariance: str,
        n_features: int,
        missing: np.ndarray | None = None,
    ):
        diagonal = covariance in ("diag", "spherical")
        # PyMC may hand the parameters with the data's batch dims, of length 1
        means, scale_matrices = means.reshape(means.shape[-2:]), scale_matrices.reshape(scale_matrices.shape[-3:])
        dof, chol = dof.reshape(dof.shape[-1:]), chol.reshape(chol.shape[-3:])

        def logp(x, means, factor, D):
            return _t_logp(x, means, factor, dof, D, diagonal)

        if missing is None:
            return logp(value, means, chol, n_features)
        # the marginal of the observed cells: a t with the same degrees of freedom and the sub-scale matrix
        return elliptical_logp_by_pattern(value, means, scale_matrices, chol, missing, diagonal=diagonal, logp=logp)

    def log_density(self, X: np.ndarray, means: np.ndarray, scale_matrices: np.ndarray, dof: np.ndarray) -> np.ndarray:
        if np.isnan(X).any():  # the observed cells' marginal, pattern by pattern

            def observed_block(rows, columns):
                sub = scale_matrices[..., columns[:, None], columns]
                return self.log_density(X[np.ix_(rows, columns)], means[..., columns], sub, dof)

            return log_density_by_pattern(X, means.shape[-2], means.shape[:-2], observed_block)
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

    def sample_given(self, rng: np.random.Generator, X: np.ndarray, means, scale_matrices, dof) -> np.ndarray:
        """Each row's missing cells drawn given its observed ones: a t with :math:`\\nu + p_o` degrees of
        freedom, the Gaussian's conditional location and its conditional scale times
        :math:`(\\nu + \\delta_o^2) / (\\nu + p_o)` (Kotz and Nadarajah 2004, sec. 1.11). ``X`` is (n, D), the
        parameters (..., n, D), (..., n, D, D), (..., n), one component per row already picked."""
        drawn = np.array(np.broadcast_to(X, means.shape))
        for rows, observed in missing_patterns(np.isnan(X)):
            hidden = np.setdiff1d(np.arange(X.shape[1]), observed)
            if hidden.size == 0:
                continue
            mu, scale, nu = means[..., rows, :], scale_matrices[..., rows, :, :], dof[..., rows]
            center, spread = mu[..., hidden], scale[..., hidden[:, None], hidden]
            df = nu
            if observed.size:
                given = conditional_on_observed(X[np.ix_(rows, observed)], mu, scale, observed, hidden)
                center = given.location
                spread = given.matrix * ((nu + given.delta2) / (nu + observed.size))[..., None, None]
                df = nu + observed.size
            z = np.einsum("...ij,...j->...i", np.linalg.cholesky(spread), rng.standard_normal(center.shape))
            drawn[..., rows[:, None], hidden] = center + z * np.sqrt(df / rng.chisquare(df))[..., None]
        return drawn

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
        patterns = missing_patterns(np.isnan(data.values))  # once, not at every iteration
        return functools.partial(_m_step, covariance=covariance, floor=floor, patterns=patterns)

    def em(self, data: Data, n_components: int, *, covariance: str | None, n_init: int, seed: int) -> xr.Dataset:
        X = data.values
        fit = run_em(
            X,
            n_components,
            log_density=self.log_density,
            m_step=self.m_step_for(data, covariance),
            start_features=(X - np.nanmean(X, axis=0)) / data_scale(data)[1],
            n_init=n_init,
            seed=seed,
            tol=1e-9,
            max_iter=3000,
        )
        fit = ordered(fit, self.location)
        from bayesmix.baseline.gaussian import COLLAPSE_RELATIVE_VARIANCE, _relative_min_variance

        complete = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
        collapsed = _relative_min_variance(complete, fit["parameters"]["scale_matrices"]) < COLLAPSE_RELATIVE_VARIANCE
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


def _m_step(
    X: np.ndarray, resp: np.ndarray, previous: dict | None, covariance: str, floor: np.ndarray, patterns: list
) -> dict:
    """One conditional maximization: u-weighted means and scales, then each component's degrees of freedom.

    Missing cells (NaN) enter through their conditional expectations given the row's observed ones (Liu and
    Rubin 1995): :math:`\\hat x` as for a Gaussian, :math:`u_{ik} = (\\nu_k + p_i) / (\\nu_k + \\delta^2_{ik,o})`
    with :math:`p_i` the row's observed cells, and the conditional scale :math:`\\Sigma_{k,mm \\cdot o}` added
    to the scatter unweighted by :math:`u` (:math:`E[u\\, z z^\\top] = u \\hat z \\hat z^\\top + \\Sigma_{mm\\cdot o}`).
    """
    N, D = X.shape
    K = resp.shape[1]
    missing = np.isnan(X)
    filled = np.broadcast_to(np.where(missing, np.nanmean(X, axis=0), X), (K, N, D)).copy()
    correction = np.zeros((K, D, D))  # sum_i r_ik Sigma_k,mm.o
    if previous is None:  # first step: Gaussian weights, moderately heavy tails
        u, dof, log_u = np.ones((N, K)), np.full(K, 10.0), np.zeros((N, K))
    else:
        dof, means, scales = previous["degrees_of_freedom"], previous["means"], previous["scale_matrices"]
        delta2 = np.zeros((N, K))
        for rows, observed in patterns:  # missing_patterns(missing), computed once per EM
            hidden = np.setdiff1d(np.arange(D), observed)
            conditional = scales
            if observed.size:  # per component (K, 1, ...) and row (n, o)
                given = conditional_on_observed(
                    X[np.ix_(rows, observed)], means[:, None], scales[:, None], observed, hidden
                )
                delta2[rows] = given.delta2.T
                filled[np.ix_(np.arange(K), rows, hidden)] = given.location
                conditional = np.zeros((K, D, D))
                conditional[:, hidden[:, None], hidden] = given.matrix[:, 0]
            else:
                filled[:, rows] = means[:, None, :]
            if hidden.size:
                correction += resp[rows].sum(axis=0)[:, None, None] * conditional
        p = (~missing).sum(axis=1)[:, None]
        u = (dof + p) / (dof + delta2)
        # E[log u] under the posterior of the latent precision (McLachlan and Peel, eq. 7.26)
        log_u = np.log(u) + digamma((dof + p) / 2.0) - np.log((dof + p) / 2.0)
    totals = resp.sum(axis=0)
    ru = resp * u
    means = np.einsum("nk,knd->kd", ru, filled) / ru.sum(axis=0)[:, None]
    diff = filled - means[:, None, :]  # (K, N, D)
    scatter = (np.einsum("nk,knd,kne->kde", ru, diff, diff) + correction) / totals[:, None, None]
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


def _t_logp(value, means, chol, dof, n_features: int, diagonal: bool):
    """log t_nu(x_i | mu_k, L_k L_k^T) as an (N, K) matrix, whitened by the unrolled forward substitution."""
    D = n_features
    delta2, log_det = mahalanobis(value, means, chol, D, diagonal)
    return (
        pt.gammaln((dof + D) / 2.0)
        - pt.gammaln(dof / 2.0)
        - 0.5 * D * (pt.log(dof) + _LOG_PI)
        - log_det
        - 0.5 * (dof + D) * pt.log1p(delta2 / dof)
    )


FAMILY = StudentTFamily()
