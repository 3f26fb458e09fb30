r"""EM of a Gaussian mixture whose rows miss some cells: conditional expectations per pattern of missing cells.

scikit-learn's ``GaussianMixture`` refuses NaN and StepMix marginalizes missing
cells only for diagonal covariances, so this EM is bayesmix's own (Ghahramani
and Jordan 1994; McLachlan and Krishnan 2008, sec. 2.2). For a row with observed
cells :math:`o` and missing cells :math:`m`, the E-step takes the memberships
from the observed cells' marginal density, :math:`r_{ik} \propto w_k\,
\mathcal N(x_{io} \mid \mu_{ko}, \Sigma_{k,oo})`, and, within component
:math:`k`, the missing cells' conditional mean and covariance

.. math::

    \hat x_{ikm} = \mu_{km} + \Sigma_{k,mo} \Sigma_{k,oo}^{-1} (x_{io} - \mu_{ko}), \qquad
    C_{ik,mm} = \Sigma_{k,mm} - \Sigma_{k,mo} \Sigma_{k,oo}^{-1} \Sigma_{k,om}.

The M-step is the complete-data one on these expectations:
:math:`\mu_k = \sum_i r_{ik} \hat x_{ik} / N_k` and :math:`\Sigma_k = \sum_i
r_{ik} [(\hat x_{ik} - \mu_k)(\hat x_{ik} - \mu_k)^\top + C_{ik}] / N_k`, then
structured as diagonal, spherical or tied and floored like scikit-learn's
``reg_covar``. On complete data it is the ordinary EM; the tests check it
against scikit-learn there and against StepMix's diagonal model with missing
cells.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesmix._validation import Data
from bayesmix.baseline._em import em_dataset, ordered, run_em
from bayesmix.components._covariance import structured
from bayesmix.components._gaussian_density import component_log_density
from bayesmix.components._patterns import conditional_on_observed

# scikit-learn's default reg_covar, which the complete-data Gaussian baseline uses.
REG_COVAR = 1e-6


def em_with_missing(
    family, data: Data, n_components: int, *, covariance: str, n_init: int, seed: int, tol: float = 1e-10
) -> xr.Dataset:
    """The maximum-likelihood Gaussian mixture of data with NaN cells, in the baseline's names and dims."""
    from bayesmix.baseline.gaussian import COLLAPSE_RELATIVE_VARIANCE, _relative_min_variance

    X = data.values
    spread = np.nanstd(X, axis=0)
    fit = run_em(
        X,
        n_components,
        log_density=component_log_density,
        m_step=family.m_step_for(data, covariance),
        start_features=(X - np.nanmean(X, axis=0)) / np.where(spread > 0, spread, 1.0),
        n_init=n_init,
        seed=seed,
        tol=tol,
    )
    fit = ordered(fit, "means")
    complete = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    collapsed = _relative_min_variance(complete, fit["parameters"]["covariances"]) < COLLAPSE_RELATIVE_VARIANCE
    fit["degenerate"] = collapsed | (fit["weights"] * data.n_obs < data.n_features + 1)
    attrs = {"covariance": covariance, "n_init": n_init, "random_seed": seed, "missing": "marginalize"}
    return em_dataset(family, data, fit, covariance=covariance, attrs=attrs)


def expected_m_step(
    X: np.ndarray, resp: np.ndarray, previous: dict | None, covariance: str, floor: np.ndarray, patterns: list
) -> dict[str, np.ndarray]:
    """Means and covariances from the expected complete-data statistics under the ``previous`` parameters
    (at the first step, which has none, missing cells count at their column means, with no spread);
    ``patterns`` is :func:`bayesmix.components._patterns.missing_patterns` of ``X``, computed once per EM."""
    N, D = X.shape
    K = resp.shape[1]
    filled = np.broadcast_to(np.where(np.isnan(X), np.nanmean(X, axis=0), X), (K, N, D)).copy()
    correction = np.zeros((K, D, D))  # sum_i r_ik C_ik
    if previous is not None:
        means, covariances = previous["means"], previous["covariances"]
        for rows, observed in patterns:
            hidden = np.setdiff1d(np.arange(D), observed)
            if hidden.size == 0:
                continue
            if observed.size == 0:
                filled[:, rows] = means[:, None, :]
                conditional = covariances
            else:  # per component (K, 1, ...) and row (n, o)
                given = conditional_on_observed(
                    X[np.ix_(rows, observed)], means[:, None], covariances[:, None], observed, hidden
                )
                filled[np.ix_(np.arange(K), rows, hidden)] = given.location
                conditional = np.zeros((K, D, D))
                conditional[:, hidden[:, None], hidden] = given.matrix[:, 0]
            correction += resp[rows].sum(axis=0)[:, None, None] * conditional
    totals = resp.sum(axis=0)
    means = np.einsum("nk,knd->kd", resp, filled) / totals[:, None]
    diff = filled - means[:, None, :]
    scatter = (np.einsum("nk,knd,kne->kde", resp, diff, diff) + correction) / totals[:, None, None]
    return {"means": means, "covariances": structured(scatter, totals, covariance, floor)}
