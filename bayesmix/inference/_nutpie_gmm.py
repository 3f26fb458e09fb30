"""nutpie's NUTS on a Gaussian mixture through the hand-written kernel.

nutpie samples in Rust and asks for the log-density and gradient through a
C callback. For a PyMC model it builds that callback by compiling the
model's graph with numba (25 s or more per fit, not cacheable) or calls back
into Python for JAX (about 250 us a gradient on faithful). Here the callback
is :func:`bayesmix.models._gmm_kernel.logp_and_gradient`, compiled once per
machine and cached on disk; the model's data and prior constants travel in
nutpie's ``user_data`` pointer. The result is nutpie's own
``CompiledPyMCModel``, so sampling, initial points, jitter and the layout of
the draws are exactly those of ``nutpie.compile_pymc_model``. This leans on
three private helpers of ``nutpie.compile_pymc`` (0.16); the tests sample
through it, so a nutpie that changes them fails there first.

Used for :func:`bayesmix.models.gmm` and :func:`bayesmix.models.dp_gmm` with
their default prior families (any parameters; the component sds under a
HalfNormal, the finite mixtures' default, or an InverseGamma of one shape,
the DP's) and up to
:data:`~bayesmix.models._linalg.MAX_UNROLLED_FEATURES` features (beyond that
PyMC's correlation bijector orders its coordinates differently); every
other model takes nutpie's JAX path. :func:`unsupported` says why a model
does not qualify.
"""

from __future__ import annotations

import itertools

import numpy as np
import pymc as pm
from nutpie.compile_pymc import (
    CompiledPyMCModel,
    _prepare_dims_and_coords,
    _rv_dict_to_flat_array_wrapper,
    _wrap_with_lock,
)
from pymc.initial_point import make_initial_point_fn
from scipy.special import gammaln

from bayesmix.components._gaussian_model import data_scale, variance_floor
from bayesmix.components._linalg import unrolled
from bayesmix.inference._gmm_kernel import (
    DIAG,
    FULL,
    HALF_NORMAL,
    HEADER,
    INVERSE_GAMMA,
    SPHERICAL,
    TIED,
    nutpie_callbacks,
    sizes,
)
from bayesmix.models._base import ModelInfo

_CODES = {"full": FULL, "diag": DIAG, "spherical": SPHERICAL, "tied": TIED}
_PRIOR_FORMS = {
    "weights": ("Dirichlet", {"a"}),
    "means": ("Normal", {"mu", "sigma"}),
}
# the component sds take either family (the finite mixtures' default, the DP's)
_SCALE_PRIORS = {"HalfNormal": {"sigma"}, "InverseGamma": {"alpha", "beta"}}


def unsupported(model: pm.Model, info: ModelInfo) -> str | None:
    """Why ``model`` cannot use the hand-written kernel, or None when it can."""
    if info.is_conditional or info.component != "gaussian":
        what = info.family if info.is_conditional else f"{info.component} components"
        return f"the kernel covers Gaussian mixtures, not {what!r}"
    if info.settings.get("missing"):
        return "the kernel takes complete rows; missing cells are marginalized by PyMC's graph"
    if not unrolled(info.data.n_features):
        return "more features than the unrolled correlation bijector takes"
    forms = dict(_PRIOR_FORMS)
    if info.is_dirichlet_process:
        del forms["weights"]
        if not isinstance(info.priors["alpha"], float):
            forms["alpha"] = ("Gamma", {"alpha", "beta"})
    for role, (family, parameters) in forms.items():
        prior = info.priors[role]
        if prior.distribution != family or set(prior.parameters) != parameters:
            return f"a {prior.distribution} prior on {role}"
    scales = info.priors["scales"]
    if _SCALE_PRIORS.get(scales.distribution) != set(scales.parameters):
        return f"a {scales.distribution} prior on scales"
    if scales.distribution == "InverseGamma" and np.size(scales.parameters["alpha"]) != 1:
        return "an InverseGamma prior on scales with more than one shape"
    if model.potentials or [rv.name for rv in model.observed_RVs] != [info.observed]:
        return "terms added to the model"
    expected = _expected_names(info)
    if [var.name for var in model.unobserved_value_vars] != expected:
        return "variables added to or missing from the model"
    return None


def _expected_names(info: ModelInfo) -> list[str]:
    """The sampler's values, then the model's variables, in the model's order (as nutpie stores them)."""
    correlations = _has_correlations(info)
    if info.is_dirichlet_process:
        alpha = not isinstance(info.priors["alpha"], float)
        values = ["alpha_log__"] * alpha + ["weights_simplex__", "means_standardized__", "scales_log__"]
        names = ["alpha"] * alpha + ["weights", "means", "scales"]
        values += ["corr_chol_cholesky_corr__"] * correlations
        return values + names + ["corr_chol"] * correlations + ["covariances"]
    if info.settings["n_components"] == 1:  # the weights are a deterministic: no coordinates of their own
        values = ["means_standardized__", "scales_log__"] + ["corr_chol_cholesky_corr__"] * correlations
        return values + ["means", "scales"] + ["corr_chol"] * correlations + ["weights", "covariances"]
    if info.settings["order_means"]:
        other = info.data.n_features > 1
        values = ["weights_simplex__", "means_ordered_chain__"] + ["means_other_standardized__"] * other
        names = ["weights", "means_ordered"] + ["means_other"] * other
    else:
        values, names = ["weights_simplex__", "means_standardized__"], ["weights", "means"]
    values += ["scales_log__"] + ["corr_chol_cholesky_corr__"] * correlations
    names += ["scales"] + ["corr_chol"] * correlations
    return values + names + ["means"] * info.settings["order_means"] + ["covariances"]


