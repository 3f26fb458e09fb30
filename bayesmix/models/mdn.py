"""Bayesian mixture density network: a neural net whose outputs are a Gaussian mixture over y given x."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import logsumexp

from bayesmix._validation import Data, check_choice, check_data, check_n_components, warn_constant_features
from bayesmix.mixing.network import (
    ACTIVATIONS,
    NUMPY,
    SCALE_FLOOR,
    correlate,
    hidden_dim,
    layer_names,
    marginal_variances,
    mixture_outputs,
    offdiagonal_pairs,
    whiten,
)
from bayesmix.models._base import NETWORK, ModelInfo, attach_info, get_info
from bayesmix.models._graph_inputs import data_input
from bayesmix.priors import Prior, Role, priors_from_json, resolve_priors

# The parameter that scales each allowed prior: it is divided by sqrt(fan_in).
_SCALE_PARAMETER = {"Normal": "sigma", "StudentT": "sigma", "Laplace": "b"}
ROLES = {
    "weights": Role("the prior of the network's connection weights", tuple(_SCALE_PARAMETER)),
    "biases": Role("the prior of the network's biases", tuple(_SCALE_PARAMETER)),
}
_LOG_2PI = np.log(2.0 * np.pi)
COVARIANCES = ("diag", "full")


def mdn(
    X: Any,
    y: Any,
    *,
    n_components: int = 3,
    hidden: Sequence[int] = (8,),
    activation: str = "tanh",
    covariance: str = "diag",
    priors: Mapping[str, Any] | None = None,
) -> pm.Model:
    r"""Build a Bayesian mixture density network for the conditional density of y given x.

    A mixture density network (Bishop 1994) maps an input :math:`x` to the
    weights, means and scales of a Gaussian mixture over :math:`y`, so it can
    represent a conditional density with several modes, where ordinary
    regression would predict the average of the valid answers. Inputs and
    outputs are standardized inside the model (:math:`\tilde x = (x - \bar
    x)/s_x`, :math:`\tilde y = (y - \bar y)/s_y`, with the training means and
    standard deviations kept in the model and in every fit's attrs), so
    callers pass and receive raw units. With hidden layers
    :math:`h_l = a(h_{l-1} W_l + b_l)`, :math:`h_0 = \tilde x`:

    .. math::

        W_{l,ij} &\sim \mathcal{N}(0, 1/\text{fan\_in}_l), \qquad b_{l,j} \sim \mathcal{N}(0, 1) \\
        \pi_k(x) &= \operatorname{softmax}_k(h_L W_\pi + b_\pi) \\
        \tilde\mu_{kq}(x) &= (h_L W_\mu + b_\mu)_{kq} \\
        \tilde\sigma_{kq}(x) &= \operatorname{softplus}\big((h_L W_\sigma + b_\sigma)_{kq}\big)
            + \sigma_{\min} \\
        p(y_i \mid x_i) &= \sum_{k=1}^K \pi_k(x_i) \prod_{q=1}^Q
            \mathcal{N}\big(y_{iq} \mid \bar y_q + s_{y,q}\tilde\mu_{kq}(x_i),\;
            (s_{y,q}\tilde\sigma_{kq}(x_i))^2\big)

    or, with ``covariance="full"``, a multivariate normal per component whose
    Cholesky factor the network outputs too: :math:`\tilde L_k(x)` has the
    diagonal :math:`\tilde\sigma_k(x)` above and below it the raw outputs
    :math:`(h_L W_\ell + b_\ell)_{k}` (no constraint is needed there), and
    :math:`y_i \mid k \sim \mathcal N\big(\bar y + S_y \tilde\mu_k(x_i),\;
    S_y \tilde L_k \tilde L_k^\top S_y\big)`, :math:`S_y = \operatorname{diag}(s_y)`
    (Bishop 1994; Williams 1996).

    The prior scale :math:`1/\sqrt{\text{fan\_in}}` keeps every pre-activation
    of order one whatever the layer widths, so the prior over functions does
    not depend on the architecture's size. The floor :math:`\sigma_{\min} =
    10^{-3}` (standardized units, i.e. a thousandth of y's standard deviation)
    guards against variance collapse, where a component shrinks onto one
    observation and the likelihood grows without bound. Multivariate y gets
    a diagonal covariance per component by default. The component labels, and the hidden
    units, are exchangeable, so the posterior is multimodal by construction;
    predictions (:func:`bayesmix.predict_density`, :func:`bayesmix.sample_predictive`)
    are label-invariant and need no relabelling.

    Parameters
    ----------
    X : array-like of shape (n_obs, n_features) or (n_obs,), or DataFrame
        The inputs. DataFrame column names become the ``feature`` coordinate.
    y : array-like of shape (n_obs, n_outputs) or (n_obs,), or Series / DataFrame
        The outputs, one row per row of ``X``; names become the ``output`` coordinate.
    n_components : int, default 3
        Number of mixture components K. ``n_components=1`` is a
        heteroscedastic neural-net regression.
    hidden : sequence of int, default (8,)
        Units of each hidden layer. Mean-field ADVI underfits wider networks
        (see Notes), and NUTS slows down with the number of weights.
    activation : {"tanh", "relu", "softplus", "sigmoid"}, default "tanh"
        The hidden units' activation. Smooth activations suit NUTS better than ``relu``.
    covariance : {"diag", "full"}, default "diag"
        For several outputs: independent outputs within a component, or a
        full covariance through a Cholesky factor the network outputs (its
        heads grow with Q (Q + 1) / 2, so keep ``"diag"`` for wide y). The
        same model for one output.
    priors : dict, optional
        ``"weights"`` and ``"biases"``: a ``bayesmix.Prior`` of family Normal,
        StudentT or Laplace. For weights the prior's scale (``sigma``, or
        ``b`` for Laplace; default 1) is divided by :math:`\sqrt{\text{fan\_in}}`.
        Both act on the standardized scale.

    Returns
    -------
    pymc.Model
        Data ``X`` (obs_id, feature) and ``y_data`` (obs_id, output) in
        ``pm.Data`` containers, so the model can be reused with
        ``pm.set_data``, and the training standardization in ``X_mean``,
        ``X_sd``, ``y_mean`` and ``y_sd``, so that its compiled code does not
        depend on the data's values and is reused from PyTensor's cache for
        other data of the same shape; free variables ``w_layer1`` (feature, hidden),
        ``b_layer1`` (hidden), further layers ``w_layer2`` (hidden, hidden_2)...,
        heads ``w_logits`` (hidden, component) and ``b_logits`` (component)
        when K > 1, ``w_means``, ``w_scales`` (hidden, component, output) and
        ``b_means``, ``b_scales`` (component, output), with a full covariance
        also ``w_offdiag`` (hidden, component, offdiag) and ``b_offdiag``
        (component, offdiag), ``offdiag`` naming the pairs ``"y1|y0"`` below the
        diagonal; observed ``y`` (obs_id, output), whose pointwise
        log-density is the log-likelihood used by LOO.

    Notes
    -----
    Fitting. ``bayesmix.fit(model, method="advi")`` is the practical choice
    (about 10 s for 6000 steps on a few hundred points, compilation
    included); it starts every parameter with a spread of 0.01, because
    PyMC's default of 1 swamps the gating network and ADVI then settles on
    one component. Mean-field ADVI prunes hidden units, more so the wider the
    network: on mcycle (K = 3, 106 training points, 10,000 steps) the mean
    log-likelihood of its draws was -496 with 8 hidden units, -566 with 16
    and -578 with 32, against -463 for NUTS with 8 units and -465 for the
    MAP with 16, and its held-out 90% intervals were 103, 190 and 215 g
    wide against NUTS's 93. Hence the default of 8 units.
    ``method="map"`` gives the classical MDN. NUTS works on
    small networks but is slow: on the 300-point inverse problem with
    ``hidden=(8,)`` and K = 3, 2 chains of 300 draws after 500 tuning steps
    took 247 s on 2 cores, with 1 divergence and 24% of the draws at the
    maximum tree depth. Expect both: the posterior has many symmetric modes
    and narrow curved ridges. A smaller network, ``target_accept=0.95``, a
    longer warm-up or a deeper tree (``maxdepth=12``) help; chains in
    different symmetric modes are harmless, and :func:`bayesmix.diagnose`
    judges convergence on the fitted function rather than on the weights.

    Reusing the model for new inputs the PyMC way::

        with model:
            pm.set_data({"X": X_new, "y_data": np.zeros((len(X_new), n_outputs))},
                        coords={"obs_id": np.arange(len(X_new))})
            pm.sample_posterior_predictive(posterior, freeze_vars=[v.name for v in model.free_RVs])

    :func:`bayesmix.predict_density` and its siblings do the same without
    touching the model, vectorized over draws.

    Examples
    --------
    >>> import bayesmix as bm
    >>> cycle = bm.datasets.load("mcycle")
    >>> model = bm.models.mdn(cycle["times"], cycle["accel"], n_components=2, hidden=(8,))
    >>> sorted(model.coords)
    ['component', 'feature', 'hidden', 'obs_id', 'output']
    """
    x_data = check_data(X, name="X")
    y_data = check_data(y, name="y")
    if y_data.n_obs != x_data.n_obs:
        raise ValueError(
            f"Argument `y` has {y_data.n_obs} rows but `X` has {x_data.n_obs}; pass one row of y per row of X."
        )
    if _is_unnamed(y):
        y_data = Data(values=y_data.values, feature_names=[f"y{j}" for j in range(y_data.n_features)])
    K = check_n_components(n_components, x_data.n_obs)
    hidden = _check_hidden(hidden)
    activation = check_choice(activation, ACTIVATIONS, name="activation")
    covariance = check_choice(covariance, COVARIANCES, name="covariance")
    full = covariance == "full" and y_data.n_features > 1
    resolved = resolve_priors(
        priors, ROLES, {"weights": Prior("Normal", sigma=1.0), "biases": Prior("Normal", sigma=1.0)}
    )

    x_mean, x_sd = _standardization(x_data, name="X")
    y_mean, y_sd = _standardization(y_data, name="y")
    layer_widths = [x_data.n_features, *hidden]
    coords = {
        "obs_id": np.arange(x_data.n_obs),
        "feature": x_data.feature_names,
        "output": y_data.feature_names,
        "component": np.arange(K),
        **{hidden_dim(i): np.arange(width) for i, width in enumerate(hidden, start=1)},
    }
    if full:
        names = y_data.feature_names
        coords["offdiag"] = [f"{names[q]}|{names[r]}" for q, r in offdiagonal_pairs(y_data.n_features)]
    with pm.Model(coords=coords) as model:
        X_shared = pm.Data("X", x_data.values, dims=("obs_id", "feature"))
        y_shared = pm.Data("y_data", y_data.values, dims=("obs_id", "output"))
        params = {}
        for i, (w_name, b_name) in enumerate(layer_names(len(hidden)), start=1):
            in_dim = "feature" if i == 1 else hidden_dim(i - 1)
            params[w_name] = _weight(resolved["weights"], w_name, layer_widths[i - 1], (in_dim, hidden_dim(i)))
            params[b_name] = resolved["biases"].create(b_name, dims=hidden_dim(i))
        last = hidden_dim(len(hidden))
        if K > 1:
            params["w_logits"] = _weight(resolved["weights"], "w_logits", hidden[-1], (last, "component"))
            params["b_logits"] = resolved["biases"].create("b_logits", dims="component")
        for head in ("means", "scales"):
            params[f"w_{head}"] = _weight(resolved["weights"], f"w_{head}", hidden[-1], (last, "component", "output"))
            params[f"b_{head}"] = resolved["biases"].create(f"b_{head}", dims=("component", "output"))
        if full:
            params["w_offdiag"] = _weight(resolved["weights"], "w_offdiag", hidden[-1], (last, "component", "offdiag"))
            params["b_offdiag"] = resolved["biases"].create("b_offdiag", dims=("component", "offdiag"))

        # Standardization as graph inputs, not constants (see bayesmix.models._graph_inputs).
        x_center, x_spread = data_input("X_mean", x_mean), data_input("X_sd", x_sd)
        y_center, y_spread = data_input("y_mean", y_mean), data_input("y_sd", y_sd)
        X_std = (X_shared - x_center) / x_spread
        log_weights, means_std, scales_std, *offdiag_std = mixture_outputs(X_std, params, len(hidden), activation, K)
        outputs = [log_weights, y_center + y_spread * means_std, y_spread * scales_std]
        signature = "(k),(k,q),(k,q)->(q)"
        if full:  # L = S_y L~: each row of the standardized factor times its output's sd
            rows = np.array([q for q, _ in offdiagonal_pairs(y_data.n_features)])
            outputs.append(y_spread[rows] * offdiag_std[0])
            signature = "(k),(k,q),(k,q),(k,m)->(q)"
        pm.CustomDist(
            "y",
            *outputs,
            logp=functools.partial(_mixture_logp, n_outputs=y_data.n_features),
            random=_mixture_random,
            signature=signature,
            observed=y_shared,
            dims=("obs_id", "output"),
        )

    settings = {
        "n_components": K,
        "hidden": list(hidden),
        "activation": activation,
        "covariance": covariance,
        "scale_floor": SCALE_FLOOR,
        "x_mean": x_mean.tolist(),
        "x_sd": x_sd.tolist(),
        "y_mean": y_mean.tolist(),
        "y_sd": y_sd.tolist(),
        "outputs": y_data.feature_names,
    }
    info = ModelInfo(
        mixing=NETWORK, settings=settings, priors=resolved, data=x_data, observed="y", extras={"y": y_data}
    )
    return attach_info(model, info)


def _is_unnamed(y: Any) -> bool:
    """A Series without a name or a plain 2-D array: outputs are named y0, y1, ..."""
    import pandas as pd

    if isinstance(y, pd.Series):
        return y.name is None
    return not isinstance(y, pd.DataFrame)


def _check_hidden(hidden: object) -> tuple[int, ...]:
    if isinstance(hidden, int | np.integer) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if (
        not isinstance(hidden, Sequence)
        or not hidden
        or any(isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1 for h in hidden)
    ):
        raise ValueError(
            f"Argument `hidden` must be a non-empty sequence of positive layer widths, e.g. (8,) "
            f"or (16, 16), but got {hidden!r}."
        )
    return tuple(int(h) for h in hidden)


def _standardization(data: Data, *, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Training means and standard deviations; a constant X feature keeps sd 1, a constant y is refused."""
    mean, sd = data.values.mean(axis=0), data.values.std(axis=0)
    constant = np.flatnonzero(sd == 0)
    if constant.size and name == "y":
        raise ValueError(
            f"Argument `y` has constant column(s) {[data.feature_names[j] for j in constant]}; "
            "there is no conditional density to learn there, so drop them."
        )
    warn_constant_features(data, "they are centred but not scaled, and the network learns nothing from them.")
    return mean, np.where(sd > 0, sd, 1.0)


def _weight(prior: Prior, name: str, fan_in: int, dims: tuple[str, ...]):
    """A connection-weight matrix whose prior scale is divided by sqrt(fan_in)."""
    scale_name = _SCALE_PARAMETER[prior.distribution]
    scale = np.asarray(prior.parameters.get(scale_name, 1.0), dtype=float) / np.sqrt(fan_in)
    scaled = Prior(prior.distribution, **{**prior.parameters, scale_name: scale})
    return scaled.create(name, dims=dims)


def _mixture_logp(value, log_weights, means, scales, offdiag=None, *, n_outputs: int):
    """log p(y) = logsumexp_k [log pi_k + log N(y | mu_k, L_k L_k^T)] (PyTensor), L_k diagonal without offdiag."""
    residual = value[..., None, :] - means
    z = residual / scales if offdiag is None else whiten(residual, scales, offdiag, n_outputs)
    component = pt.sum(-0.5 * z**2 - pt.log(scales) - 0.5 * _LOG_2PI, axis=-1)
    return pt.logsumexp(log_weights + component, axis=-1)


def _mixture_random(log_weights, means, scales, *offdiag, rng=None, size=None):
    """One draw of y per row: a component from pi, then mu_k + L_k epsilon."""
    arrays = [np.asarray(means), np.asarray(scales)]
    K = arrays[0].shape[-2]
    log_weights = np.asarray(log_weights)
    batch = np.broadcast_shapes(log_weights.shape[:-1], arrays[0].shape[:-2], arrays[1].shape[:-2])
    if size is not None:
        batch = tuple(np.atleast_1d(size))
    component = _sample_components(np.broadcast_to(log_weights, (*batch, K)), rng)
    picked = []
    for array in [*arrays, *(np.asarray(o) for o in offdiag)]:
        array = np.broadcast_to(array, (*batch, *array.shape[-2:]))
        picked.append(np.take_along_axis(array, component[..., None, None], axis=-2)[..., 0, :])
    noise = rng.standard_normal(picked[0].shape)
    spread = picked[1] * noise if not offdiag else correlate(noise, picked[1], picked[2])
    return picked[0] + spread


def _sample_components(log_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A component index per row of ``log_weights`` (..., K), by the Gumbel-max trick."""
    return np.argmax(log_weights + rng.gumbel(size=log_weights.shape), axis=-1)


# ----------------------------------------------------------------------------------------------
# Evaluating the network outside the model: many posterior draws at once.


def mdn_info(model: object, *, name: str = "model") -> ModelInfo:
    """The :class:`ModelInfo` of a model built by :func:`mdn`, or a clear error."""
    info = get_info(model) if isinstance(model, pm.Model) else None
    if info is None or not info.is_conditional:
        raise TypeError(
            f"Argument `{name}` must be the pymc.Model built by bayesmix.models.mdn for this fit "
            f"but got {type(model).__name__}{'' if info is None else f' of family {info.family!r}'}."
        )
    return info


def parameter_names(info: ModelInfo) -> list[str]:
    """Names of the network's free parameters, in a fixed order."""
    names = [n for pair in layer_names(len(info.settings["hidden"])) for n in pair]
    if info.settings["n_components"] > 1:
        names += ["w_logits", "b_logits"]
    names += ["w_means", "b_means", "w_scales", "b_scales"]
    return [*names, "w_offdiag", "b_offdiag"] if has_offdiag(info.settings) else names


def has_offdiag(settings: Mapping[str, Any]) -> bool:
    """Whether the network outputs Cholesky factors (a full covariance over several outputs)."""
    return settings.get("covariance", "diag") == "full" and len(settings["outputs"]) > 1


def network_outputs(info: ModelInfo, params: Mapping[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, ...]:
    """Log-weights (S, n, K), means (S, n, K, Q) and scales (S, n, K, Q) of every draw, raw units, and with a
    full covariance the Cholesky factors' below-diagonal entries (S, n, K, Q (Q - 1) / 2).

    ``params`` maps each name of :func:`parameter_names` to its values stacked
    over a leading draw axis of length S; ``X`` holds raw inputs (n, P).
    The model's own forward pass (:func:`mixture_outputs`), evaluated with numpy.
    """
    settings = info.settings
    x_std = (np.asarray(X, float) - np.asarray(settings["x_mean"])) / np.asarray(settings["x_sd"])
    values = {name: np.asarray(params[name], float) for name in parameter_names(info)}
    log_weights, means, scales, *offdiag = mixture_outputs(
        x_std[None], values, len(settings["hidden"]), settings["activation"], settings["n_components"], ops=NUMPY
    )
    y_mean, y_sd = np.asarray(settings["y_mean"]), np.asarray(settings["y_sd"])
    raw = (log_weights, y_mean + y_sd * means, y_sd * scales)
    if not offdiag:
        return raw
    rows = [q for q, _ in offdiagonal_pairs(len(y_sd))]
    return (*raw, y_sd[rows] * offdiag[0])


def component_log_densities(y: np.ndarray, means: np.ndarray, scales: np.ndarray, offdiag=None) -> np.ndarray:
    """log N(y | mu_k, L_k L_k^T) for points y (..., Q) against components (..., K, Q); shape (..., K)."""
    residual = y[..., None, :] - means
    if offdiag is None:
        z = residual / scales
    else:
        z = whiten(residual, scales, offdiag, means.shape[-1], ops=NUMPY)
    return np.sum(-0.5 * z**2 - np.log(scales) - 0.5 * _LOG_2PI, axis=-1)


def mixture_log_density(y: np.ndarray, log_weights: np.ndarray, means: np.ndarray, scales: np.ndarray, offdiag=None):
    """log p(y_i | x_i, theta) for rows y (n, Q) against outputs (..., n, K[, Q]); shape (..., n)."""
    return logsumexp(log_weights + component_log_densities(y, means, scales, offdiag), axis=-1)


def stacked_parameters(info: ModelInfo, posterior: Any) -> dict[str, np.ndarray]:
    """The network's parameters with chain and draw stacked into one leading axis (chain-major)."""
    names = parameter_names(info)
    missing = [n for n in names if n not in posterior]
    if missing:
        raise ValueError(
            f"The posterior lacks the network parameters {missing}; pass the result of fitting this very model."
        )
    out = {}
    for name in names:
        da = posterior[name].transpose("chain", "draw", ...)
        out[name] = da.values.reshape(-1, *da.shape[2:])
    return out


def iter_outputs(info: ModelInfo, params: Mapping[str, np.ndarray], X: np.ndarray, chunk_size: int = 200):
    """:func:`network_outputs` over chunks of draws, to bound memory: yields (slice, outputs)."""
    n_draws = next(iter(params.values())).shape[0]
    for start in range(0, n_draws, chunk_size):
        chunk = slice(start, min(start + chunk_size, n_draws))
        yield chunk, network_outputs(info, {k: v[chunk] for k, v in params.items()}, X)


def pointwise_log_likelihood(info: ModelInfo, posterior: Any) -> np.ndarray:
    """log p(y_i | x_i, theta_s) for every draw s (chain-major) and training row i, shape (S, n)."""
    params = stacked_parameters(info, posterior)
    y = info.extras["y"].values
    out = np.empty((next(iter(params.values())).shape[0], info.data.n_obs))
    for chunk, outputs in iter_outputs(info, params, info.data.values):
        out[chunk] = mixture_log_density(y, *outputs)
    return out


def info_from_result(result: Any) -> ModelInfo:
    """Rebuild an MDN's :class:`ModelInfo` from a fit result (settings, priors and data in it)."""
    from bayesmix._result import conditional_data_of

    X, y = conditional_data_of(result)
    return ModelInfo(
        mixing=NETWORK,
        settings=json.loads(result.attrs["bayesmix_settings"]),
        priors=priors_from_json(result.attrs["bayesmix_priors"]),
        data=X,
        observed="y",
        extras={"y": y},
    )


def probe_rows(info: ModelInfo, n_probes: int = 5) -> np.ndarray:
    """Training rows at evenly spaced quantiles (10% to 90%) of the first input feature."""
    order = np.argsort(info.data.values[:, 0], kind="stable")
    positions = np.round(np.linspace(0.1, 0.9, n_probes) * (info.data.n_obs - 1)).astype(int)
    return order[np.unique(positions)]


def conditional_moments(log_weights: np.ndarray, means: np.ndarray, scales: np.ndarray, offdiag=None):
    """Mean and sd of y given x under each mixture, (..., n, Q): label-invariant summaries of the network."""
    weights = np.exp(log_weights)[..., None]
    mean = np.sum(weights * means, axis=-2)
    second = np.sum(weights * (marginal_variances(scales, offdiag) + means**2), axis=-2)
    return mean, np.sqrt(np.maximum(second - mean**2, 0.0))
