"""Finite Gaussian mixture models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pymc as pm

from bayesmix._validation import check_choice, check_data, check_n_components
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
from bayesmix.mixing import finite
from bayesmix.models._base import FINITE, ModelInfo, attach_info
from bayesmix.priors import resolve_priors

ROLES = {"weights": finite.ROLE, **COMPONENT_ROLES}


def gmm(
    X: Any,
    n_components: int,
    *,
    covariance: str = "full",
    priors: Mapping[str, Any] | None = None,
    order_means: bool = False,
) -> pm.Model:
    r"""Build a finite Gaussian mixture model.

    The component labels are marginalized, so the model has only continuous
    parameters and any gradient-based sampler applies:

    .. math::

        w &\sim \operatorname{Dirichlet}(a \mathbf{1}_K) \\
        \mu_{kd} &\sim \mathcal{N}(\bar x_d,\; (2 s_d)^2) \\
        \sigma_{kd} &\sim \operatorname{HalfNormal}(s_d) \\
        C_k &\sim \operatorname{LKJCholesky}(\eta) \qquad (\text{full and tied only}) \\
        \Sigma_k &= \operatorname{diag}(\sigma_k)\, C_k C_k^\top \operatorname{diag}(\sigma_k)
            + \operatorname{diag}(\tau) \\
        p(x_i \mid w, \mu, \Sigma) &= \sum_{k=1}^K w_k \, \mathcal{N}(x_i \mid \mu_k, \Sigma_k)

    with defaults :math:`a = 1` (uniform on the simplex), :math:`\eta = 2`
    (mild shrinkage towards no correlation), and :math:`\bar x_d`, :math:`s_d`
    the mean and standard deviation of feature :math:`d`. These are weakly
    informative: component means anywhere within a few data spreads, component
    standard deviations below about twice the data's. For ``diag`` there is no
    :math:`C_k`; for ``spherical`` :math:`\sigma_k` is one scalar per component
    (prior scale :math:`\sqrt{\mathrm{mean}_d\, s_d^2}`); for ``tied`` one
    :math:`\sigma` and :math:`C` are shared by all components.

    The floor :math:`\tau_d = 10^{-6} s_d^2` keeps the posterior proper where
    a component could shrink onto repeated points (duplicates, ties of
    integer-valued data, a constant feature, which gets :math:`\tau_d =
    10^{-6}` in its units and a :class:`bayesmix.DegenerateDataWarning`; for
    ``spherical`` one floor, the mean of :math:`\tau_d`, serves every feature); it
    is far below any variance the data can resolve. EM's ``reg_covar`` plays
    the same role.

    Parameters
    ----------
    X : array-like of shape (n_obs, n_features) or (n_obs,), or DataFrame
        The data. DataFrame column names become the ``feature`` coordinate.
    n_components : int
        Number of mixture components K.
    covariance : {"full", "diag", "spherical", "tied"}, default "full"
        Covariance structure, with scikit-learn's meaning.
    priors : dict, optional
        Overrides of the default priors, keyed by role: ``"weights"``
        (``Prior("Dirichlet", a=...)``), ``"means"`` (a real-valued
        distribution), ``"scales"`` (a positive distribution) and ``"lkj_eta"``
        (a positive number). Parameters are in the data's units and broadcast
        to the variable's shape, e.g. one value per feature.
    order_means : bool, default False
        Constrain the first feature of the means to increase with the
        component index (like Stan's ``ordered[K]``). This identifies the
        labels in one dimension but not in general; :func:`bayesmix.relabel`
        is the general remedy.

    Returns
    -------
    pymc.Model
        Free variables ``weights`` (component), ``means`` (component, feature),
        ``scales`` and, for full and tied, ``corr_chol``; deterministic
        ``covariances`` (component, feature, feature_bis); observed ``X``
        (obs_id, feature), whose pointwise log-density gives the
        log-likelihood used by LOO. Samplers move the means in the data's
        standard units, :math:`(\mu_{kd} - \bar x_d) / s_d` (value variable
        ``means_standardized__``); the prior and the posterior are unchanged.

    Examples
    --------
    >>> import bayesmix as bm
    >>> model = bm.models.gmm(bm.datasets.load("faithful"), 2)
    >>> sorted(model.named_vars)[:3]
    ['X', 'corr_chol', 'covariances']
    """
    data = check_data(X)
    K = check_n_components(n_components, data.n_obs)
    covariance = check_choice(covariance, COVARIANCE_TYPES, name="covariance")
    if not isinstance(order_means, bool | np.bool_):
        raise TypeError(f"Argument `order_means` must be True or False but got {order_means!r}.")
    defaults = {"weights": finite.DEFAULT_PRIOR, **default_component_priors(data, covariance)}
    resolved = resolve_priors(priors, ROLES, defaults)
    D = data.n_features
    scale_shape = scale_prior_shape(covariance, K, D)
    check_prior_shapes(resolved, {"weights": (K,), "means": (K, D), "scales": scale_shape})

    with pm.Model(coords=coords_for(data, K)) as model:
        weights = finite.dirichlet_weights(resolved["weights"], K)
        means = component_means(resolved["means"], data, K, order=order_means)
        chol = cholesky_factors(covariance, K, D, resolved, variance_floor(data, covariance))
        gaussian_mixture_likelihood(data, weights, means, chol, diagonal=covariance in ("diag", "spherical") or D == 1)

    settings = {"n_components": K, "covariance": covariance, "order_means": bool(order_means)}
    return attach_info(model, ModelInfo(mixing=FINITE, settings=settings, priors=resolved, data=data))
