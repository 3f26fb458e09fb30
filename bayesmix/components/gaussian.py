r"""Gaussian components: full, diagonal, spherical or tied covariance (scikit-learn's meaning).

.. math::

    p(x_i \mid \mu_k, \Sigma_k) = (2\pi)^{-D/2} \lvert\Sigma_k\rvert^{-1/2}
        \exp\!\big(-\tfrac12 (x_i - \mu_k)^\top \Sigma_k^{-1} (x_i - \mu_k)\big).

The model's parameters and priors are those of :func:`bayesmix.models.gmm`
(:mod:`bayesmix.components._gaussian_model` builds them), which
:func:`bayesmix.models.mixture` calls for ``component="gaussian"``; the
hand-written NUTS kernel (:mod:`bayesmix.inference._gmm_kernel`) samples them.
The EM baseline is scikit-learn's ``GaussianMixture``.

With ``missing="marginalize"`` a row with missing cells contributes the
marginal density of its observed sub-vector,

.. math::

    p(x_{i,o} \mid \mu_k, \Sigma_k) = \mathcal N(x_{i,o} \mid \mu_{k,o}, \Sigma_{k,oo}),

computed once per pattern of observed cells (:mod:`bayesmix.components._patterns`)
by the generic mixture likelihood (:meth:`GaussianFamily.build`,
:meth:`GaussianFamily.logp`) rather than the hand-written kernel; its EM is
:mod:`bayesmix.baseline.gaussian_missing`.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayesmix._validation import Data, check_data, constant_features
from bayesmix.components._covariance import COVARIANCE_TYPES, cholesky_factors, initial_values_from_covariances
from bayesmix.components._family import PLAIN, Naming
from bayesmix.components._gaussian_density import component_log_density
from bayesmix.components._gaussian_model import (
    COMPONENT_ROLES,
    RELATIVE_VARIANCE_FLOOR,
    SCALE_DISTRIBUTIONS,
    component_means,
    default_component_priors,
    scale_prior_shape,
    variance_floor,
)
from bayesmix.components._linalg import gram, mahalanobis
from bayesmix.components._patterns import conditional_on_observed, elliptical_logp_by_pattern, missing_patterns
from bayesmix.components._response import first_bad, fit_weighted_glm
from bayesmix.priors import Prior, Role

_LOG_2PI = float(np.log(2.0 * np.pi))


class GaussianResponse:
    r"""The Gaussian as a regression response: identity link and a scale per component,

    .. math:: y_i \mid k \sim \mathcal N(\eta_{ik}, \sigma_k^2), \qquad
        \sigma_k \sim \operatorname{Gamma}(2,\; 2 / s_y),

    a scale prior with its mode at half y's standard deviation :math:`s_y` and
    none of its mass at zero, where a component fitted to a few points on a
    line would make the likelihood unbounded."""

    family = "gaussian"
    link = "identity"
    extras = ("scales",)
    natural = ("means", "scales")
    discrete = False
    roles: ClassVar[dict[str, Role]] = {
        "scales": Role("the prior of the component residual scales", SCALE_DISTRIBUTIONS)
    }

    def check_y(self, y: np.ndarray, *, name: str = "y") -> None:
        if not np.isfinite(y).all():
            raise ValueError(
                f"Argument `{name}` must be finite numbers for component='gaussian', but "
                f"{first_bad(y, ~np.isfinite(y))}; drop or fill those rows."
            )

    def center_and_scale(self, y: np.ndarray) -> tuple[float, float]:
        return float(np.mean(y)), float(max(np.std(y), 1e-12))

    def default_priors(self, y: np.ndarray) -> dict[str, Any]:
        return {"scales": Prior("Gamma", alpha=2.0, beta=2.0 / self.center_and_scale(y)[1])}

    def logp(self, y, eta, scales):
        return -0.5 * ((y - eta) / scales) ** 2 - pt.log(scales) - 0.5 * _LOG_2PI

    def natural_parameters(self, eta: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, ...]:
        return eta, np.broadcast_to(scales[..., None, :], eta.shape)

    def log_pdf(self, y: np.ndarray, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
        return -0.5 * ((y - means) / scales) ** 2 - np.log(scales) - 0.5 * _LOG_2PI

    def draw(self, rng: np.random.Generator, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
        return rng.normal(means, scales)

    def m_step(self, design: np.ndarray, y: np.ndarray, weights: np.ndarray, previous: dict | None) -> dict:
        import statsmodels.api as sm

        start = None if previous is None else previous["beta"]
        beta, fitted = fit_weighted_glm(design, y, weights, sm.families.Gaussian(), start)
        # the maximum-likelihood scale, not statsmodels' degrees-of-freedom corrected one
        variance = np.sum(weights * (y - fitted) ** 2) / np.sum(weights)
        return {"beta": beta, "scales": np.sqrt(max(variance, 1e-12 * np.var(y)))}


class GaussianFamily:
    name = "gaussian"
    parameters = ("means", "covariances")
    location = "means"
    discrete = False
    ellipse = "covariances"
    profile = None
    nutpie_backend = "jax"
    covariance_types = COVARIANCE_TYPES
    roles: ClassVar[dict[str, Role]] = COMPONENT_ROLES
    signature = "(k,d),(k,d,d),(k,d,d)"
    # Complete data are built by bayesmix.models.gmm and dp_gmm (their own vectorized likelihood,
    # which the hand-written kernel samples); build() and logp() serve missing="marginalize".
    dedicated_model = True
    marginalizes_missing = True
    response = GaussianResponse()

    def check_data(self, X: Any, *, name: str = "X", missing: bool = False) -> Data:
        return check_data(X, name=name, allow_missing=missing)

    def default_priors(self, data: Data, covariance: str | None) -> dict[str, Any]:
        return default_component_priors(data, covariance)

    def prior_shapes(self, n_components: int, n_features: int, covariance: str | None) -> dict[str, tuple]:
        return {"means": (n_components, n_features), "scales": scale_prior_shape(covariance, n_components, n_features)}

    def parameter_dims(self) -> dict[str, tuple[str, ...]]:
        return {"means": ("component", "feature"), "covariances": ("component", "feature", "feature_bis")}

    def build(self, data: Data, n_components: int, priors: dict, covariance: str | None, naming: Naming = PLAIN):
        D = data.n_features
        means = component_means(priors["means"], data, n_components, naming=naming)
        chol = cholesky_factors(covariance, n_components, D, priors, variance_floor(data, covariance), naming)
        dims = naming.dims("component", "feature", "feature_bis")
        return means, pm.Deterministic(naming("covariances"), gram(chol, D), dims=dims), chol

    def m_step_for(self, data: Data, covariance: str | None):
        from bayesmix.baseline.gaussian_missing import REG_COVAR, expected_m_step

        floor = np.full(data.n_features, REG_COVAR)
        patterns = missing_patterns(np.isnan(data.values))  # once, not at every iteration
        return functools.partial(expected_m_step, covariance=covariance, floor=floor, patterns=patterns)

    def logp(
        self, value, means, covariances, chol, *, covariance: str, n_features: int, missing: np.ndarray | None = None
    ):
        diagonal = covariance in ("diag", "spherical")
        # PyMC may hand the parameters with the data's batch dims, of length 1
        means, covariances, chol = (
            means.reshape(means.shape[-2:]),
            covariances.reshape(covariances.shape[-3:]),
            chol.reshape(chol.shape[-3:]),
        )
        logp = functools.partial(_gaussian_logp, diagonal=diagonal)
        if missing is None:
            return logp(value, means, chol, n_features)
        return elliptical_logp_by_pattern(value, means, covariances, chol, missing, diagonal=diagonal, logp=logp)

    def log_density(self, X: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
        return component_log_density(X, means, covariances)

    def sample(self, rng: np.random.Generator, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
        chol = np.linalg.cholesky(covariances)
        return means + np.einsum("nij,nj->ni", chol, rng.standard_normal(means.shape))

    def sample_given(self, rng: np.random.Generator, X: np.ndarray, means: np.ndarray, covariances: np.ndarray):
        """Draws of each row's missing cells from its component given its observed cells (the observed ones
        are kept): :math:`x_m \\mid x_o \\sim \\mathcal N(\\mu_m + \\Sigma_{mo}\\Sigma_{oo}^{-1}(x_o - \\mu_o),\\;
        \\Sigma_{mm} - \\Sigma_{mo}\\Sigma_{oo}^{-1}\\Sigma_{om})`. ``X`` is (n, D), the parameters
        (..., n, D) and (..., n, D, D), one component per row already picked."""
        drawn = np.array(np.broadcast_to(X, means.shape))
        for rows, observed in missing_patterns(np.isnan(X)):
            hidden = np.setdiff1d(np.arange(X.shape[1]), observed)
            if hidden.size == 0:
                continue
            mu, cov = means[..., rows, :], covariances[..., rows, :, :]
            center, spread = mu[..., hidden], cov[..., hidden[:, None], hidden]
            if observed.size:
                given = conditional_on_observed(X[np.ix_(rows, observed)], mu, cov, observed, hidden)
                center, spread = given.location, given.matrix
            noise = rng.standard_normal(center.shape)
            drawn[..., rows[:, None], hidden] = center + np.einsum(
                "...ij,...j->...i", np.linalg.cholesky(spread), noise
            )
        return drawn

    def n_parameters(self, n_components: int, data: Data, covariance: str | None) -> int:
        K, D = n_components, data.n_features
        covariance_parameters = {"full": K * D * (D + 1) // 2, "diag": K * D, "spherical": K, "tied": D * (D + 1) // 2}
        return K * D + covariance_parameters[covariance]

    def em(self, data: Data, n_components: int, *, covariance: str | None, n_init: int, seed: int) -> xr.Dataset:
        from bayesmix.baseline.gaussian import em

        if np.isnan(data.values).any():
            from bayesmix.baseline.gaussian_missing import em_with_missing

            return em_with_missing(self, data, n_components, covariance=covariance, n_init=n_init, seed=seed)
        frame = pd.DataFrame(data.values, columns=data.feature_names)
        return em(frame, n_components, covariance=covariance, n_init=n_init, random_seed=seed)

    def initial_values(self, solution, data: Data, covariance: str | None) -> dict[str, np.ndarray]:
        means = solution["means"].values
        constant = constant_features(data)
        if constant.size:
            # At a constant feature's value the gradient of its means is exactly zero, an
            # initial point nutpie rejects; start half a floor standard deviation away (a
            # constant feature's spread counts as 1, so its floor is RELATIVE_VARIANCE_FLOOR).
            means = means.copy()
            means[:, constant] += 0.5 * np.sqrt(RELATIVE_VARIANCE_FLOOR)
        covariances = solution["covariances"].values
        if covariance == "tied":
            weights = solution["weights"].values
            covariances = np.broadcast_to(np.average(covariances, axis=0, weights=weights), covariances.shape)
        return {"means": means} | initial_values_from_covariances(covariance, np.asarray(covariances))


def _gaussian_logp(value, means, chol, n_features: int, diagonal: bool):
    """log N(x_i | mu_k, L_k L_k^T) as an (N, K) matrix, whitened by the unrolled forward substitution."""
    delta2, log_det = mahalanobis(value, means, chol, n_features, diagonal)
    return -0.5 * delta2 - log_det - 0.5 * n_features * _LOG_2PI


FAMILY = GaussianFamily()
