"""The EM (maximum-likelihood) baseline, on scikit-learn's GaussianMixture.

Results are ``xarray.Dataset`` objects whose ``weights``, ``means`` and
``covariances`` have the names, dims and coordinates of a bayesmix posterior,
so ``posterior[...] - baseline[...]`` is one xarray expression.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from threadpoolctl import threadpool_limits

from bayesmix._validation import (
    Data,
    DegenerateDataWarning,
    check_choice,
    check_data,
    check_n_components,
    check_positive_int,
    constant_features,
    warn_constant_features,
)
from bayesmix.baseline._em import selection_table
from bayesmix.components._covariance import COVARIANCE_TYPES

# A component whose smallest variance, relative to the data's variance along
# the same direction, falls below this has collapsed onto a lower-dimensional set.
COLLAPSE_RELATIVE_VARIANCE = 1e-4
# Scalar summaries of one fit, stored as 0-d variables of the result.
SCALAR_FIELDS = ("log_likelihood", "n_parameters", "bic", "aic", "icl", "converged", "n_iter")


class DegenerateSolutionWarning(UserWarning):
    """An EM solution with a collapsed or nearly empty component."""


def em(
    X: Any,
    n_components: int,
    *,
    covariance: str = "full",
    n_init: int = 10,
    reg_covar: float = 1e-6,
    tol: float = 1e-6,
    method: str = "em",
    random_seed: int | None = None,
) -> xr.Dataset:
    r"""Fit a Gaussian mixture by expectation-maximization (maximum likelihood).

    With ``method="variational_dp"`` it runs scikit-learn's
    ``BayesianGaussianMixture`` with a (truncated) Dirichlet-process prior on
    the weights instead: variational Bayes, the baseline for
    :func:`bayesmix.models.dp_gmm`. ``n_components`` is then the truncation,
    most components end up (nearly) empty, and only collapsed covariances
    count as degenerate.

    Runs scikit-learn's ``GaussianMixture`` from ``n_init`` k-means starts
    (start ``i`` uses ``random_state = random_seed + i``) and keeps the
    highest-likelihood solution that is not degenerate. A component is
    degenerate when its covariance has collapsed (its smallest variance is
    below ``1e-4`` times the data's variance in that direction, e.g. onto
    tied integer values) or it carries fewer than ``n_features + 1`` points.
    When the best solution is degenerate a :class:`DegenerateSolutionWarning`
    names the components, and ``degenerate`` marks them in the result.

    Information criteria use scikit-learn's sign (lower is better):

    .. math::

        \mathrm{BIC} = -2\log L + p\log n,\qquad
        \mathrm{AIC} = -2\log L + 2p,\qquad
        \mathrm{ICL} = \mathrm{BIC} - 2\sum_i \log \max_k r_{ik},

    with :math:`r_{ik}` the responsibilities (ICL as in mclust, whose BIC is
    the negative of this one).

    Parameters
    ----------
    X : array-like of shape (n_obs, n_features) or (n_obs,), or DataFrame
    n_components : int
    covariance : {"full", "diag", "spherical", "tied"}, default "full"
    n_init : int, default 10
        Number of EM starts.
    reg_covar : float, default 1e-6
        Added to the covariances' diagonals, as in scikit-learn.
    tol : float, default 1e-6
        Convergence threshold on the per-sample log-likelihood gain. Tighter
        than scikit-learn's 1e-3, which stops short of the maximum (on
        faithful, tied K=3, it stops at -1126.99 where mclust reports -1126.33).
    method : {"em", "variational_dp"}, default "em"
        Maximum likelihood by EM, or variational Bayes under a DP prior.
    random_seed : int, optional
        Seed of the first start; drawn and recorded in attrs when omitted.

    Returns
    -------
    xarray.Dataset
        ``weights`` (component), ``means`` (component, feature),
        ``covariances`` (component, feature, feature_bis), ``responsibilities``
        (obs_id, component), ``degenerate`` (component), and scalars
        ``log_likelihood`` (the total, not the per-sample mean),
        ``n_parameters``, ``bic``, ``aic``, ``icl``, ``converged``, ``n_iter``.
        Components are sorted by their mean of the first feature.
    """
    data = check_data(X)
    K = check_n_components(n_components, data.n_obs)
    covariance = check_choice(covariance, COVARIANCE_TYPES, name="covariance")
    method = check_choice(method, ("em", "variational_dp"), name="method")
    n_init = check_positive_int(n_init, name="n_init")
    if isinstance(reg_covar, bool) or not isinstance(reg_covar, int | float) or reg_covar < 0:
        raise ValueError(f"Argument `reg_covar` must be a number >= 0 but got {reg_covar!r}.")
    if random_seed is None:
        random_seed = secrets.randbelow(2**31 - n_init)

    if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol > 0:
        raise ValueError(f"Argument `tol` must be a number > 0 but got {tol!r}.")
    if constant_features(data).size and reg_covar == 0:
        raise ValueError(
            "Argument `reg_covar` is 0 but the data have a constant feature, whose variance EM "
            "would estimate as exactly 0; use reg_covar > 0 (default 1e-6) or drop the feature."
        )
    warn_constant_features(
        data, f"EM keeps their variance at reg_covar ({reg_covar:g}) and does not count that as a collapse."
    )
    # One BLAS thread: EM's matrices are D x D and N x D, too small for OpenBLAS's threads,
    # whose spinning then costs more than it saves. Measured on 2 cores, idle: faithful's
    # em_table 9.9 s against 12.1 s, 1e5 points in 2-D 5.3 s against 5.8 s, 5,000 points
    # in 50-D 0.5 s against 1.3-1.8 s; beside another busy process, em_table 6 s against 24 s.
    with threadpool_limits(limits=1, user_api="blas"):
        fits = [
            _fit_once(data, K, covariance, float(reg_covar), float(tol), int(random_seed) + i, method)
            for i in range(n_init)
        ]
    best_overall = max(fits, key=lambda f: f["log_likelihood"])
    healthy = [f for f in fits if not f["degenerate"].any()]
    chosen = max(healthy, key=lambda f: f["log_likelihood"]) if healthy else best_overall
    if chosen is not best_overall:
        warnings.warn(
            f"EM with K={K}, covariance={covariance!r}: the highest-likelihood start "
            f"(log-likelihood {best_overall['log_likelihood']:.2f}) is degenerate "
            f"({_describe(best_overall)}); returning the best non-degenerate start "
            f"(log-likelihood {chosen['log_likelihood']:.2f}).",
            DegenerateSolutionWarning,
            stacklevel=2,
        )
    elif chosen["degenerate"].any():
        warnings.warn(
            f"EM with K={K}, covariance={covariance!r} found only degenerate solutions: "
            f"{_describe(chosen)}. Use fewer components, another covariance type, or a "
            "larger reg_covar.",
            DegenerateSolutionWarning,
            stacklevel=2,
        )
    dataset = _to_dataset(chosen, data, covariance, reg_covar, int(random_seed), n_init, tol)
    dataset.attrs["bayesmix_baseline"] = method
    return dataset


def em_table(
    X: Any,
    n_components: Iterable[int] = range(1, 7),
    covariances: Iterable[str] = COVARIANCE_TYPES,
    *,
    n_init: int = 10,
    random_seed: int | None = 0,
) -> pd.DataFrame:
    """EM fits for every (covariance, K): the model-selection table of R's mclust.

    Parameters
    ----------
    X : array-like or DataFrame
    n_components : iterable of int, default 1..6
    covariances : iterable of str, default all four types
    n_init : int, default 10
    random_seed : int, default 0

    Returns
    -------
    pandas.DataFrame
        One row per fit: ``covariance``, ``n_components``, ``log_likelihood``,
        ``n_parameters``, ``bic``, ``aic``, ``icl`` (lower is better),
        ``converged``, ``degenerate`` and ``best`` (the BIC-best
        non-degenerate fit). ``table.attrs["best"]`` holds that choice.
    """
    data = check_data(X)
    ks = [check_n_components(k, data.n_obs) for k in n_components]
    covs = [check_choice(c, COVARIANCE_TYPES, name="covariance") for c in covariances]
    if not ks or not covs:
        raise ValueError("Arguments `n_components` and `covariances` must each name at least one value.")
    warn_constant_features(data, "EM keeps their variance at reg_covar (1e-06) and does not count that as a collapse.")
    rows, degenerate = [], []
    for cov in covs:
        for k in ks:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DegenerateSolutionWarning)
                warnings.simplefilter("ignore", DegenerateDataWarning)  # said once above
                fit = em(data.values, k, covariance=cov, n_init=n_init, random_seed=random_seed)
            is_degenerate = bool(fit["degenerate"].any())
            if is_degenerate:
                degenerate.append(f"{cov} K={k}")
            rows.append(
                {
                    "covariance": cov,
                    "n_components": k,
                    **{name: fit[name].item() for name in SCALAR_FIELDS if name != "n_iter"},
                    "degenerate": is_degenerate,
                }
            )
    table = selection_table(rows)
    if degenerate:
        warnings.warn(
            f"Degenerate EM solutions (collapsed or nearly empty components), excluded from "
            f"the BIC choice: {', '.join(degenerate)}.",
            DegenerateSolutionWarning,
            stacklevel=2,
        )
    return table


def _fit_once(
    data: Data, K: int, covariance: str, reg_covar: float, tol: float, seed: int, method: str = "em"
) -> dict[str, Any]:
    common = dict(n_components=K, covariance_type=covariance, reg_covar=reg_covar, tol=tol, n_init=1, max_iter=2000)
    if method == "em":
        model = GaussianMixture(**common, random_state=seed)
    else:
        model = BayesianGaussianMixture(
            **common, weight_concentration_prior_type="dirichlet_process", random_state=seed
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data.values)
    X = data.values
    n = X.shape[0]
    covariances = _full_covariances(model, covariance, K, data.n_features)
    order = np.lexsort(model.means_.T[::-1])  # by first feature, ties by the next
    responsibilities = model.predict_proba(X)[:, order]
    log_likelihood = float(model.score(X) * n)
    n_parameters = _n_parameters(covariance, K, data.n_features)
    bic = -2.0 * log_likelihood + n_parameters * np.log(n)
    weights = model.weights_[order]
    covariances = covariances[order]
    return {
        "weights": weights,
        "means": model.means_[order],
        "covariances": covariances,
        "responsibilities": responsibilities,
        "log_likelihood": log_likelihood,
        "n_parameters": n_parameters,
        "bic": bic,
        "aic": -2.0 * log_likelihood + 2.0 * n_parameters,
        "icl": bic - 2.0 * np.log(np.clip(responsibilities.max(axis=1), 1e-300, None)).sum(),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "degenerate": _degenerate_components(X, weights, covariances, allow_empty=method != "em"),
        "relative_variance": _relative_min_variance(X, covariances),
    }


def _n_parameters(covariance: str, K: int, D: int) -> int:
    """Free parameters: K - 1 weights, K * D means and the covariance entries."""
    covariance_parameters = {
        "full": K * D * (D + 1) // 2,
        "diag": K * D,
        "spherical": K,
        "tied": D * (D + 1) // 2,
    }[covariance]
    return K - 1 + K * D + covariance_parameters


def _full_covariances(model: GaussianMixture | BayesianGaussianMixture, covariance: str, K: int, D: int) -> np.ndarray:
    cov = model.covariances_
    if covariance == "full":
        return np.array(cov)
    if covariance == "tied":
        return np.broadcast_to(cov, (K, D, D)).copy()
    if covariance == "diag":
        return np.einsum("kd,de->kde", cov, np.eye(D))
    return cov[:, None, None] * np.eye(D)


def _relative_min_variance(X: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """Smallest eigenvalue of each covariance after scaling features to unit data variance.

    Constant features are left out: their variance is reg_covar by construction,
    which is not a collapse of the component.
    """
    sd = X.std(axis=0)
    varying = sd > 0
    if not varying.any():
        return np.full(covariances.shape[0], np.inf)
    sd = sd[varying]
    scaled = covariances[:, varying][:, :, varying] / (sd[:, None] * sd[None, :])
    return np.linalg.eigvalsh(scaled)[:, 0]


def _degenerate_components(
    X: np.ndarray, weights: np.ndarray, covariances: np.ndarray, allow_empty: bool = False
) -> np.ndarray:
    collapsed = _relative_min_variance(X, covariances) < COLLAPSE_RELATIVE_VARIANCE
    if allow_empty:  # a DP prior leaves unused components empty on purpose
        return collapsed
    nearly_empty = weights * X.shape[0] < X.shape[1] + 1
    return collapsed | nearly_empty


def _describe(fit: dict[str, Any]) -> str:
    parts = []
    for k in np.flatnonzero(fit["degenerate"]):
        rel = fit["relative_variance"][k]
        if rel < COLLAPSE_RELATIVE_VARIANCE:
            parts.append(f"component {k} collapsed: smallest variance {rel:.1e} of the data's")
        else:
            parts.append(f"component {k} nearly empty: weight {fit['weights'][k]:.3g}")
    return "; ".join(parts)


def _to_dataset(
    fit: dict[str, Any],
    data: Data,
    covariance: str,
    reg_covar: float,
    seed: int,
    n_init: int,
    tol: float,
) -> xr.Dataset:
    K = len(fit["weights"])
    coords = {
        "component": np.arange(K),
        "feature": data.feature_names,
        "feature_bis": data.feature_names,
        "obs_id": np.arange(data.n_obs),
    }
    return xr.Dataset(
        {
            "weights": ("component", fit["weights"]),
            "means": (("component", "feature"), fit["means"]),
            "covariances": (("component", "feature", "feature_bis"), fit["covariances"]),
            "responsibilities": (("obs_id", "component"), fit["responsibilities"]),
            "degenerate": ("component", fit["degenerate"]),
            **{name: ((), fit[name]) for name in SCALAR_FIELDS},
        },
        coords=coords,
        attrs={
            "bayesmix_baseline": "em",
            "covariance": covariance,
            "n_components": K,
            "reg_covar": reg_covar,
            "n_init": n_init,
            "tol": tol,
            "random_seed": seed,
        },
    )
