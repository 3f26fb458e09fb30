"""Dirichlet-process Gaussian mixtures (truncated stick-breaking)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pymc as pm

from bayesmix._validation import check_choice, check_data
from bayesmix.components._covariance import COVARIANCE_TYPES, cholesky_factors
from bayesmix.components._gaussian_model import (
    COMPONENT_ROLES,
    check_prior_shapes,
    component_means,
    coords_for,
    default_component_priors,
    gaussian_mixture_likelihood,
    scale_prior_shape,
    variance_floor,
)
from bayesmix.mixing import dirichlet_process
from bayesmix.models._base import DIRICHLET_PROCESS, ModelInfo, attach_info
from bayesmix.priors import resolve_priors

ROLES = {"alpha": dirichlet_process.ROLE, **COMPONENT_ROLES}


def dp_gmm(
    X: Any,
    *,
    truncation: int = 20,
    covariance: str = "full",
    alpha: float | None = None,
    priors: Mapping[str, Any] | None = None,
) -> pm.Model:
    r"""Build a Dirichlet-process Gaussian mixture, truncated at ``truncation`` components.

    The weights follow Sethuraman's stick-breaking construction, truncated so
    that the last stick takes what is left:

    .. math::

        \alpha &\sim \operatorname{Gamma}(1, 1) \\
        v_k &\sim \operatorname{Beta}(1, \alpha), \quad k = 1, \dots, T-1 \\
        w_k &= v_k \prod_{j<k} (1 - v_j), \qquad w_T = \prod_{j<T} (1 - v_j) \\
        p(x_i) &= \sum_{k=1}^{T} w_k \, \mathcal{N}(x_i \mid \mu_k, \Sigma_k)

    with the component priors of :func:`bayesmix.models.gmm` (means and LKJ
    correlations, scaled to the data) and its variance floor, except for the
    component standard deviations: :math:`\sigma_{kd} \sim
    \operatorname{InverseGamma}(2, s_d / 2)` (:math:`s_d` the data's spread),
    which vanishes at zero where the finite mixtures' HalfNormal does not. A
    spare component could otherwise settle on a single point or on tied values
    with a standard deviation at the floor
    (:func:`bayesmix.mixing.dirichlet_process.component_defaults`). The labels are marginalized. The
    number of occupied clusters is not a parameter: it is read off the
    posterior with :func:`bayesmix.cluster_count`. The truncation should
    exceed the number of clusters you expect by a margin; ``cluster_count``
    warns when the last stick keeps noticeable weight.

    NUTS is the reference when its diagnostics are clean, and with the default
    priors nutpie samples it through bayesmix's hand-written log-density
    (:mod:`bayesmix.inference._nutpie_gmm`), many times faster than through
    PyMC's graph (``benchmarks/README.md``), with the sticks and the
    concentration in coordinates where the empty components' sticks are
    independent (:func:`bayesmix.inference._gmm_kernel.stick_log_weights`).
    Chains can still settle in different partitions (one broad cluster
    against two narrower ones) and move between them slowly:
    :func:`bayesmix.diagnose` judges a DP fit on label-invariant quantities
    and says so (``benchmarks/dp_convergence.md``). Mean-field ADVI
    underestimates posterior spread. Both start, unless told otherwise, from scikit-learn's
    variational DP solution (see :func:`bayesmix.fit`).

    Parameters
    ----------
    X : array-like of shape (n_obs, n_features) or (n_obs,), or DataFrame
    truncation : int, default 20
        Number of components T kept (at least 2).
    covariance : {"full", "diag", "spherical", "tied"}, default "full"
    alpha : float, optional
        A fixed concentration. By default :math:`\alpha` is a parameter with a
        Gamma(1, 1) prior (override with ``priors={"alpha": Prior(...)}``).
    priors : dict, optional
        Overrides for ``"alpha"``, ``"means"``, ``"scales"``, ``"lkj_eta"``,
        as in :func:`bayesmix.models.gmm`.

    Returns
    -------
    pymc.Model
        The variables of :func:`bayesmix.models.gmm` over a ``component`` dim of
        length ``truncation``, plus ``alpha`` (a free variable unless fixed).
    """
    data = check_data(X)
    T = dirichlet_process.check_truncation(truncation, data.n_obs)
    covariance = check_choice(covariance, COVARIANCE_TYPES, name="covariance")
    alpha = dirichlet_process.check_alpha(alpha, priors)
    component_priors = dirichlet_process.component_defaults(default_component_priors(data, covariance))
    defaults = {"alpha": dirichlet_process.DEFAULT_PRIOR, **component_priors}
    resolved = resolve_priors(priors, ROLES, defaults)
    if alpha is not None:
        resolved["alpha"] = float(alpha)
    D = data.n_features
    scale_shape = scale_prior_shape(covariance, T, D)
    check_prior_shapes(resolved, {"means": (T, D), "scales": scale_shape})

    with pm.Model(coords=coords_for(data, T)) as model:
        weights = dirichlet_process.stick_breaking_weights(resolved["alpha"], T)
        means = component_means(resolved["means"], data, T)
        chol = cholesky_factors(covariance, T, D, resolved, variance_floor(data, covariance))
        gaussian_mixture_likelihood(data, weights, means, chol, diagonal=covariance in ("diag", "spherical") or D == 1)

    settings = {"truncation": T, "covariance": covariance, "alpha": alpha}
    return attach_info(model, ModelInfo(mixing=DIRICHLET_PROCESS, settings=settings, priors=resolved, data=data))
