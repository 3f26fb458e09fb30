"""Mixtures of any component family: finite (:func:`mixture`) and Dirichlet-process (:func:`dp_mixture`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayesmix._validation import Data, check_choice, check_n_components, check_no_empty_column
from bayesmix.components import get_component
from bayesmix.components._family import MISSING, ComponentFamily, family_coords
from bayesmix.components._gaussian_model import check_prior_shapes, coords_for
from bayesmix.mixing import dirichlet_process, finite
from bayesmix.models._base import DIRICHLET_PROCESS, FINITE, ModelInfo, attach_info
from bayesmix.models.dpgmm import dp_gmm
from bayesmix.models.gmm import gmm
from bayesmix.priors import resolve_priors


def mixture(
    X: Any,
    n_components: int,
    *,
    component: str = "gaussian",
    covariance: str = "full",
    priors: Mapping[str, Any] | None = None,
    order_means: bool = False,
    missing: str | None = None,
) -> pm.Model:
    r"""Build a finite mixture of components of one family.

    .. math::

        w \sim \operatorname{Dirichlet}(a \mathbf{1}_K), \qquad
        p(x_i \mid w, \theta) = \sum_{k=1}^K w_k\, f(x_i \mid \theta_k),

    with :math:`f` the component family's density and :math:`\theta_k` its
    parameters under the family's data-scaled priors (each module of
    :mod:`bayesmix.components` gives its density and priors). The labels are
    marginalized: :math:`\log p(x_i) = \operatorname{logsumexp}_k [\log w_k +
    \log f(x_i \mid \theta_k)]`.

    Parameters
    ----------
    X : array-like of shape (n_obs, n_features) or (n_obs,), or DataFrame
        The data; DataFrame column names become the ``feature`` coordinate.
        Count families need non-negative integers, the Bernoulli 0/1 or
        boolean answers; the categorical takes text, pandas Categorical,
        boolean or integer-coded columns.
    n_components : int
        Number of components K.
    component : {"gaussian", "student_t", "poisson", "negative_binomial", "bernoulli", "categorical"}
        The component family (default ``"gaussian"``, which gives exactly
        :func:`bayesmix.models.gmm`'s model).
    covariance : {"full", "diag", "spherical", "tied"}, default "full"
        Covariance (Gaussian) or scale-matrix (Student-t) structure; the count,
        Bernoulli and categorical families have none and ignore it.
    priors : dict, optional
        Overrides of the default priors, keyed by role: ``"weights"`` and the
        family's roles (Gaussian and Student-t: ``"means"``, ``"scales"``,
        ``"lkj_eta"``, Student-t also ``"degrees_of_freedom"``; Poisson
        ``"rates"``; negative binomial ``"means"`` and ``"dispersions"``;
        Bernoulli ``"probabilities"``; categorical ``"probabilities"``, a
        number: the concentration of each item's Dirichlet prior, 1 by default).
    order_means : bool, default False
        Gaussian components only: see :func:`bayesmix.models.gmm`.
    missing : {None, "marginalize"}, default None
        ``None`` refuses NaN cells (the error names the rows).
        ``"marginalize"`` lets NaN and pandas NA cells in: each row's
        likelihood is the density of its observed cells only, which is exact
        when cells are missing at random. For the families whose features are
        independent within a component (Bernoulli, categorical, Poisson,
        negative binomial) it is the product over the observed cells,
        :math:`\prod_{d\ \mathrm{observed}} f_d(x_{id} \mid \theta_{kd})`;
        for Gaussian components the marginal
        :math:`\mathcal N(x_{i,o} \mid \mu_{k,o}, \Sigma_{k,oo})` of the
        observed sub-vector (sampled by PyMC's graph, not the hand-written
        kernel), for Student-t components the t marginal with the same
        degrees of freedom and scale :math:`\Sigma_{k,oo}`; a mixture of
        columns of several families leaves each block's missing cells out as
        its family does. No row is dropped and nothing is imputed.

    Returns
    -------
    pymc.Model
        ``weights`` (component), the family's parameters (component first:
        Student-t ``means``, ``scale_matrices``, ``degrees_of_freedom``;
        Poisson ``rates``; negative binomial ``means``, ``dispersions``;
        Bernoulli ``probabilities``; categorical ``probabilities``
        (component, feature, category) over the union of the items'
        categories) and the observed ``X`` (obs_id, feature).

    Examples
    --------
    >>> import bayesmix as bm
    >>> counts = bm.datasets.load("biochemists")[["art"]]
    >>> model = bm.models.mixture(counts, 2, component="poisson")
    >>> sorted(model.named_vars)
    ['X', 'rates', 'weights']
    """
    family = get_component(component)
    marginalize = check_missing(missing, family)
    if getattr(family, "dedicated_model", False) and not marginalize:
        return gmm(X, n_components, covariance=covariance, priors=priors, order_means=order_means)
    if order_means:
        raise ValueError(
            f"Argument `order_means` applies to Gaussian components; for component={family.name!r} leave it out."
        )
    data = training_data(family, X, marginalize)
    K = check_n_components(n_components, data.n_obs)
    covariance = _covariance(family, covariance)
    roles = {"weights": finite.ROLE, **family.roles}
    resolved = resolve_priors(
        priors, roles, {"weights": finite.DEFAULT_PRIOR, **family.default_priors(data, covariance)}
    )
    check_prior_shapes(resolved, {"weights": (K,), **family.prior_shapes(K, data.n_features, covariance)})
    with pm.Model(coords=coords_for(data, K) | family_coords(family, data)) as model:
        weights = finite.dirichlet_weights(resolved["weights"], K)
        _likelihood(family, data, weights, family.build(data, K, resolved, covariance), covariance)
    settings = {"n_components": K, "covariance": covariance, "missing": missing, **getattr(family, "settings", {})}
    return attach_info(
        model, ModelInfo(mixing=FINITE, settings=settings, priors=resolved, data=data, component=family.name)
    )


def dp_mixture(
    X: Any,
    *,
    truncation: int = 20,
    component: str = "gaussian",
    covariance: str = "full",
    alpha: float | None = None,
    priors: Mapping[str, Any] | None = None,
    missing: str | None = None,
) -> pm.Model:
    r"""Build a Dirichlet-process mixture of components of one family, truncated at ``truncation``.

    The weights follow the truncated stick-breaking construction of
    :func:`bayesmix.models.dp_gmm` (:mod:`bayesmix.mixing.dirichlet_process`),
    the components the family's density and priors as in :func:`mixture`, except that a
    HalfNormal prior on the component standard deviations (Gaussian and Student-t columns)
    becomes InverseGamma(2, s / 2), which vanishes at zero (see :func:`bayesmix.models.dp_gmm`):

    .. math::

        p(x_i) = \sum_{k=1}^{T} w_k\, f(x_i \mid \theta_k).

    Parameters
    ----------
    X, component, covariance, priors, missing
        As for :func:`mixture`; ``priors`` also takes ``"alpha"``.
    truncation : int, default 20
        Number of components T kept (at least 2).
    alpha : float, optional
        A fixed concentration; by default it is learned under Gamma(1, 1).

    Returns
    -------
    pymc.Model
        The variables of :func:`mixture` over a ``component`` dim of length
        ``truncation``, plus ``alpha`` unless it is fixed.
    """
    family = get_component(component)
    marginalize = check_missing(missing, family)
    if getattr(family, "dedicated_model", False) and not marginalize:
        return dp_gmm(X, truncation=truncation, covariance=covariance, alpha=alpha, priors=priors)
    data = training_data(family, X, marginalize)
    T = dirichlet_process.check_truncation(truncation, data.n_obs)
    covariance = _covariance(family, covariance)
    alpha = dirichlet_process.check_alpha(alpha, priors)
    roles = {"alpha": dirichlet_process.ROLE, **family.roles}
    component_priors = dirichlet_process.component_defaults(family.default_priors(data, covariance))
    defaults = {"alpha": dirichlet_process.DEFAULT_PRIOR, **component_priors}
    resolved = resolve_priors(priors, roles, defaults)
    if alpha is not None:
        resolved["alpha"] = alpha
    check_prior_shapes(resolved, family.prior_shapes(T, data.n_features, covariance))
    with pm.Model(coords=coords_for(data, T) | family_coords(family, data)) as model:
        weights = dirichlet_process.stick_breaking_weights(resolved["alpha"], T)
        _likelihood(family, data, weights, family.build(data, T, resolved, covariance), covariance)
    settings = {"truncation": T, "covariance": covariance, "alpha": alpha, "missing": missing}
    settings |= getattr(family, "settings", {})
    info = ModelInfo(mixing=DIRICHLET_PROCESS, settings=settings, priors=resolved, data=data, component=family.name)
    return attach_info(model, info)


def check_missing(missing: object, family: ComponentFamily) -> bool:
    """Whether NaN cells are marginalized; a family that cannot leave them out is a clear error."""
    if missing is None:
        return False
    check_choice(missing, ["marginalize"], name="missing")
    if not getattr(family, "marginalizes_missing", False):
        raise ValueError(
            f"Argument `missing`: missing='marginalize' is not available for component={family.name!r}; drop or "
            "impute the rows "
            "with NaN first."
        )
    return True


def training_data(family: ComponentFamily, X: Any, marginalize: bool) -> Data:
    """The family's validated data; with missing cells marginalized, a column with none observed is an
    error (it would leave its parameters to the prior). New rows at prediction may lack whole columns."""
    if not marginalize:
        return family.check_data(X)
    data = family.check_data(X, missing=True)
    check_no_empty_column(np.isnan(data.values), data.feature_names, name="X")
    return data


def _covariance(family: ComponentFamily, covariance: object) -> str | None:
    """The covariance type for families that have one; None for the others, whatever was passed."""
    if not family.covariance_types:
        return None
    return check_choice(covariance, family.covariance_types, name="covariance")


def _likelihood(family: ComponentFamily, data: Data, weights, inputs: tuple, covariance: str | None) -> None:
    """The observed ``X`` with labels marginalized: logsumexp over components of log w + the family's log-density.

    Missing cells reach PyMC coded :data:`MISSING` (NaN would make PyMC impute them) and the family's
    log-density leaves them out.
    """
    options = {"covariance": covariance, "n_features": data.n_features}
    observed = data.values
    if np.isnan(observed).any():
        options["missing"] = np.isnan(observed)
        observed = np.where(np.isnan(observed), MISSING, observed)
    component_logp = functools.partial(family.logp, **options)

    def logp(value, weights, *inputs):
        return pt.logsumexp(pt.log(weights) + component_logp(value, *inputs), axis=-1)

    pm.CustomDist(
        "X",
        weights,
        *inputs,
        logp=logp,
        random=functools.partial(_random, family),
        signature=f"(k),{family.signature}->(d)",
        observed=observed,
        dims=("obs_id", "feature"),
    )


def _random(family: ComponentFamily, weights, *inputs, rng=None, size=None):
    """Prior and posterior predictive draws: a component per draw, then the family's draw from it.

    PyMC may hand the parameters broadcast over the draws' batch shape; each row picks its own.
    """
    size = tuple(np.atleast_1d(size)) if size is not None else np.shape(weights)[:-1]
    n, K = int(np.prod(size)), np.shape(weights)[-1]
    weights = np.broadcast_to(weights, (*size, K)).reshape(n, K)
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random((n, 1)) * cumulative[:, -1:]
    component = np.minimum((u > cumulative).sum(axis=1), K - 1)
    params = []
    # build() returns the family's parameters first, then any extra inputs of its log-density
    for value, core in zip(inputs, _core_ndims(family.signature), strict=False):
        value = np.asarray(value)
        core_shape = value.shape[value.ndim - core :]
        value = np.broadcast_to(value, (*size, *core_shape)).reshape(n, *core_shape)
        params.append(value[np.arange(n), component])
    return family.sample(rng, *params[: len(family.parameters)]).reshape(*size, -1)


def _core_ndims(signature: str) -> list[int]:
    """The number of core dims of each input in a gufunc signature such as ``"(k,d),(k)"``."""
    return [part.count(",") + 1 for part in signature.split("),(")]
