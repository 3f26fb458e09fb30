r"""Model comparison by Pareto-smoothed importance-sampling leave-one-out (PSIS-LOO).

For each candidate fit, the expected log pointwise predictive density

.. math::

    \widehat{\mathrm{elpd}}_{\mathrm{loo}} = \sum_{i=1}^{n} \log
    \frac{\sum_s w_i^{(s)} p(x_i \mid \theta^{(s)})}{\sum_s w_i^{(s)}},
    \qquad w_i^{(s)} \propto \frac{1}{p(x_i \mid \theta^{(s)})}
    \text{ (Pareto smoothed)},

is estimated from the pointwise log-likelihood every bayesmix result carries
(for an MDN, :math:`p(y_i \mid x_i, \theta^{(s)})`). The work is arviz-stats'
:func:`arviz_stats.loo` and :func:`arviz_stats.compare`; this module checks
that the candidates can be compared at all (same observations, the same kind
of likelihood, more than one draw) and counts the observations whose Pareto
shape :math:`\hat k` exceeds 0.7, where the importance-sampling estimate is
unreliable (Vehtari, Gelman & Gabry 2017).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr

from bayesmix._result import check_result
from bayesmix.models._base import kind_of

__all__ = ["LOOWarning", "compare", "loo"]

# Pareto k above which PSIS-LOO is unreliable for an observation (Vehtari et al. 2017).
PARETO_K_THRESHOLD = 0.7
COLUMNS = [
    "rank",
    "elpd_loo",
    "se",
    "p_loo",
    "elpd_diff",
    "dse",
    "weight",
    "n_high_pareto_k",
    "max_pareto_k",
    "family",
    "method",
]


class LOOWarning(UserWarning):
    """PSIS-LOO is unreliable for some observations of some candidates (Pareto k > 0.7)."""


def loo(results: Mapping[str, xr.DataTree]) -> dict[str, azs.ELPDData]:
    """PSIS-LOO of each candidate, after checking that they can be compared.

    Parameters
    ----------
    results : mapping of str to xarray.DataTree
        Candidate fits from :func:`bayesmix.fit` (relabelled or not: LOO is
        label-invariant), keyed by name.

    Returns
    -------
    dict of str to arviz_stats.ELPDData
        Pointwise PSIS-LOO results (``elpd_i``, ``pareto_k``), in the order given.
    """
    results = _check_results(results)
    elpd = {}
    for name, result in results.items():
        with warnings.catch_warnings():
            # arviz-stats warns about high Pareto k per candidate; compare() warns once for all of them.
            warnings.simplefilter("ignore", UserWarning)
            elpd[name] = azs.loo(result, pointwise=True)
    return elpd


def compare(results: Mapping[str, xr.DataTree], *, method: str = "stacking") -> pd.DataFrame:
    """Rank candidate fits to the same data by PSIS-LOO.

    Parameters
    ----------
    results : mapping of str to xarray.DataTree
        At least two fits from :func:`bayesmix.fit` to the same observations,
        keyed by the names to show. Finite and Dirichlet-process mixtures can
        be compared with each other; MDNs only with MDNs, since their
        likelihood is conditional on x; discrete component families (Poisson,
        negative binomial) only with discrete ones, since their elpd are log
        probabilities where a continuous family's are log densities. MAP fits have a single draw and
        cannot be compared by PSIS-LOO.
    method : {"stacking", "bb-pseudo-bma", "pseudo-bma"}, default "stacking"
        How the model weights are computed (arviz-stats' ``compare``).

    Returns
    -------
    pandas.DataFrame
        One row per candidate, best first: ``rank``, ``elpd_loo`` and its
        standard error ``se``, the effective number of parameters ``p_loo``,
        ``elpd_diff`` (to the best candidate, <= 0) and its standard error
        ``dse``, the model ``weight``, ``n_high_pareto_k`` (observations with
        Pareto k > 0.7), ``max_pareto_k``, and the ``family`` and fitting
        ``method``.

    Warns
    -----
    LOOWarning
        When some candidates have observations with Pareto k > 0.7; the
        message names them.

    Examples
    --------
    >>> table = bm.compare({"K=2": fit_2, "K=3": fit_3})  # doctest: +SKIP
    >>> table[["elpd_loo", "elpd_diff", "dse", "weight"]]  # doctest: +SKIP
    """
    methods = ("stacking", "bb-pseudo-bma", "pseudo-bma")
    if method not in methods:
        raise ValueError(f"Argument `method` must be one of {list(methods)} but got {method!r}.")
    if not isinstance(results, Mapping) or len(results) < 2:
        raise ValueError(
            "Argument `results` must be a dict of at least two fit results, name -> DataTree, "
            f"but got {type(results).__name__}{f' of {len(results)}' if isinstance(results, Mapping) else ''}."
        )
    results = _check_results(results)
    return comparison_table(loo(results), results, method=method)


def comparison_table(
    elpd: Mapping[str, azs.ELPDData], results: Mapping[str, xr.DataTree], *, method: str = "stacking"
) -> pd.DataFrame:
    """The table of :func:`compare` from already computed PSIS-LOO results."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = azs.compare(dict(elpd), method=method, round_to="none")
    table = table.rename(columns={"elpd": "elpd_loo", "p": "p_loo"})
    # A NaN shape (the tail fit failed, e.g. on overflowing weights) is as unreliable as a high one.
    k = {name: np.nan_to_num(np.asarray(e.pareto_k, float).ravel(), nan=np.inf) for name, e in elpd.items()}
    table["n_high_pareto_k"] = [int((k[name] > PARETO_K_THRESHOLD).sum()) for name in table.index]
    table["max_pareto_k"] = [float(k[name].max()) for name in table.index]
    table["family"] = [results[name].attrs["bayesmix_family"] for name in table.index]
    table["method"] = [results[name].attrs.get("method", "") for name in table.index]
    table.index.name = "candidate"
    flagged = table.loc[table["n_high_pareto_k"] > 0, "n_high_pareto_k"]
    if len(flagged):
        listing = ", ".join(f"{name!r} ({n} of {k[name].size})" for name, n in flagged.items())
        warnings.warn(
            f"PSIS-LOO is unreliable for observations with Pareto k > {PARETO_K_THRESHOLD} in {listing}; "
            "their elpd may be overestimated: check those points (often outliers a small component "
            "tries to own) or compare by K-fold cross-validation.",
            LOOWarning,
            stacklevel=3,
        )
    return table[COLUMNS]


def _check_results(results: object) -> dict[str, xr.DataTree]:
    if not isinstance(results, Mapping) or not results:
        raise ValueError(
            f"Argument `results` must be a non-empty dict of fit results, name -> DataTree, "
            f"but got {type(results).__name__}."
        )
    checked = {}
    for name, result in results.items():
        result = check_result(result, name=f"results[{name!r}]")
        n_draws = result["posterior"].sizes["chain"] * result["posterior"].sizes["draw"]
        if n_draws < 2:
            raise ValueError(
                f"Argument `results`: {name!r} has a single draw (a {result.attrs.get('method')!r} fit); "
                "PSIS-LOO needs posterior draws: fit it with method='nuts' or 'advi', or compare point fits "
                "on held-out data."
            )
        checked[str(name)] = result
    families = {r.attrs["bayesmix_family"] for r in checked.values()}
    conditional = {kind_of(r.attrs).is_conditional for r in checked.values()}
    if len(conditional) > 1:
        raise ValueError(
            f"Argument `results` mixes families {sorted(families)}: an MDN's likelihood is p(y | x), a "
            "mixture's p(x), so their elpd are not comparable; compare MDNs only with MDNs."
        )
    kinds = {name: kind_of(r.attrs) for name, r in checked.items()}
    discrete = sorted(n for n, k in kinds.items() if not k.is_conditional and k.component_family.discrete)
    continuous = sorted(n for n, k in kinds.items() if not k.is_conditional and not k.component_family.discrete)
    if discrete and continuous:
        raise ValueError(
            f"Argument `results` mixes discrete component families ({', '.join(map(repr, discrete))}: "
            f"probabilities of counts) with continuous ones ({', '.join(map(repr, continuous))}: densities); "
            "their elpd are on different scales and not comparable. Compare discrete families with discrete "
            "ones (e.g. Poisson against negative binomial) and continuous with continuous."
        )
    first_name, first = next(iter(checked.items()))
    reference = _observations(first)
    for name, result in checked.items():
        if not _same(reference, _observations(result)):
            raise ValueError(
                f"Argument `results`: {name!r} was fitted to other observations than {first_name!r}; "
                "LOO compares models of the same data only."
            )
    return checked


def _observations(result: xr.DataTree) -> list[np.ndarray]:
    groups = [g for g in ("observed_data", "constant_data") if g in result.children]
    return [np.asarray(da.values) for g in groups for da in result[g].to_dataset().data_vars.values()]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True)
    )
