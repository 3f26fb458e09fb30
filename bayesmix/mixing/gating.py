r"""Gating on covariates: mixture weights from a multinomial-logit model (mixtures of experts).

With covariates :math:`z_i \in \mathbb{R}^G` (flexmix's concomitant variables),

.. math::

    \pi_k(z_i) = \frac{\exp(\gamma_{k0} + z_i^\top \gamma_k)}{\sum_j \exp(\gamma_{j0} + z_i^\top \gamma_j)},
    \qquad \gamma_{10} = 0,\ \gamma_1 = 0,

the first component being the reference. In the model the free intercepts
are those at the covariates' mean :math:`\bar z` (``gating_centered_intercepts``),
which decorrelates them from the slopes; ``gating_intercepts`` and
``gating_coefficients`` (component, gating_feature), the reference's row
zero, are their deterministic translation to :math:`z = 0`, the names the EM
baseline uses. Priors (logit scale): centred intercepts
:math:`\mathcal N(0, 2.5^2)`, slopes :math:`\mathcal N(0, (2.5 / s_{z,g})^2)`, a
change of one standard deviation of a covariate moving a log-odds by about
2.5 at most a priori.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import log_softmax

from bayesmix.priors import Prior, Role

SCALED_DISTRIBUTIONS = ("Normal", "StudentT", "Laplace")
ROLES = {
    "gating_intercepts": Role(
        "the prior of the gate's intercepts (log-odds against component 0)", SCALED_DISTRIBUTIONS
    ),
    "gating_coefficients": Role(
        "the prior of the gate's slopes per standard deviation of a covariate", SCALED_DISTRIBUTIONS
    ),
}
DEFAULT_PRIORS = {"gating_intercepts": Prior("Normal", sigma=2.5), "gating_coefficients": Prior("Normal", sigma=2.5)}
# The parameter that scales each allowed prior.
_SCALE = {"Normal": "sigma", "StudentT": "sigma", "Laplace": "b"}


def scaled_prior(prior: Prior, scale: np.ndarray) -> Prior:
    """``prior`` with its scale parameter multiplied by ``scale`` (a number or an array broadcasting to the
    variable's shape): per-standard-deviation priors turned into per-unit ones."""
    name = _SCALE[prior.distribution]
    return Prior(prior.distribution, **{**prior.parameters, name: np.asarray(prior.parameters.get(name, 1.0)) * scale})


def gate_log_weights(Z, z_mean: np.ndarray, z_sd: np.ndarray, priors: dict, n_components: int):
    """Create the gate's variables in the model on the context stack; return the log-weights (n_obs, K).

    ``Z`` is the (n_obs, G) tensor of covariates in raw units.
    """
    free_dims = ("gate_component",)
    intercepts = priors["gating_intercepts"].create("gating_centered_intercepts", dims=free_dims)
    slopes = scaled_prior(priors["gating_coefficients"], 1.0 / z_sd).create(
        "gating_free_coefficients", dims=("gate_component", "gating_feature")
    )
    zero = pt.zeros((1,))
    pm.Deterministic("gating_intercepts", pt.concatenate([zero, intercepts - pt.dot(slopes, z_mean)]), dims="component")
    pm.Deterministic(
        "gating_coefficients",
        pt.concatenate([pt.zeros((1, len(z_mean))), slopes], axis=0),
        dims=("component", "gating_feature"),
    )
    logits = intercepts[None, :] + pt.dot(Z - z_mean, slopes.T)  # (n, K - 1)
    logits = pt.concatenate([pt.zeros((logits.shape[0], 1)), logits], axis=1)
    return pt.special.log_softmax(logits, axis=1)


def gate_coords(n_components: int, gating: list[str]) -> dict:
    return {"gate_component": np.arange(1, n_components), "gating_feature": list(gating)}


def log_weights_of_draws(intercepts: np.ndarray, coefficients: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """numpy: log pi_k(z_i) for draws of ``gating_intercepts`` (S, K) and ``gating_coefficients`` (S, K, G)
    at covariates Z (n, G); shape (S, n, K)."""
    logits = intercepts[:, None, :] + np.einsum("ng,skg->snk", Z, coefficients)
    return log_softmax(logits, axis=-1)


def initial_values(intercepts: np.ndarray, coefficients: np.ndarray, z_mean: np.ndarray) -> dict[str, np.ndarray]:
    """The free gate variables from raw ``gating_intercepts`` (K,) and ``gating_coefficients`` (K, G) whose
    first row need not be zero (rebased onto component 0 here)."""
    intercepts, coefficients = intercepts - intercepts[0], coefficients - coefficients[0]
    return {
        "gating_centered_intercepts": (intercepts + coefficients @ z_mean)[1:],
        "gating_free_coefficients": coefficients[1:],
    }
