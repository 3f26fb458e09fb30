r"""Model comparison by Pareto-smoothed importance-sampling leave-one-out (PSIS-LOO).

For each candidate fit, the expected log pointwise predictive density

.. math::

    \widehat{\mathrm{elpd}}_{\mathrm{loo}} = \sum_{i=1}^{n} \log
    \frac{\sum_s w_i^{(s)} p(x_i \mid \theta^{(s)})}{\sum_s w_i^{(s)}},
    \qquad w_i^{(s)} \propto \frac{1}{p(x_i \mid \theta^{(s)})}
    \text{ (Pareto smoothed)},

is estimated from the pointwise log-likelihood of each fit (for an MDN,
:math:`p(y_i \mid x_i, \theta^{(s)})`), read from its ``log_likelihood`` group
or computed from the posterior and the data. The work is arviz-stats'
:func:`arviz_stats.loo` and :func:`arviz_stats.compare`; this module checks
that the candidates can be compared at all (same observations, the same kind
of likelihood, more than one draw) and counts the observations whose Pareto
shape :math:`\hat k` exceeds 0.7, where the importance-sampling estimate is
unreliable (Vehtari, Gelman & Gabry 2017). The draws of an ADVI fit come from the
approximation :math:`q`, not from the posterior: their importance ratios include
:math:`p(\theta^{(s)} \mid x) / q(\theta^{(s)})` (the fit's ``log_p`` and ``log_q``),
as arviz-stats' :func:`arviz_stats.loo_approximate_posterior` computes them.

For a large fit (draws x observations above 5e7, where the pointwise array
would take more than 400 MB) the estimate is subsampled (Magnusson et al.
2019): PSIS-LOO is computed exactly for :math:`m` rows drawn without
replacement, and the difference estimator

.. math::

    \widehat{\mathrm{elpd}}_{\mathrm{loo}} = \sum_{i=1}^{n} \tilde\pi_i
    + \frac{n}{m} \sum_{j \in \text{sample}} \big(\mathrm{elpd}_j - \tilde\pi_j\big)

corrects the log pointwise predictive density
:math:`\tilde\pi_i = \log \frac{1}{S} \sum_s p(x_i \mid \theta^{(s)})`
of every row, computed in chunks of rows, so that memory does not grow with
draws x observations. The standard error then includes the subsampling's
(``subsampling_se``); arviz-stats' estimators do the arithmetic
(:func:`arviz_stats.loo_subsample` cannot be called itself: it reads the
stored draws x observations array). Every candidate of the same data uses the
same rows, so :func:`compare` differences them row by row.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats.utils import ELPDDataLOO, ELPDDataLOOSubsample
from scipy.special import logsumexp

from bayesmix._log_likelihood import (
    STORE_LIMIT,
    log_likelihood_dataset,
    log_mean_likelihood,
    model_info_of,
    row_chunks,
)
from bayesmix._result import check_result
from bayesmix.models._base import kind_of

__all__ = ["LOOWarning", "compare", "loo", "pointwise_elpd"]

# Pareto k above which PSIS-LOO is unreliable for an observation (Vehtari et al. 2017).
PARETO_K_THRESHOLD = 0.7
# Rows whose PSIS-LOO a subsampled estimate computes exactly: the subsampling's standard error is then a
# few elpd units at N = 1e6 for the mixtures measured (benchmarks/large_data.md).
SUBSAMPLE_ROWS = 1000
# The same rows for every candidate of the same data, so that compare's differences pair them.
SUBSAMPLE_SEED = 20190815
# Draws behind each row's log predictive density (the difference estimator's approximation; its exact
# value matters only through the variance of the correction).
APPROXIMATION_DRAWS = 1000
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
    "loo_rows",
    "subsampling_dse",
    "family",
    "method",
]


class LOOWarning(UserWarning):
    """PSIS-LOO is unreliable for some observations of some candidates (Pareto k > 0.7)."""


def loo(results: Mapping[str, xr.DataTree], *, subsample: int | bool | None = None) -> dict[str, azs.ELPDData]:
    """PSIS-LOO of each candidate, after checking that they can be compared.

    Parameters
    ----------
    results : mapping of str to xarray.DataTree
        Candidate fits from :func:`bayesmix.fit` (relabelled or not: LOO is
        label-invariant), keyed by name.
    subsample : int or bool, optional
        The number of rows whose PSIS-LOO is computed exactly in a subsampled
        estimate (see the module's description); True for 1,000, False for
        none (exact PSIS-LOO on every row, which holds draws x observations
        values in memory). None (the default) subsamples a fit whose
        ``log_likelihood`` group was not stored and whose draws x
        observations exceed 5e7.

    Returns
    -------
    dict of str to arviz_stats.ELPDData
        Pointwise PSIS-LOO results (``elpd_i``, ``pareto_k``), in the order
        given; a subsampled one is an ``ELPDDataLOOSubsample``, whose
        ``elpd_i`` and ``pareto_k`` are NaN outside the rows it computed
        (``loo_subsample_observations``).
    """
    results = _check_results(results)
    rows = _checked_subsample(subsample)
    elpd = {}
    for name, result in results.items():
        with warnings.catch_warnings():
            # arviz-stats warns about high Pareto k per candidate; compare() warns once for all of them.
            warnings.simplefilter("ignore", UserWarning)
            m = _subsample_size(result, rows)
            elpd[name] = _exact_loo(result) if m is None else _subsampled_loo(result, m)
    return elpd


def pointwise_elpd(result: xr.DataTree) -> np.ndarray:
    """PSIS-LOO elpd of every training row (its leave-one-out log predictive density), shape (n_obs,).

    Read from the stored ``log_likelihood`` group when the fit has one; otherwise computed a chunk of rows at
    a time (Pareto smoothing is per row), in memory bounded whatever the number of rows.
    """
    if "log_likelihood" in result.children:
        return np.asarray(_psis(result, result).elpd_i, dtype=float)
    posterior = result["posterior"].to_dataset()
    info = model_info_of(result)
    n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]
    out = np.empty(info.data.n_obs)
    reff = _relative_efficiency(posterior, n_draws)
    for rows in row_chunks(info.data.n_obs, n_draws):
        tree = xr.DataTree.from_dict(
            {"posterior": posterior, "log_likelihood": log_likelihood_dataset(posterior, info, _indices(rows))}
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out[rows] = _psis(tree, result, reff).elpd_i.values
    return out


def _relative_efficiency(posterior: xr.Dataset, n_draws: int) -> float:
    """ESS / draws averaged over the posterior, as arviz-stats' loo computes it, to compute it once."""
    if posterior.sizes["chain"] == 1:
        return 1.0
    ess = posterior.azstats.ess(method="mean")
    return float(np.hstack([ess[v].values.ravel() for v in ess.data_vars]).mean() / n_draws)


def _indices(rows: slice) -> np.ndarray:
    return np.arange(rows.start, rows.stop)


def _checked_subsample(subsample: object) -> int | bool | None:
    if subsample is None or isinstance(subsample, bool):
        return subsample
    if not isinstance(subsample, int | np.integer) or subsample < 2:
        raise ValueError(
            "Argument `subsample` must be True, False, None or a number of rows of at least 2 "
            f"but got {subsample!r:.60}."
        )
    return int(subsample)


def _subsample_size(result: xr.DataTree, rows: int | bool | None) -> int | None:
    """How many rows a subsampled estimate of ``result`` computes exactly; None for exact PSIS-LOO."""
    posterior = result["posterior"]
    n_obs = next(iter(result["observed_data"].data_vars.values())).sizes["obs_id"]
    if rows is None:
        large = posterior.sizes["chain"] * posterior.sizes["draw"] * n_obs > STORE_LIMIT
        rows = "log_likelihood" not in result.children and large
    if rows is False:
        return None
    m = SUBSAMPLE_ROWS if rows is True else rows
    return None if m >= n_obs else m


def _exact_loo(result: xr.DataTree) -> azs.ELPDData:
    if "log_likelihood" in result.children:
        return _psis(result, result)
    posterior = result["posterior"].to_dataset()
    log_lik = log_likelihood_dataset(posterior, model_info_of(result))
    return _psis(xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": log_lik}), result)


def _psis(tree: xr.DataTree, result: xr.DataTree, reff: float | None = None) -> azs.ELPDData:
    """Pointwise PSIS-LOO of the log-likelihood in ``tree`` (some or all rows of ``result``'s). For draws from
    an ADVI approximation q, not from the posterior, arviz-stats' loo_approximate_posterior, whose importance
    ratios include p / q at each draw (``log_p``, ``log_q`` in the fit's sample_stats)."""
    stats = result["sample_stats"] if "sample_stats" in result.children else None
    if stats is not None and "log_q" in stats and "log_p" in stats:
        return azs.loo_approximate_posterior(tree, stats["log_p"], stats["log_q"], pointwise=True)
    return azs.loo(tree, pointwise=True, reff=reff)


def _subsampled_loo(result: xr.DataTree, m: int) -> ELPDDataLOOSubsample:
    """PSIS-LOO of ``m`` rows and the difference estimator over all (Magnusson et al. 2019)."""
    posterior = result["posterior"].to_dataset()
    info = model_info_of(result)
    n_obs = info.data.n_obs
    rows = np.sort(np.random.default_rng(SUBSAMPLE_SEED).choice(n_obs, size=m, replace=False))
    approximation = xr.DataArray(
        log_mean_likelihood(result, APPROXIMATION_DRAWS), dims="obs_id", coords={"obs_id": np.arange(n_obs)}
    )
    log_lik = log_likelihood_dataset(posterior, info, rows)
    exact = _psis(xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": log_lik}), result)
    n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]
    values = next(iter(log_lik.data_vars.values()))
    lpd = xr.DataArray(
        logsumexp(values.transpose("chain", "draw", "obs_id").values.reshape(n_draws, m), axis=0) - np.log(n_draws),
        dims="obs_id",
        coords={"obs_id": rows},
    )
    elpd_hat, subsampling_se, se = exact.elpd_i.azstats.diff_srs_estimator(
        lpd_approx_sample=approximation.isel(obs_id=rows), lpd_approx_all=approximation, n_data_points=n_obs
    )
    p_loo, _, _ = (lpd - exact.elpd_i).azstats.srs_estimator(n_data_points=n_obs)
    elpd_i = xr.full_like(approximation, np.nan).rename("elpd_i")
    pareto_k = xr.full_like(approximation, np.nan).rename("pareto_k")
    elpd_i[rows] = exact.elpd_i.values
    pareto_k[rows] = exact.pareto_k.values
    return ELPDDataLOOSubsample(
        elpd=float(elpd_hat),
        se=float(se),
        p=float(p_loo),
        n_samples=n_draws,
        n_data_points=n_obs,
        scale="log",
        warning=exact.warning,
        good_k=exact.good_k,
        elpd_i=elpd_i,
        pareto_k=pareto_k,
        subsample_size=m,
        subsampling_se=float(subsampling_se),
        loo_subsample_observations=rows,
        elpd_loo_approx=approximation,
    )


def compare(
    results: Mapping[str, xr.DataTree], *, method: str = "stacking", subsample: int | bool | None = None
) -> pd.DataFrame:
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
    subsample : int or bool, optional
        As for :func:`loo`: None subsamples the fits too large to hold their
        pointwise log-likelihood (draws x observations above 5e7, not stored).

    Returns
    -------
    pandas.DataFrame
        One row per candidate, best first: ``rank``, ``elpd_loo`` and its
        standard error ``se``, the effective number of parameters ``p_loo``,
        ``elpd_diff`` (to the best candidate, <= 0) and its standard error
        ``dse``, the model ``weight``, ``n_high_pareto_k`` (observations with
        Pareto k > 0.7, among the rows computed), ``max_pareto_k``,
        ``loo_rows`` (the rows whose PSIS-LOO was computed: all of them unless
        subsampled), ``subsampling_dse`` (the part of ``dse`` due to
        subsampling, 0 when exact), and the ``family`` and fitting ``method``.

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
    return comparison_table(loo(results, subsample=subsample), results, method=method)


def comparison_table(
    elpd: Mapping[str, azs.ELPDData], results: Mapping[str, xr.DataTree], *, method: str = "stacking"
) -> pd.DataFrame:
    """The table of :func:`compare` from already computed PSIS-LOO results."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = azs.compare(dict(elpd), method=method, round_to="none")
        if any(isinstance(e, ELPDDataLOOSubsample) for e in elpd.values()):
            weights = azs.compare(_on_shared_rows(elpd), method=method, round_to="none")["weight"]
            table["weight"] = weights.reindex(table.index)
    table = table.rename(columns={"elpd": "elpd_loo", "p": "p_loo"})
    if "subsampling_dse" not in table:
        table["subsampling_dse"] = 0.0
    table["subsampling_dse"] = table["subsampling_dse"].fillna(0.0)
    k = {name: computed_pareto_k(e) for name, e in elpd.items()}
    table["loo_rows"] = [k[name].size for name in table.index]
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


def computed_rows(elpd: azs.ELPDData) -> np.ndarray:
    """The rows whose PSIS-LOO a result computed: the subsample of a subsampled one, else every row."""
    if isinstance(elpd, ELPDDataLOOSubsample):
        return np.asarray(elpd.loo_subsample_observations)
    return np.arange(elpd.n_data_points)


def computed_pareto_k(elpd: azs.ELPDData) -> np.ndarray:
    """The Pareto shapes of the rows whose PSIS-LOO was computed; a NaN shape (the tail fit failed, e.g. on
    overflowing weights) is as unreliable as a high one."""
    return np.nan_to_num(np.asarray(elpd.pareto_k, float).ravel()[computed_rows(elpd)], nan=np.inf)


def _on_shared_rows(elpd: Mapping[str, azs.ELPDData]) -> dict[str, azs.ELPDData]:
    """The results restricted to the rows whose PSIS-LOO every one computed, for the model weights: stacking
    weighs each row's elpd, which a subsampled result has for its rows only (arviz-stats' weights come out
    NaN-driven, 0.5 each, on the full arrays). A random subsample's mean log score estimates the whole data's."""
    shared = None
    for e in elpd.values():
        rows = computed_rows(e)
        shared = rows if shared is None else np.intersect1d(shared, rows)
    restricted = {}
    for name, e in elpd.items():
        values = e.elpd_i.isel(obs_id=shared)
        restricted[name] = ELPDDataLOO(
            elpd=float(values.sum()),
            se=e.se,
            p=e.p,
            n_samples=e.n_samples,
            n_data_points=shared.size,
            scale="log",
            warning=e.warning,
            good_k=e.good_k,
            elpd_i=values,
        )
    return restricted


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
