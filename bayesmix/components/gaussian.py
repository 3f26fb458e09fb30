r"""Gaussian components: full, diagonal, spherical or tied covariance (scikit-learn's meaning).

.. math::

    p(x_i \mid \mu_k, \Sigma_k) = (2\pi)^{-D/2} \lvert\Sigma_k\rvert^{-1/2}
        \exp\!\big(-\tfrac12 (x_i - \mu_k)^\top \Sigma_k^{-1} (x_i - \mu_k)\big).

The model's parameters and priors are those of :func:`bayesmix.models.gmm`
(:mod:`bayesmix.components._gaussian_model` builds them), which
:func:`bayesmix.models.mixture` calls for ``component="gaussian"``; the
hand-written NUTS kernel (:mod:`bayesmix.inference._gmm_kernel`) samples them.
The EM baseline is scikit-learn's ``GaussianMixture``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from bayesmix._validation import Data, check_data, constant_features
from bayesmix.components._covariance import COVARIANCE_TYPES, initial_values_from_covariances
from bayesmix.components._gaussian_density import component_log_density
from bayesmix.components._gaussian_model import (
    COMPONENT_ROLES,
    RELATIVE_VARIANCE_FLOOR,
    default_component_priors,
    scale_prior_shape,
)
from bayesmix.priors import Role


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
    signature = "(k,d),(k,d,d)"
    # Built by bayesmix.models.gmm and dp_gmm (their own vectorized likelihood, which the
    # hand-written kernel samples) rather than by the generic mixture likelihood.
    dedicated_model = True

    def check_data(self, X: Any, *, name: str = "X") -> Data:
        return check_data(X, name=name)

    def default_priors(self, data: Data, covariance: str | None) -> dict[str, Any]:
        return default_component_priors(data, covariance)

    def prior_shapes(self, n_components: int, n_features: int, covariance: str | None) -> dict[str, tuple]:
        return {"means": (n_components, n_features), "scales": scale_prior_shape(covariance, n_components, n_features)}

    def parameter_dims(self) -> dict[str, tuple[str, ...]]:
        return {"means": ("component", "feature"), "covariances": ("component", "feature", "feature_bis")}

    def log_density(self, X: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
        return component_log_density(X, means, covariances)

    def sample(self, rng: np.random.Generator, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
        chol = np.linalg.cholesky(covariances)
        return means + np.einsum("nij,nj->ni", chol, rng.standard_normal(means.shape))

    def n_parameters(self, n_components: int, data: Data, covariance: str | None) -> int:
        K, D = n_components, data.n_features
        covariance_parameters = {"full": K * D * (D + 1) // 2, "diag": K * D, "spherical": K, "tied": D * (D + 1) // 2}
        return K * D + covariance_parameters[covariance]

    def em(self, data: Data, n_components: int, *, covariance: str | None, n_init: int, seed: int) -> xr.Dataset:
        from bayesmix.baseline.gaussian import em

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


FAMILY = GaussianFamily()