def _has_correlations(info: ModelInfo) -> bool:
    return info.settings["covariance"] in ("full", "tied") and info.data.n_features > 1


def pack(info: ModelInfo, n_dim: int) -> np.ndarray:
    """The data, prior constants and sizes in the layout :mod:`bayesmix.inference._gmm_kernel` reads."""
    data = info.data
    n, d, k = data.n_obs, data.n_features, info.n_components
    covariance = info.settings["covariance"]
    code = _CODES[covariance]
    if d == 1 and code == FULL:  # the factory's full covariance is diagonal in one dimension
        code = DIAG
    _, _, _, _, n_scales, n_corr = sizes(np.array([0.0, n, d, k, code]))  # the kernel's own count
    priors = info.priors
    dp = info.is_dirichlet_process
    # Dirichlet(a) weights; a Dirichlet process's stick-breaking prior reads the header instead
    alpha = np.broadcast_to(np.asarray(1.0 if dp else priors["weights"].parameters["a"], float), (k,))
    fixed_concentration, shape, rate = 0.0, 1.0, 1.0
    if dp and isinstance(priors["alpha"], float):
        fixed_concentration = priors["alpha"]
    elif dp:
        shape, rate = (float(priors["alpha"].parameters[key]) for key in ("alpha", "beta"))
    prior_mu = np.broadcast_to(np.asarray(priors["means"].parameters["mu"], float), (k, d))
    prior_sd = np.broadcast_to(np.asarray(priors["means"].parameters["sigma"], float), (k, d))
    scale_shape = {SPHERICAL: (k,), TIED: (d,)}.get(code, (k, d))
    scale_family, scale_shape_parameter, scale_prior, scale_constant = _scale_prior(priors["scales"], scale_shape)
    center, spread = data_scale(data)
    eta = float(priors["lkj_eta"])
    constant = (
        (0.0 if dp else gammaln(alpha.sum()) - gammaln(alpha).sum())
        - np.log(prior_sd).sum()
        - 0.5 * np.log(2 * np.pi) * prior_sd.size
        + k * np.log(spread).sum()
        + scale_constant
        + n_corr * _lkj_log_normalizer(eta, d)
    )
    if dp and not fixed_concentration:  # Gamma(shape, rate) on the concentration
        constant += shape * np.log(rate) - gammaln(shape)
    ordered = float(info.settings.get("order_means", False))
    header = [0.0, n, d, k, code, eta, constant, n_dim, ordered, float(dp), fixed_concentration, shape, rate]
    header += [scale_family, scale_shape_parameter]
    # the data feature by feature: the kernel's loops run over observations
    blocks = [
        np.transpose(data.values),
        alpha,
        prior_mu,
        prior_sd,
        center,
        spread,
        scale_prior,
        variance_floor(data, covariance),
    ]
    packed = np.concatenate([np.asarray(header, float), *(np.ravel(np.asarray(b, float)) for b in blocks)])
    packed[0] = packed.size
    assert packed.size == HEADER + n * d + k + 2 * k * d + 3 * d + n_scales
    return packed


def _scale_prior(prior, shape: tuple[int, ...]) -> tuple[int, float, np.ndarray, float]:
    """The kernel's scale prior: its family code, InverseGamma shape, per-scale sigma or beta, log constant."""
    if prior.distribution == "InverseGamma":
        a = float(np.asarray(prior.parameters["alpha"], float).reshape(-1)[0])
        beta = np.broadcast_to(np.asarray(prior.parameters["beta"], float), shape)
        return INVERSE_GAMMA, a, beta, float((a * np.log(beta) - gammaln(a)).sum())
    sigma = np.broadcast_to(np.asarray(prior.parameters["sigma"], float), shape)
    return HALF_NORMAL, 0.0, sigma, float((0.5 * np.log(2 / np.pi) - np.log(sigma)).sum())


def _lkj_log_normalizer(eta: float, n: int) -> float:
    """PyMC's log normalizing constant of the LKJ density (``_lkj_normalizing_constant``)."""
    j = np.arange(1, n)
    terms = 0.5 * j * np.log(np.pi) + gammaln(eta + 0.5 * (n - 1 - j))
    return float((n - 1) * gammaln(eta + 0.5 * (n - 1)) - terms.sum())


_CACHE_ATTRIBUTE = "_bayesmix_kernel_models"


