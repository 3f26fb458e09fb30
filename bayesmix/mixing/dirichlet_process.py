r"""Dirichlet-process mixing: Sethuraman's stick-breaking weights, truncated at T components.

.. math::

    \alpha &\sim \operatorname{Gamma}(1, 1) \\
    v_k &\sim \operatorname{Beta}(1, \alpha), \quad k = 1, \dots, T-1 \\
    w_k &= v_k \prod_{j<k} (1 - v_j), \qquad w_T = \prod_{j<T} (1 - v_j)

A Dirichlet process keeps many more components than clusters, and each spare
one is free to settle where the likelihood is unbounded: on one observation or
on a few tied values (faithful's eruption times repeat up to 8 times), with a
standard deviation shrinking to the variance floor. Under the finite
mixtures' HalfNormal prior on the component standard deviations those spikes
hold real posterior mass, and chains that find one disagree with chains that
do not. A DP's default scale prior is therefore :func:`component_defaults`'
InverseGamma, which vanishes exponentially at zero, as the inverse-gamma and
inverse-Wishart priors of the DP literature do (Escobar & West 1995;
Richardson & Green 1997).
"""

from __future__ import annotations

import numpy as np
import pymc as pm

from bayesmix._validation import check_n_components, check_positive_int
from bayesmix.priors import Prior, Role

ROLE = Role("the prior of the DP concentration", ("Gamma", "Exponential", "HalfNormal", "LogNormal"))
DEFAULT_PRIOR = Prior("Gamma", alpha=1.0, beta=1.0)
SCALE_SHAPE = 2.0


def component_defaults(defaults: dict) -> dict:
    r"""A DP's default component priors: the finite mixture's, with zero-avoiding scales.

    A HalfNormal(:math:`\sigma`) prior on the component standard deviations
    (:math:`\sigma` the data's spread) becomes
    :math:`\operatorname{InverseGamma}(2, \sigma / 2)`: mean :math:`\sigma / 2`,
    median :math:`0.3\,\sigma`, prior probability 0.04 below
    :math:`0.1\,\sigma` and :math:`5 \times 10^{-4}` below :math:`0.05\,\sigma`.
    """
    scales = defaults.get("scales")
    if isinstance(scales, Prior) and scales.distribution == "HalfNormal":
        sigma = np.asarray(scales.parameters["sigma"], float)
        defaults = {**defaults, "scales": Prior("InverseGamma", alpha=SCALE_SHAPE, beta=sigma / SCALE_SHAPE)}
    return defaults


def check_truncation(truncation: object, n_obs: int) -> int:
    T = check_positive_int(truncation, name="truncation")
    if T < 2:
        raise ValueError(f"Argument `truncation` must be >= 2 but got truncation = {T}.")
    # More sticks than points cannot be occupied, and the EM start needs one point each.
    return check_n_components(T, n_obs, name="truncation")


def check_alpha(alpha: object, priors: object) -> float | None:
    """A fixed concentration (a positive number), or None when it is learned."""
    if alpha is None:
        return None
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.number) or not alpha > 0:
        raise ValueError(f"Argument `alpha` must be a positive number or None but got {alpha!r}.")
    if priors and "alpha" in priors:
        raise ValueError("Give either a fixed `alpha` or priors['alpha'], not both.")
    return float(alpha)


def stick_breaking_weights(concentration, truncation: int):
    """``weights`` (component): the truncated stick-breaking weights, and ``alpha`` when it is learned."""
    if isinstance(concentration, Prior):
        concentration = concentration.create("alpha")
    return pm.StickBreakingWeights("weights", alpha=concentration, K=truncation - 1, dims="component")
