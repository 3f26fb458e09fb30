"""What the families of answered items (Bernoulli, categorical) share: their EM, as latent class analysis runs it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr

from bayesmix._validation import Data
from bayesmix.baseline._em import em_dataset, ordered, run_em

# The EM's relative convergence tolerance: boundary solutions creep for thousands of iterations at 1e-13
# (lsat6, K = 3: 3131 iterations, 15 s) for log-likelihood gains below 1e-4 (2003 iterations, 9 s).
EM_TOLERANCE = 1e-10


def item_em(
    family,
    data: Data,
    n_components: int,
    *,
    m_step: Callable,
    start_features: np.ndarray,
    n_init: int,
    seed: int,
) -> xr.Dataset:
    """The EM of a latent class model (:func:`bayesmix.baseline._em.run_em`), ordered by the family's
    location; a class holding less than one respondent's worth of weight is flagged degenerate."""
    fit = run_em(
        data.values,
        n_components,
        log_density=family.log_density,
        m_step=m_step,
        start_features=start_features,
        n_init=n_init,
        seed=seed,
        tol=EM_TOLERANCE,
    )
    fit = ordered(fit, family.location)
    fit["degenerate"] = fit["weights"] * data.n_obs < 1.0
    return em_dataset(family, data, fit, covariance=None, attrs={"n_init": n_init, "random_seed": seed})
