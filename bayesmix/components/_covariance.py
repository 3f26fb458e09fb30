"""Covariance parametrizations shared by the finite and Dirichlet-process mixtures.

Each builder creates the scale and correlation variables of one covariance
type in the current PyMC model and returns the batched Cholesky factors
``L`` of shape (n_components, n_features, n_features), so that the components'
covariances are :math:`\\Sigma_k = L_k L_k^\\top`. Types follow scikit-learn:

* ``full``: :math:`L_k = \\operatorname{diag}(s_k) \\, C_k`, a scale vector
  :math:`s_k` and an LKJ correlation Cholesky factor :math:`C_k` per component;
* ``tied``: one :math:`L = \\operatorname{diag}(s) \\, C` shared by all components;
* ``diag``: :math:`L_k = \\operatorname{diag}(s_k)`;
* ``spherical``: :math:`L_k = s_k I`.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayesmix.components._correlation import UnrolledCholeskyCorr
from bayesmix.components._family import PLAIN, Naming
from bayesmix.components._linalg import cholesky, gram, unrolled
from bayesmix.priors import Prior

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


def cholesky_factors(
    covariance: str,
    n_components: int,
    n_features: int,
    priors: dict,
    variance_floor: np.ndarray | None = None,
    naming: Naming = PLAIN,
):
    """Create the covariance variables and return the (K, D, D) Cholesky factors.

    ``variance_floor`` (one value per feature, zero where none is wanted) is
    added to the diagonal of every component covariance,
    :math:`\\Sigma_k + \\operatorname{diag}(\\tau)`, so that the likelihood stays
    bounded, and the posterior proper, where a component could shrink onto
    repeated points. Diagonal factors take the floor elementwise; full and
    tied ones are refactorized (unrolled for small D, :mod:`bayesmix.components._linalg`).
    """
    chol = _cholesky_factors(covariance, n_components, n_features, priors, naming)
    if variance_floor is None or not np.any(variance_floor):
        return chol
    floor = pt.as_tensor(np.asarray(variance_floor, dtype=float))
    if covariance in ("diag", "spherical") or n_features == 1:
        diagonal = pt.diagonal(chol, axis1=-2, axis2=-1)
        return pt.sqrt(diagonal**2 + floor)[..., :, None] * pt.eye(n_features)
    return cholesky(gram(chol, n_features) + pt.diag(floor), n_features)


def _cholesky_factors(covariance: str, n_components: int, n_features: int, priors: dict, naming: Naming):
    K, D = n_components, n_features
    scales_prior: Prior = priors["scales"]
    eye = pt.eye(D)
    scales_name, corr_name = naming("scales"), naming("corr_chol")
    if covariance == "spherical":
        scales = scales_prior.create(scales_name, dims="component")
        return scales[:, None, None] * eye
    if covariance == "diag":
        scales = scales_prior.create(scales_name, dims=naming.dims("component", "feature"))
        return scales[:, :, None] * eye
    if covariance == "full":
        scales = scales_prior.create(scales_name, dims=naming.dims("component", "feature"))
        if D == 1:
            return scales[:, :, None]
        dims = naming.dims("component", "feature", "feature_bis")
        corr = _lkj_cholesky(corr_name, priors["lkj_eta"], D, shape=(K, D, D), dims=dims)
        return scales[:, :, None] * corr
    if covariance == "tied":
        scales = scales_prior.create(scales_name, dims=naming.dims("feature"))
        shared = scales[:, None] * eye
        if D > 1:
            dims = naming.dims("feature", "feature_bis")
            corr = _lkj_cholesky(corr_name, priors["lkj_eta"], D, shape=(D, D), dims=dims)
            shared = scales[:, None] * corr
        return pt.broadcast_to(shared, (K, D, D))
    raise ValueError(f"Unknown covariance {covariance!r}; choose one of {list(COVARIANCE_TYPES)}.")


def _lkj_cholesky(name: str, eta: float, n_features: int, shape: tuple[int, ...], **kwargs):
    """``corr_chol``: PyMC's LKJ correlation Cholesky factor, sampled through the unrolled bijector up to 6 features.

    Its initial value is the identity, LKJCorr's own support point, given as a
    number: derived from the variable, PyMC's initial-point function keeps the
    LKJ sampler's ``Scan`` in its graph to read a shape, and compiling that
    cost 15-17 s of C code per fit from an empty cache (faithful, K = 2).
    """
    if unrolled(n_features):
        kwargs["default_transform"] = UnrolledCholeskyCorr(n_features)
    identity = np.broadcast_to(np.eye(n_features), shape).copy()
    return pm.LKJCorr(name, eta=eta, n=n_features, shape=shape, initval=identity, **kwargs)


def initial_values_from_covariances(covariance: str, covariances: np.ndarray) -> dict[str, np.ndarray]:
    """Constrained initial values of the scale/correlation variables for given covariances.

    ``covariances`` has shape (K, D, D); used to start samplers at an EM solution.
    """
    sd = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))  # (K, D)
    D = covariances.shape[-1]
    if covariance == "spherical":
        return {"scales": np.sqrt((sd**2).mean(-1))}
    if covariance == "diag":
        return {"scales": sd}
    corr_chol = np.linalg.cholesky(covariances / (sd[..., :, None] * sd[..., None, :]))
    if covariance == "full":
        return {"scales": sd} | ({"corr_chol": corr_chol} if D > 1 else {})
    # tied: every component has the same covariance
    return {"scales": sd[0]} | ({"corr_chol": corr_chol[0]} if D > 1 else {})


def structured(scatter: np.ndarray, totals: np.ndarray, covariance: str, floor: np.ndarray) -> np.ndarray:
    """The M-step's (K, D, D) weighted scatter matrices in the covariance type's structure, plus the floor.

    ``diag`` keeps the diagonal, ``spherical`` its mean, ``tied`` the average over components weighted by
    their ``totals``; ``floor`` (per feature; its mean for spherical) is added to the diagonal.
    """
    D = scatter.shape[-1]
    if covariance == "diag":
        scatter = np.einsum("kdd->kd", scatter)[:, :, None] * np.eye(D)
    elif covariance == "spherical":
        scatter = np.einsum("kdd->k", scatter)[:, None, None] / D * np.eye(D)
    elif covariance == "tied":
        scatter = np.broadcast_to(np.average(scatter, axis=0, weights=totals), scatter.shape).copy()
    return scatter + (floor.mean() if covariance == "spherical" else floor) * np.eye(D)
