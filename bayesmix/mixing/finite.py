r"""Finite mixing: K weights on the simplex with a symmetric Dirichlet prior.

.. math:: w \sim \operatorname{Dirichlet}(a \mathbf{1}_K)
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayesmix.priors import Prior, Role

ROLE = Role("the prior of the mixture weights", ("Dirichlet",))
DEFAULT_PRIOR = Prior("Dirichlet", a=1.0)


def dirichlet_weights(prior: Prior, n_components: int):
    """``weights`` (component) in the model on the context stack; one component has weight 1."""
    if n_components == 1:
        return pm.Deterministic("weights", pt.ones(1), dims="component")
    a = np.broadcast_to(np.asarray(prior.parameters.get("a", 1.0), float), (n_components,))
    return pm.Dirichlet("weights", a=a, dims="component")
