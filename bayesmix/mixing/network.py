r"""The mixture density network's forward pass, written once for the model and for prediction.

Every function here takes PyTensor tensors whose network parameters may carry
extra leading (draw) axes: inside the model they have none, and for prediction
they are stacked over posterior draws, so one compiled graph evaluates many
draws at once. The layout, for inputs :math:`x \in \mathbb{R}^P` already
standardized, hidden layers :math:`h_1, \dots, h_L` and :math:`K` components
over :math:`Q` outputs:

.. math::

    h_0 &= x, \qquad h_l = a(h_{l-1} W_l + b_l) \\
    \log \pi(x) &= \operatorname{log\,softmax}(h_L W_\pi + b_\pi) \\
    \mu(x) &= h_L W_\mu + b_\mu \\
    \sigma(x) &= \operatorname{softplus}(h_L W_\sigma + b_\sigma) + \sigma_{\min}

and, for a full covariance over several outputs, the below-diagonal entries of
each component's Cholesky factor :math:`L_k(x)` (whose diagonal is
:math:`\sigma_k(x)`), :math:`h_L W_\ell + b_\ell`, in row-major order of the
pairs :math:`(q, r)`, :math:`q > r` (:func:`offdiagonal_pairs`).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytensor.tensor as pt
from scipy import special

# The operations the forward pass needs, from two array libraries with one API: PyTensor
# builds the model's graph; numpy evaluates posterior draws for prediction directly, with
# no compilation (a numba compilation of this graph took about 100 s on a cold cache,
# before a user's first prediction).
PYTENSOR = SimpleNamespace(
    matmul=pt.matmul,
    zeros_like=pt.zeros_like,
    log_softmax=pt.special.log_softmax,
    tanh=pt.tanh,
    maximum=pt.maximum,
    softplus=pt.softplus,
    sigmoid=pt.sigmoid,
    stack=pt.stack,
)
NUMPY = SimpleNamespace(
    matmul=np.matmul,
    zeros_like=np.zeros_like,
    log_softmax=special.log_softmax,
    tanh=np.tanh,
    maximum=np.maximum,
    softplus=lambda z: np.logaddexp(0.0, z),
    sigmoid=special.expit,
    stack=np.stack,
)

ACTIVATIONS = {
    "tanh": lambda ops, z: ops.tanh(z),
    "relu": lambda ops, z: ops.maximum(z, 0.0),
    "softplus": lambda ops, z: ops.softplus(z),
    "sigmoid": lambda ops, z: ops.sigmoid(z),
}

# Smallest component scale, in units of y's standard deviation. With a free
# scale a component can shrink onto one observation and the likelihood grows
# without bound (the MDN's variance collapse); 1e-3 sd is far below any spread
# the data can resolve and keeps the density bounded.
SCALE_FLOOR = 1e-3


def layer_names(n_layers: int) -> list[tuple[str, str]]:
    """(weight, bias) variable names of the hidden layers, first layer first."""
    return [(f"w_layer{i}", f"b_layer{i}") for i in range(1, n_layers + 1)]


def hidden_dim(layer: int) -> str:
    """The dim of the units of hidden layer ``layer`` (1-based): ``hidden``, ``hidden_2``, ..."""
    return "hidden" if layer == 1 else f"hidden_{layer}"


def hidden_output(X_std, params: dict, n_layers: int, activation: str, ops=PYTENSOR):
    """The last hidden layer, shape (..., n_obs, n_hidden); ``ops`` is :data:`PYTENSOR` or :data:`NUMPY`."""
    act = ACTIVATIONS[activation]
    h = X_std
    for w_name, b_name in layer_names(n_layers):
        h = act(ops, ops.matmul(h, params[w_name]) + params[b_name][..., None, :])
    return h


def mixture_outputs(X_std, params: dict, n_layers: int, activation: str, n_components: int, ops=PYTENSOR):
    """Log-weights (..., n, K), means (..., n, K, Q) and scales (..., n, K, Q), standardized units; with the
    heads of a full covariance (``w_offdiag`` in ``params``), also the Cholesky factors' below-diagonal
    entries (..., n, K, Q (Q - 1) / 2)."""
    h = hidden_output(X_std, params, n_layers, activation, ops)
    if n_components > 1:
        logits = ops.matmul(h, params["w_logits"]) + params["b_logits"][..., None, :]
        log_weights = ops.log_softmax(logits, axis=-1)
    else:
        log_weights = ops.zeros_like(h[..., :1])
    means = component_outputs(h, params["w_means"], ops) + params["b_means"][..., None, :, :]
    raw_scales = component_outputs(h, params["w_scales"], ops) + params["b_scales"][..., None, :, :]
    scales = ops.softplus(raw_scales) + SCALE_FLOOR
    if "w_offdiag" not in params:
        return log_weights, means, scales
    offdiag = component_outputs(h, params["w_offdiag"], ops) + params["b_offdiag"][..., None, :, :]
    return log_weights, means, scales, offdiag


def offdiagonal_pairs(n_outputs: int) -> list[tuple[int, int]]:
    """The (row, column) pairs below a Q x Q Cholesky factor's diagonal, in the order the network outputs them."""
    return [(q, r) for q in range(n_outputs) for r in range(q)]