def compile_model(model: pm.Model, info: ModelInfo, initial_points=None, jitter_rvs=None) -> CompiledPyMCModel:
    """What ``nutpie.compile_pymc_model(model, ...)`` returns, with the kernel as its callbacks.

    ``initial_points`` and ``jitter_rvs`` have nutpie's meaning: PyMC's initial
    point, with overrides, jittered by uniform(-1, 1) on the unconstrained
    scale (every free variable unless ``jitter_rvs`` names a subset). The
    result is kept on the model for the same starts: compiling PyMC's
    initial-point function was a tenth of a second-fit's time on faithful.
    """
    if jitter_rvs is None:
        jitter_rvs = set(model.free_RVs)
    starts = None if initial_points is None else tuple((k, np.asarray(v).tobytes()) for k, v in initial_points.items())
    key = (starts, frozenset(rv.name for rv in jitter_rvs))
    cache = model.__dict__.setdefault(_CACHE_ATTRIBUTE, {})
    if key not in cache:
        cache[key] = _compile_model(model, info, initial_points, jitter_rvs)
    return cache[key]


def _compile_model(model: pm.Model, info: ModelInfo, initial_points, jitter_rvs) -> CompiledPyMCModel:
    names = _expected_names(info)
    value_names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    shape_of = _shapes(info)
    all_shapes = [shape_of[name] for name in names]
    shapes = all_shapes[: len(value_names)]
    n_dim = int(sum(np.prod(shape) for shape in shapes))
    starts = np.cumsum([0] + [int(np.prod(shape)) for shape in all_shapes])
    shape_info = (names, [slice(a, b) for a, b in itertools.pairwise(starts)], all_shapes)
    initial_point_fn = make_initial_point_fn(
        model=model, overrides=initial_points, jitter_rvs=jitter_rvs, return_transformed=True
    )
    initial_point_fn = _rv_dict_to_flat_array_wrapper(_wrap_with_lock(initial_point_fn), value_names, shapes)
    packed = pack(info, n_dim)
    if info.is_dirichlet_process:
        initial_point_fn = _in_stick_coordinates(initial_point_fn, packed)
    dims, coords = _prepare_dims_and_coords(model, shape_info, value_names)
    logp_callback, expand_callback = nutpie_callbacks()
    return CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, shape in zip(names, all_shapes, strict=True)},
        compiled_logp_func=logp_callback,
        compiled_expand_func=expand_callback,
        initial_point_func=initial_point_fn,
        shared_data={},
        shared_var_keys={},
        user_data=packed,
        n_expanded=int(starts[-1]),
        shape_info=shape_info,
        logp_func=None,
        expand_func=None,
        reparameterized_names=value_names,
    )


def _in_stick_coordinates(initial_point_fn, packed: np.ndarray):
    """PyMC's initial point (log alpha, the simplex transform's coordinates) in the kernel's (s, z):
    :func:`bayesmix.inference._gmm_kernel.stick_log_weights` and ``log_concentration`` inverted."""
    free = packed[9] and packed[10] == 0.0
    n_sticks = int(packed[3]) - 1

    def initial_point(*args, **kwargs):
        x = np.array(initial_point_fn(*args, **kwargs), dtype=float)
        start = int(free)
        y = x[start : start + n_sticks]
        log_weights = np.append(y, -y.sum())
        # numpy, not scipy's logsumexp: nutpie calls this from its own threads, where scipy's array-API
        # checks can meet a half-imported jax module (AttributeError: module 'jax' has no attribute 'Array')
        log_weights -= np.logaddexp.reduce(log_weights)
        log_suffix = np.logaddexp.accumulate(log_weights[::-1])[::-1]  # log S_j = log sum_{i >= j} w_i
        e = log_suffix[:-1] - log_suffix[1:]  # -log(1 - v_j)
        x[start : start + n_sticks] = np.log(e)
        if free:  # s = log(alpha) - log(a + T - 1) + log(b + sum_j e_j)
            x[0] += np.log(packed[12] + e.sum()) - np.log(packed[11] + n_sticks)
        return x

    return initial_point


def _shapes(info: ModelInfo) -> dict[str, tuple[int, ...]]:
    """Shapes of the sampler's values and of the model's variables."""
    k, d = info.n_components, info.data.n_features
    covariance = info.settings["covariance"]
    scales = {"spherical": (k,), "tied": (d,)}.get(covariance, (k, d))
    n_tri = d * (d - 1) // 2
    return {
        "alpha_log__": (),
        "alpha": (),
        "weights_simplex__": (k - 1,),
        "means_standardized__": (k, d),
        "means_ordered_chain__": (k,),
        "means_other_standardized__": (k, d - 1),
        "scales_log__": scales,
        "corr_chol_cholesky_corr__": (k, n_tri) if covariance == "full" else (n_tri,),
        "weights": (k,),
        "means": (k, d),
        "means_ordered": (k,),
        "means_other": (k, d - 1),
        "scales": scales,
        "corr_chol": (k, d, d) if covariance == "full" else (d, d),
        "covariances": (k, d, d),
    }
