"""Pieces shared by the Gaussian-mixture factories (finite and Dirichlet process)."""

from __future__ import annotations

import functools

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.logprob.transforms import Transform

from bayesmix._validation import Data, constant_features, warn_constant_features
from bayesmix.components._family import PLAIN, Naming
from bayesmix.components._linalg import gram, log_determinant, whiten
from bayesmix.priors import Prior, Role

MEAN_DISTRIBUTIONS = ("Normal", "StudentT", "Cauchy", "Laplace", "Logistic")
SCALE_DISTRIBUTIONS = (
    "HalfNormal",
    "HalfCauchy",
    "HalfStudentT",
    "Exponential",
    "Gamma",
    "InverseGamma",
    "LogNormal",
    "Weibull",
)

# Variance floor of every component, relative to the data's variance per feature.
RELATIVE_VARIANCE_FLOOR = 1e-6
_LOG_2PI = float(np.log(2.0 * np.pi))

COMPONENT_ROLES = {
    "means": Role("the prior of the component means", MEAN_DISTRIBUTIONS),
    "scales": Role("the prior of the component standard deviations", SCALE_DISTRIBUTIONS),
    "lkj_eta": Role("the LKJ shape of the component correlations", scalar=True),
}


def data_scale(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature location and spread used to scale default priors.

    A constant feature would give a zero spread and an improper prior; its
    spread falls back to 1 (in the feature's units) so the prior stays proper.
    """
    center = np.nanmean(data.values, axis=0)  # missing cells (missing="marginalize") left out
    spread = np.nanstd(data.values, axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    return center, spread


def variance_floor(data: Data, covariance: str) -> np.ndarray:
    """Per-feature variance added to every component covariance: 1e-6 of the data's.

    A Gaussian mixture's likelihood grows without bound when a component
    shrinks onto repeated points (duplicates, ties of integer data, a constant
    feature), and with priors that do not vanish at zero variance the
    posterior is then improper. Adding :math:`\\tau_d = 10^{-6} s_d^2` to the
    diagonal bounds the likelihood and leaves any real posterior unchanged
    (EM's ``reg_covar`` plays the same role). A constant feature, whose
    spread falls back to 1, gets :math:`\\tau_d = 10^{-6}` in its own units,
    and a warning says so. For ``spherical`` the floor is one number, the mean
    over features, so that the covariances stay spherical.
    """
    floor = RELATIVE_VARIANCE_FLOOR * data_scale(data)[1] ** 2
    if covariance == "spherical":
        floor = np.full_like(floor, floor.mean())
    constant = constant_features(data)
    warn_constant_features(
        data,
        f"their component variances get a floor of {floor[constant].max() if constant.size else 0:g} "
        "so that the posterior stays proper.",
        stacklevel=4,
    )
    return floor


def default_component_priors(data: Data, covariance: str) -> dict:
    """Weakly informative priors for means and scales, scaled to the data."""
    center, spread = data_scale(data)
    scale_sigma = float(np.sqrt(np.mean(spread**2))) if covariance == "spherical" else spread
    return {
        "means": Prior("Normal", mu=center, sigma=2.0 * spread),
        "scales": Prior("HalfNormal", sigma=scale_sigma),
        "lkj_eta": 2.0,
    }


def scale_prior_shape(covariance: str, n_components: int, n_features: int) -> tuple[int, ...]:
    """The shape of the ``scales`` variable for a covariance type."""
    return {"spherical": (n_components,), "tied": (n_features,)}.get(covariance, (n_components, n_features))


def check_prior_shapes(priors: dict, shapes: dict[str, tuple[int, ...]]) -> None:
    """Check that every prior parameter broadcasts to its variable's shape."""
    for key, shape in shapes.items():
        prior = priors.get(key)
        if not isinstance(prior, Prior):
            continue
        for param, value in prior.parameters.items():
            param_shape = np.shape(value)
            try:
                out = np.broadcast_shapes(param_shape, shape)
            except ValueError:
                out = None
            if out != shape:
                raise ValueError(
                    f"priors[{key!r}] parameter {param!r} has shape {param_shape}, which does not "
                    f"broadcast to the variable's shape {shape}; give a scalar or one value per "
                    "entry of the trailing dimension."
                )


class Standardized(Transform):
    r"""The sampler sees a location variable in the data's standard units.

    The value variable is :math:`z = (\mu - c) / s`, with :math:`c` and
    :math:`s` the data's mean and spread per feature (:func:`data_scale`).
    The prior stays the one given, in the data's units; only the coordinates
    the sampler moves in change, by an affine map with constant Jacobian
    :math:`\prod s`, so the posterior is exactly the same. Why: a sampler's
    first steps, its initial step size and its jitter of the starting point
    (PyMC and numpyro add uniform(-1, 1) on the unconstrained scale) are in
    these coordinates. Unscaled, features in units of 1e-3 or 1e6 would have
    the jitter move the start by a thousand spreads, or by nothing. Scales
    need no such map: their log transform already turns a unit into a shift.
    """

    name = "standardized"
    ndim_supp = 0

    def __init__(self, center: np.ndarray, spread: np.ndarray):
        self.center = np.asarray(center, dtype=float)
        self.spread = np.asarray(spread, dtype=float)

    def forward(self, value, *inputs):
        return (value - self.center) / self.spread

    def backward(self, value, *inputs):
        return self.center + self.spread * value

    def log_jac_det(self, value, *inputs):
        return pt.broadcast_to(pt.log(self.spread), value.shape)


def component_means(prior: Prior, data: Data, n_components: int, *, order: bool = False, naming: Naming = PLAIN):
    """The (K, D) component means, sampled in the data's standard units (:class:`Standardized`)."""
    if order and n_components > 1:
        return ordered_means(prior, data, n_components)
    center, spread = data_scale(data)
    dims = naming.dims("component", "feature")
    return prior.create(naming("means"), dims=dims, transform=Standardized(center, spread))


def coords_for(data: Data, n_components: int) -> dict[str, list]:
    return {
        "obs_id": list(range(data.n_obs)),
        "feature": data.feature_names,
        "feature_bis": data.feature_names,
        "component": list(range(n_components)),
    }


def ordered_means(prior: Prior, data: Data, n_components: int):
    """Means whose first feature is ordered across components (Stan's ``ordered[K]``).

    The first feature gets PyMC's ordered transform and an increasing initial
    value at the data's quantiles, so samplers start without hand-made
    initial values; the other features are unconstrained.
    """
    K, D = n_components, data.n_features
    center, spread = data_scale(data)
    first = {k: np.broadcast_to(np.asarray(v, float), (K, D))[:, 0] for k, v in prior.parameters.items()}
    start = np.quantile(data.values[:, 0], (np.arange(K) + 0.5) / K)
    start = start + 1e-3 * spread[0] * np.arange(K)  # strictly increasing on ties
    ordered = prior.pymc_class(
        "means_ordered",
        **first,
        dims="component",
        transform=pm.distributions.transforms.Chain(
            [Standardized(center[0], spread[0]), pm.distributions.transforms.ordered]
        ),
        initval=start,
    )
    if D == 1:
        return pm.Deterministic("means", ordered[:, None], dims=("component", "feature"))
    rest = {k: np.broadcast_to(np.asarray(v, float), (K, D))[:, 1:] for k, v in prior.parameters.items()}
    others = prior.pymc_class("means_other", **rest, shape=(K, D - 1), transform=Standardized(center[1:], spread[1:]))
    return pm.Deterministic("means", pt.concatenate([ordered[:, None], others], axis=1), dims=("component", "feature"))


def gaussian_mixture_likelihood(data: Data, weights, means, chol, *, diagonal: bool) -> None:
    r"""The observed mixture with labels marginalized, as one vectorized log-density.

    Per observation,

    .. math::

        \log p(x_i) = \operatorname{logsumexp}_k \Big[\log w_k
            - \tfrac12 \lVert L_k^{-1}(x_i - \mu_k)\rVert^2
            - \textstyle\sum_d \log L_{k,dd} - \tfrac{D}{2}\log 2\pi\Big].

    The residuals are whitened by forward substitution through the K small
    factors :math:`L_k`, unrolled over the features into elementwise
    operations (:mod:`bayesmix.components._linalg`; a division when
    ``diagonal``), so the N x K part is arithmetic that the compilers fuse,
    with no batched triangular solve. Under nutpie's JAX backend this halved
    the cost of one log-density and gradient call (faithful, K = 2, full
    covariance: 271 us against 134 us, ``benchmarks/gradient_cost.py``). ``pm.Mixture``
    over a batched ``MvNormal`` instead solves one triangular system per
    observation and component, which made NUTS about twenty times slower per
    gradient under nutpie's numba backend (faithful, K=2: 30 s against 1.5 s for
    4 x 1000 draws, see ``benchmarks/HISTORY.md``). The observed
    variable keeps a random function, so prior and posterior predictive
    sampling work as before.
    """
    n_features = data.n_features
    pm.Deterministic("covariances", gram(chol, n_features), dims=("component", "feature", "feature_bis"))
    pm.CustomDist(
        "X",
        weights,
        means,
        chol,
        logp=_diagonal_mixture_logp if diagonal else functools.partial(_full_mixture_logp, n_features=n_features),
        random=_mixture_random,
        signature="(k),(k,d),(k,d,d)->(d)",
        observed=data.values,
        dims=("obs_id", "feature"),
    )


def _mixture_logp(value, weights, means, scaled_residuals, log_det):
    """logsumexp over components given z = L^{-1}(x - mu), shape (..., N, K, D)."""
    n_features = value.shape[-1]
    joint = pt.log(weights) - 0.5 * pt.sqr(scaled_residuals).sum(-1) - log_det - 0.5 * n_features * _LOG_2PI
    return pt.logsumexp(joint, axis=-1)


def _full_mixture_logp(value, weights, means, chol, *, n_features: int):
    residuals = value[..., :, None, :] - means  # (N, K, D)
    scaled = whiten(chol, residuals, n_features)  # L_k^{-1} (x_i - mu_k)
    log_det = log_determinant(chol, n_features)
    return _mixture_logp(value, weights, means, scaled, log_det)


def _diagonal_mixture_logp(value, weights, means, chol):
    sd = pt.diagonal(chol, axis1=-2, axis2=-1)  # (K, D)
    scaled = (value[..., :, None, :] - means) / sd
    return _mixture_logp(value, weights, means, scaled, pt.log(sd).sum(-1))


def _mixture_random(weights, means, chol, rng=None, size=None):
    """Draws from the mixture: a component per draw, then its Gaussian."""
    size = tuple(np.atleast_1d(size)) if size is not None else ()
    component = rng.choice(len(weights), size=size, p=weights / weights.sum())
    noise = rng.standard_normal((*size, means.shape[-1]))
    return means[component] + np.einsum("...de,...e->...d", chol[component], noise)
