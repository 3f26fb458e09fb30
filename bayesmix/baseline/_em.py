r"""EM for component families that no maintained library fits, and the baseline's dataset.

The driver is the textbook algorithm (Dempster, Laird & Rubin 1977): the
E-step computes the membership probabilities

.. math::

    r_{ik} = \frac{w_k\, p(x_i \mid \theta_k)}{\sum_j w_j\, p(x_i \mid \theta_j)},

the M-step sets :math:`w_k = \tfrac1N \sum_i r_{ik}` and asks the family for the
:math:`\theta_k` that maximize :math:`\sum_i r_{ik} \log p(x_i \mid \theta_k)`.
Each restart starts from a k-means partition of the family's starting features;
the restart of highest log-likelihood is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.cluster import KMeans

from bayesmix._validation import Data
from bayesmix.components._family import family_coords

# Share of a k-means start's membership spread over all components, so no component starts empty.
_START_SMOOTHING = 0.05


def run_em(
    X: np.ndarray,
    n_components: int,
    *,
    log_density: Callable[..., np.ndarray],
    m_step: Callable[[np.ndarray, np.ndarray, dict | None], dict[str, np.ndarray]],
    start_features: np.ndarray,
    n_init: int,
    seed: int,
    tol: float = 1e-13,
    max_iter: int = 20_000,
) -> dict[str, Any]:
    """The best of ``n_init`` EM runs.

    ``m_step(X, responsibilities, previous)`` returns the component parameters
    (a dict, in the family's order) from the weighted data; ``previous`` is the
    last M-step's answer (None at the start), for families whose M-step
    iterates. Converged when the log-likelihood rises by less than ``tol``
    relative to its size.
    """
    best = None
    if np.isnan(start_features).any():  # missing cells: k-means starts from the column means there
        start_features = np.where(np.isnan(start_features), np.nanmean(start_features, axis=0), start_features)
    for restart in range(n_init):
        labels = KMeans(n_components, n_init=1, random_state=seed + restart).fit_predict(start_features)
        resp = np.full((X.shape[0], n_components), _START_SMOOTHING / n_components)
        resp[np.arange(X.shape[0]), labels] += 1.0 - _START_SMOOTHING
        params, previous_ll, converged = None, -np.inf, False
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            weights = resp.mean(axis=0)
            params = m_step(X, resp, params)
            with np.errstate(divide="ignore"):
                joint = log_density(X, *params.values()) + np.log(weights)
            total = _logsumexp_rows(joint)
            log_likelihood = float(total.sum())
            resp = np.exp(joint - total[:, None])
            if abs(log_likelihood - previous_ll) <= tol * abs(log_likelihood):
                converged = True
                break
            previous_ll = log_likelihood
        fit = {
            "weights": resp.mean(axis=0),
            "parameters": params,
            "responsibilities": resp,
            "log_likelihood": log_likelihood,
            "converged": converged,
            "n_iter": n_iter,
        }
        if best is None or fit["log_likelihood"] > best["log_likelihood"]:
            best = fit
    return best


def _logsumexp_rows(joint: np.ndarray) -> np.ndarray:
    """log sum_k exp(joint[i, k]) per row: scipy's logsumexp costs 20x more on EM's small matrices
    (lsat6, K = 3: 4.3 of 6.0 s of the EM), and its sign and weight options are not needed here."""
    top = joint.max(axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    return top + np.log(np.exp(joint - top[:, None]).sum(axis=1))


def ordered(fit: dict[str, Any], location: str) -> dict[str, Any]:
    """The fit with its components sorted by the location's first feature (ties by the next; a
    (component, feature, category) location by its first feature's first category, then the next)."""
    key = fit["parameters"][location]
    order = np.lexsort(key.reshape(key.shape[0], -1).T[::-1])
    return {
        **fit,
        "weights": fit["weights"][order],
        "parameters": {name: value[order] for name, value in fit["parameters"].items()},
        "responsibilities": fit["responsibilities"][:, order],
    }


def criteria(log_likelihood: float, responsibilities: np.ndarray, n_parameters: int, n_obs: int) -> dict[str, float]:
    """BIC, AIC and ICL (smaller is better, scikit-learn's sign): ICL adds the hard classification's entropy."""
    bic = -2.0 * log_likelihood + n_parameters * np.log(n_obs)
    return {
        "bic": bic,
        "aic": -2.0 * log_likelihood + 2.0 * n_parameters,
        "icl": bic - 2.0 * np.log(np.clip(responsibilities.max(axis=1), 1e-300, None)).sum(),
    }


def em_dataset(family, data: Data, fit: dict[str, Any], *, covariance: str | None, attrs: dict) -> xr.Dataset:
    """An EM fit in the posterior's names and dims, with BIC, AIC and ICL, as the Gaussian baseline returns it."""
    K = len(fit["weights"])
    n_parameters = K - 1 + family.n_parameters(K, data, covariance)
    scores = criteria(fit["log_likelihood"], fit["responsibilities"], n_parameters, data.n_obs)
    dims = family.parameter_dims()
    coords = {"component": np.arange(K), "feature": data.feature_names, "obs_id": np.arange(data.n_obs)}
    if any("feature_bis" in d for d in dims.values()):
        coords["feature_bis"] = data.feature_names
    coords |= family_coords(family, data)
    scalars = {
        "log_likelihood": fit["log_likelihood"],
        "n_parameters": n_parameters,
        **scores,
        "converged": fit["converged"],
        "n_iter": fit["n_iter"],
    }
    return xr.Dataset(
        {
            "weights": ("component", fit["weights"]),
            **{name: (dims[name], value) for name, value in fit["parameters"].items()},
            "responsibilities": (("obs_id", "component"), fit["responsibilities"]),
            "degenerate": ("component", fit["degenerate"]),
            **{name: ((), value) for name, value in scalars.items()},
        },
        coords=coords,
        attrs={"bayesmix_baseline": "em", "component": family.name, "n_components": K, **attrs},
    )


def selection_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The EM table from one row per fit: ``best`` marks the BIC-best fit that is not degenerate
    (the BIC-best of all when every fit is), and ``table.attrs["best"]`` names its covariance and K."""
    table = pd.DataFrame(rows)
    candidates = table[~table["degenerate"]]
    if candidates.empty:
        candidates = table
    best = candidates["bic"].idxmin()
    table["best"] = table.index == best
    covariance = table.loc[best, "covariance"]
    table.attrs["best"] = {
        "covariance": None if covariance is None else str(covariance),
        "n_components": int(table.loc[best, "n_components"]),
    }
    return table
