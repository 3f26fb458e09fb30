"""The EM baseline for every component family: scikit-learn's for Gaussian components, the family's own otherwise."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterable
from typing import Any

import pandas as pd
import xarray as xr
from threadpoolctl import threadpool_limits

from bayesmix._validation import DegenerateDataWarning, check_choice, check_n_components, check_positive_int
from bayesmix.baseline import gaussian
from bayesmix.baseline._em import selection_table
from bayesmix.baseline.gaussian import DegenerateSolutionWarning

SCALAR_FIELDS = ("log_likelihood", "n_parameters", "bic", "aic", "icl", "converged")


def em(
    X: Any,
    n_components: int,
    *,
    component: str = "gaussian",
    covariance: str = "full",
    n_init: int = 10,
    random_seed: int | None = None,
    missing: str | None = None,
    y: Any = None,
    experts: Any = None,
    gating: Any = None,
    **options: Any,
) -> xr.Dataset:
    r"""Fit a mixture by expectation-maximization (maximum likelihood), in the posterior's names and dims.

    With ``y``, the mixture of regressions of y on X of
    :func:`bayesmix.models.mixreg` (``component``, ``experts`` and ``gating``
    as there), by flexmix's EM (:mod:`bayesmix.baseline.mixreg`).

    For ``component="gaussian"`` this is scikit-learn's ``GaussianMixture``
    (see :func:`bayesmix.baseline.gaussian.em` for ``reg_covar``, ``tol`` and
    ``method="variational_dp"``, passed through ``options``). For the other
    families it is the family's own EM (:mod:`bayesmix.baseline._em`, with
    the M-step in the family's module of :mod:`bayesmix.components`): the
    Student-t's ECM, the Poisson's closed form, the negative binomial's
    weighted mean and one-dimensional dispersion search, the Bernoulli's and
    the categorical's weighted answer rates (latent class analysis). Each runs from
    ``n_init`` k-means starts (start ``i`` seeded ``random_seed + i``) and
    keeps the highest likelihood.

    Parameters
    ----------
    X : array-like of shape (n_obs, n_features) or (n_obs,), or DataFrame
    n_components : int
    component : {"gaussian", "student_t", "poisson", "negative_binomial", "bernoulli", "categorical"}
        Default "gaussian".
    covariance : {"full", "diag", "spherical", "tied"}, default "full"
        For the Gaussian and Student-t; ignored by the other families.
    n_init : int, default 10
    random_seed : int, optional
        Drawn and recorded in attrs when omitted.
    y : array-like of shape (n_obs,), optional
        The response of a mixture of regressions; ``experts`` and ``gating``
        then name columns of X as in :func:`bayesmix.models.mixreg`.
    missing : {None, "marginalize"}, default None
        As for :func:`bayesmix.models.mixture`: with ``"marginalize"`` the
        E-step uses each row's observed cells only and the M-step weights each
        cell by its row's membership where it is observed (the EM of data
        missing at random); Gaussian components then take bayesmix's EM
        with conditional expectations per pattern of missing cells
        (:mod:`bayesmix.baseline.gaussian_missing`), as scikit-learn refuses NaN.

    Returns
    -------
    xarray.Dataset
        ``weights`` (component), the family's parameters with the posterior's
        names and dims (Gaussian ``means``, ``covariances``; Student-t
        ``means``, ``scale_matrices``, ``degrees_of_freedom``; Poisson
        ``rates``; negative binomial ``means``, ``dispersions``; Bernoulli
        and categorical ``probabilities``), ``responsibilities`` (obs_id, component),
        ``degenerate`` (component: collapsed or fewer than ``n_features + 1``
        points; a Bernoulli class with less than one row's weight), and the scalars
        ``log_likelihood``, ``n_parameters``, ``bic``, ``aic``, ``icl``
        (scikit-learn's sign: lower is better), ``converged``, ``n_iter``.
        Components are sorted by the first feature of their location. A
        mixture of regressions gives ``intercepts`` (component),
        ``coefficients`` (component, feature), the family's ``scales`` or
        ``dispersions``, ``weights`` (with a gate: the average of
        :math:`\pi_k(z_i)` over the rows) and, with a gate,
        ``gating_intercepts`` and ``gating_coefficients``; its components are
        sorted by their linear predictor at the experts' mean.

    Warns
    -----
    DegenerateSolutionWarning
        When the solution has degenerate components.
    """
    from bayesmix.components import get_component  # the families' modules import the EM driver from here
    from bayesmix.models.mixture import check_missing, training_data

    if y is not None or experts is not None or gating is not None:
        return _mixreg_em(X, y, n_components, component, experts, gating, missing, n_init, random_seed, options)
    family = get_component(component)
    marginalize = check_missing(missing, family)
    if getattr(family, "dedicated_model", False) and not marginalize:
        return gaussian.em(X, n_components, covariance=covariance, n_init=n_init, random_seed=random_seed, **options)
    if options:
        raise TypeError(
            f"Unexpected argument(s) {sorted(options)} for component={family.name!r}; they apply to Gaussian "
            "components of complete data only (reg_covar, tol, method)."
        )
    data = training_data(family, X, marginalize)
    K = check_n_components(n_components, data.n_obs)
    covariance = (
        check_choice(covariance, family.covariance_types, name="covariance") if family.covariance_types else None
    )
    n_init = check_positive_int(n_init, name="n_init")
    random_seed = _checked_seed(random_seed, n_init)
    with threadpool_limits(limits=1, user_api="blas"):
        result = family.em(data, K, covariance=covariance, n_init=n_init, seed=random_seed)
    _warn_degenerate(result, K, family.name)
    return result


def _mixreg_em(X, y, n_components, component, experts, gating, missing, n_init, random_seed, options):
    from bayesmix.baseline.mixreg import em_mixreg
    from bayesmix.models.mixreg import prepare

    if y is None:
        raise ValueError(
            "Arguments `experts` and `gating` belong to a mixture of regressions; pass its response as `y`."
        )
    if missing is not None or options:
        unexpected = sorted(options) + (["missing"] if missing is not None else [])
        raise TypeError(f"Unexpected argument(s) {unexpected} for a mixture of regressions (with `y`).")
    problem = prepare(X, y, n_components, component=component, experts=experts, gating=gating)
    n_init = check_positive_int(n_init, name="n_init")
    random_seed = _checked_seed(random_seed, n_init)
    with threadpool_limits(limits=1, user_api="blas"):
        result = em_mixreg(problem, n_init=n_init, seed=random_seed)
    _warn_degenerate(result, problem.n_components, problem.response.family)
    return result


def _checked_seed(random_seed: Any, n_init: int) -> int:
    if random_seed is None:
        return secrets.randbelow(2**31 - n_init)
    if isinstance(random_seed, bool) or not isinstance(random_seed, int):
        raise TypeError(f"Argument `random_seed` must be an int or None but got {random_seed!r}.")
    return int(random_seed)


def _warn_degenerate(result: xr.Dataset, K: int, family: str) -> None:
    if result["degenerate"].any():
        bad = [int(k) for k in result["component"].values[result["degenerate"].values]]
        warnings.warn(
            f"EM with K={K}, component={family!r}: component(s) {bad} are degenerate (nearly empty or "
            "collapsed); use fewer components.",
            DegenerateSolutionWarning,
            stacklevel=3,
        )


def em_table(
    X: Any,
    n_components: Iterable[int] = range(1, 7),
    covariances: Iterable[str] | None = None,
    *,
    component: str = "gaussian",
    n_init: int = 10,
    random_seed: int | None = 0,
    missing: str | None = None,
) -> pd.DataFrame:
    """EM fits for every (covariance, K) of one component family: the model-selection table of R's mclust.

    Parameters
    ----------
    X : array-like or DataFrame
    n_components : iterable of int, default 1..6
    covariances : iterable of str, optional
        Default: every covariance type the family has (none for the count families).
    component : str, default "gaussian"
    n_init : int, default 10
    random_seed : int, default 0
    missing : {None, "marginalize"}, default None
        As for :func:`em`.

    Returns
    -------
    pandas.DataFrame
        One row per fit: ``covariance`` (None for count families),
        ``n_components``, ``log_likelihood``, ``n_parameters``, ``bic``,
        ``aic``, ``icl`` (lower is better), ``converged``, ``degenerate`` and
        ``best`` (the BIC-best non-degenerate fit). ``table.attrs["best"]``
        holds that choice.
    """
    from bayesmix.components import get_component  # the families' modules import the EM driver from here
    from bayesmix.models.mixture import check_missing, training_data

    family = get_component(component)
    marginalize = check_missing(missing, family)
    if getattr(family, "dedicated_model", False) and not marginalize:
        types = gaussian.COVARIANCE_TYPES if covariances is None else covariances
        return gaussian.em_table(X, n_components, types, n_init=n_init, random_seed=random_seed)
    data = training_data(family, X, marginalize)
    ks = [check_n_components(k, data.n_obs) for k in n_components]
    if family.covariance_types:
        types = family.covariance_types if covariances is None else covariances
        covs = [check_choice(c, family.covariance_types, name="covariance") for c in types]
    elif covariances is not None:
        raise ValueError(f"Argument `covariances` does not apply to component={family.name!r}; leave it out.")
    else:
        covs = [None]
    if not ks or not covs:
        raise ValueError("Arguments `n_components` and `covariances` must each name at least one value.")
    rows = []
    for cov in covs:
        for k in ks:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DegenerateSolutionWarning)
                warnings.simplefilter("ignore", DegenerateDataWarning)
                fit = em(
                    X,  # as given: categorical labels are read from it again
                    k,
                    component=component,
                    covariance=cov or "full",
                    n_init=n_init,
                    random_seed=random_seed,
                    missing=missing,
                )
            rows.append(
                {
                    "covariance": cov,
                    "n_components": k,
                    **{name: fit[name].item() for name in SCALAR_FIELDS},
                    "degenerate": bool(fit["degenerate"].any()),
                }
            )
    return selection_table(rows)