def whiten(residual, scales, offdiag, n_outputs: int, ops=PYTENSOR):
    """:math:`L^{-1} r` by forward substitution, unrolled over the outputs, for the lower-triangular L with
    diagonal ``scales`` and below-diagonal ``offdiag`` (:func:`offdiagonal_pairs` order); every argument
    has the outputs on its last axis, the leading axes broadcast."""
    pairs = {pair: index for index, pair in enumerate(offdiagonal_pairs(n_outputs))}
    z = []
    for q in range(n_outputs):
        value = residual[..., q]
        for r in range(q):
            value = value - offdiag[..., pairs[q, r]] * z[r]
        z.append(value / scales[..., q])
    return ops.stack(z, axis=-1)


def correlate(noise: np.ndarray, scales: np.ndarray, offdiag: np.ndarray) -> np.ndarray:
    """numpy: :math:`L \varepsilon` for standard normal ``noise`` (..., Q) and L as in :func:`whiten`."""
    n_outputs = noise.shape[-1]
    pairs = {pair: index for index, pair in enumerate(offdiagonal_pairs(n_outputs))}
    rows = []
    for q in range(n_outputs):
        value = scales[..., q] * noise[..., q]
        for r in range(q):
            value = value + offdiag[..., pairs[q, r]] * noise[..., r]
        rows.append(value)
    return np.stack(rows, axis=-1)


def marginal_variances(scales: np.ndarray, offdiag: np.ndarray | None) -> np.ndarray:
    """numpy: the diagonal of :math:`L L^\top`, (..., Q): each output's variance within a component."""
    variances = scales**2
    if offdiag is None:
        return variances
    out = variances.copy()
    for index, (q, _) in enumerate(offdiagonal_pairs(scales.shape[-1])):
        out[..., q] += offdiag[..., index] ** 2
    return out


def component_outputs(h, weights, ops=PYTENSOR):
    """``h @ weights`` per component and output: (..., n, H) x (..., H, K, Q) -> (..., n, K, Q).

    One matrix product on the weights flattened to (..., H, K * Q), then the
    product unflattened. ``pt.einsum`` computes the same, but JAX cannot trace
    the gradient PyTensor 3.3 builds for it (a reshape to a shape computed at
    run time), which kept the MDN's ADVI off JAX.
    """
    n_hidden, n_components, n_outputs = weights.shape[-3:]
    flat = weights.reshape((*weights.shape[:-3], n_hidden, n_components * n_outputs))
    return ops.matmul(h, flat).reshape((*h.shape[:-1], n_components, n_outputs))
