"""Label switching: align the components of every posterior draw to one reference.

A mixture's likelihood is invariant under permutations of its components, so
different chains (and, rarely, one chain over time) settle in different
labellings, and every per-component summary mixes them. :func:`relabel` finds,
for each draw, the permutation that best matches a reference and applies it to
every variable with a ``component`` dimension.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from bayesmix._log_likelihood import total_log_likelihood
from bayesmix._result import SAMPLE_DIMS, check_result, family_of, flatten_draws, mixture_parameters, observed_data_of
from bayesmix._validation import check_choice
from bayesmix.components._mixture_density import chunked_over_draws, membership_probabilities
from bayesmix.models._base import kind_of

METHODS = ("hungarian", "stephens")
# Stephens' algorithm holds every draw's membership matrix in memory.
_STEPHENS_MAX_ELEMENTS = 60_000_000


def relabel(
    result: xr.DataTree,
    *,
    reference: xr.Dataset | None = None,
    method: str = "hungarian",
    max_iter: int = 100,
) -> xr.DataTree:
    r"""Undo label switching by permuting the components of every draw.

    Parameters
    ----------
    result : xarray.DataTree
        A fit result from :func:`bayesmix.fit`.
    reference : xarray.Dataset, optional
        An EM result from :func:`bayesmix.em` with the same components and
        features. By default the reference is a pivot: the posterior draw of
        highest log-density.
    method : {"hungarian", "stephens"}, default "hungarian"
        ``"hungarian"`` solves, for each draw :math:`s`, the minimum-cost
        assignment (``scipy.optimize.linear_sum_assignment``) with cost

        .. math::

            c_{jk} = \sum_d \Big(\frac{\mu^{(s)}_{jd} - \mu^{\mathrm{ref}}_{kd}}{s_d}\Big)^2
                   + \Big(\frac{w^{(s)}_j - w^{\mathrm{ref}}_k}{1/K}\Big)^2,

        :math:`\mu` the family's location (means; Poisson rates; answer
        probabilities, unstandardized; for a mixture of columns of several
        families every block's side by side), standardized by the data's
        spread :math:`s_d`, and weights by their typical size :math:`1/K`.
        ``"stephens"`` runs Stephens' (2000) algorithm: starting
        from the Hungarian labelling, it alternates between the average
        membership matrix :math:`Q` and, per draw, the permutation
        minimizing :math:`\sum_i \mathrm{KL}(p^{(s)}_{i\cdot} \,\|\, Q_{i\cdot})`,
        until no draw changes; it uses the whole classification, so it also
        separates components whose means are close.
    max_iter : int, default 100
        Iteration cap of Stephens' algorithm.

    Returns
    -------
    xarray.DataTree
        A copy of ``result`` whose ``posterior`` (and ``posterior_predictive``)
        variables with a ``component`` dim are permuted draw by draw, plus a
        ``relabel`` group: ``permutation`` (chain, draw, component), where
        relabelled component ``k`` is original component ``permutation[k]``,
        composed with any earlier relabelling, and attrs ``method``,
        ``reference``, ``n_changed`` (draws this call changed) and ``summary``.
        The ``log_likelihood`` group is unchanged: it does not depend on labels.
        Relabelling twice with the same reference changes nothing.
    """
    result = check_result(result)
    method = check_choice(method, METHODS, name="method")
    posterior = result["posterior"].to_dataset()
    kind = kind_of(result.attrs)
    if kind.is_network:
        raise ValueError(
            "Argument `result` is an MDN fit, whose components are not identified by any parameter; "
            "bayesmix.predict_components matches them by their functions of x instead."
        )
    if "component" not in posterior.dims or posterior.sizes["component"] < 2:
        return _with_permutation(result, _identity(posterior), method, "none", 0)
    if kind.is_regression:
        perms, ref_label = _regression_permutations(result, posterior, reference, method)
    else:
        perms, ref_label = _mixture_permutations(result, posterior, reference, method, max_iter)

    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    perm_da = xr.DataArray(
        perms.reshape(n_chain, n_draw, -1),
        dims=(*SAMPLE_DIMS, "component"),
        coords={"chain": posterior["chain"], "draw": posterior["draw"], "component": posterior["component"]},
    )
    n_changed = int((perms != np.arange(perms.shape[1])).any(axis=1).sum())
    relabelled = result.copy()
    for group in ("posterior", "posterior_predictive"):
        if group in result.children:
            permuted = _permute(result[group].to_dataset(), perm_da)
            if kind.is_regression and group == "posterior":
                from bayesmix.models.mixreg import rebase_gate

                permuted = rebase_gate(permuted, kind.settings)
            relabelled[group] = xr.DataTree(permuted)
    if "relabel" in result.children:
        # Relabelled k is current perm[k], which was original previous[perm[k]].
        previous = result["relabel"]["permutation"].transpose(*SAMPLE_DIMS, "component").values
        perm_da = perm_da.copy(data=np.take_along_axis(previous, perm_da.values, axis=-1))
    return _with_permutation(relabelled, perm_da, method, ref_label, n_changed)


def _mixture_permutations(result, posterior, reference, method, max_iter) -> tuple[np.ndarray, str]:
    data = observed_data_of(result)
    family = family_of(result)
    locations = _matching_locations(family, data)
    ref_weights, ref_source, ref_label = _reference(result, posterior, reference, data, [n for n, *_ in locations])
    means, spread = _location_features(locations, lambda name: flatten_draws(posterior[name]), data)
    ref_means, _ = _location_features(locations, ref_source, data)
    perms = _hungarian(flatten_draws(posterior["weights"]), means, ref_weights, ref_means, spread)
    if method == "stephens":
        responsibilities = None if reference is None else reference["responsibilities"].values
        perms = _stephens(data.values, posterior, family, perms, responsibilities, max_iter)
    return perms, ref_label


def _regression_permutations(result, posterior, reference, method) -> tuple[np.ndarray, str]:
    """A mixture of regressions matches each component's linear predictor (its value at the experts' mean and
    its slopes per standard deviation, in units of the link's spread for y) and its mean weight."""
    from bayesmix.models.mixreg import info_from_result, matching_features, stacked

    if method == "stephens":
        raise ValueError(
            "method='stephens' applies to mixtures of x; a mixture of regressions is relabelled by its "
            "coefficients (method='hungarian')."
        )
    info = info_from_result(result)
    settings, response = info.settings, info.component_family.response
    weights, locations = matching_features(settings, stacked(posterior, settings, response), info.data.values)
    if reference is None:
        best = int(np.argmax(_draw_log_density(result)))
        ref_weights, ref_locations, label = weights[best], locations[best], "pivot"
    else:
        from bayesmix.models.mixreg import check_solution

        check_solution(info, reference, name="reference")
        ref_weights, ref_locations = matching_features(
            settings, stacked(reference, settings, response), info.data.values
        )
        ref_weights, ref_locations = ref_weights[0], ref_locations[0]
        label = reference.attrs.get("bayesmix_baseline", "reference")
    return _hungarian(weights, locations, ref_weights, ref_locations, np.ones(locations.shape[-1])), label


def _identity(posterior: xr.Dataset) -> xr.DataArray:
    K = posterior.sizes.get("component", 1)
    shape = (posterior.sizes["chain"], posterior.sizes["draw"], K)
    return xr.DataArray(np.broadcast_to(np.arange(K), shape).copy(), dims=(*SAMPLE_DIMS, "component"))


def _matching_locations(family, data) -> list[tuple[str, np.ndarray, bool]]:
    """The location variables relabelling matches on: name, the data columns it covers, and whether it has a
    category axis. The family's location, or, for a mixture of columns of several families, every block's."""
    locations = getattr(family, "matching_locations", None)
    locations = [(family.location, np.arange(data.n_features))] if locations is None else locations()
    dims = family.parameter_dims()
    return [(name, columns, len(dims[name]) > 2) for name, columns in locations]


def _location_features(locations, source, data) -> tuple[np.ndarray, np.ndarray]:
    """The locations side by side, (..., K, F), with the spread that standardizes each: the data's standard
    deviation per feature (missing cells left out), or 1 for answer probabilities, already on one scale."""
    values, spreads = [], []
    for name, columns, categories in locations:
        value = np.asarray(source(name))
        if categories:  # (component, feature, category) probabilities: all of them
            value = value.reshape(*value.shape[:-2], -1)
            spreads.append(np.ones(value.shape[-1]))
        else:
            spreads.append(np.nanstd(data.values[:, columns], axis=0))
        values.append(value)
    return np.concatenate(values, axis=-1), np.concatenate(spreads)


def _reference(result: xr.DataTree, posterior: xr.Dataset, reference: Any, data, names: list[str]):
    """The reference's weights, a function of a location's name giving its values there, and its label."""
    K = posterior.sizes["component"]
    if reference is None:
        best = int(np.argmax(_draw_log_density(result)))
        return flatten_draws(posterior["weights"])[best], lambda name: flatten_draws(posterior[name])[best], "pivot"
    if not isinstance(reference, xr.Dataset) or not {"weights", *names} <= set(reference):
        raise TypeError(
            "Argument `reference` must be an EM result from bayesmix.em (an xarray.Dataset with "
            f"weights and {', '.join(names)}) or None for the pivot draw, but got {type(reference).__name__}."
        )
    if reference.sizes.get("component") != K or reference.sizes.get("feature") != data.n_features:
        raise ValueError(
            f"Argument `reference` has {reference.sizes.get('component')} components and "
            f"{reference.sizes.get('feature')} features but the result has {K} and {data.n_features}; "
            "run bayesmix.em with the model's number of components."
        )
    label = reference.attrs.get("bayesmix_baseline", "reference")
    return reference["weights"].values, lambda name: reference[name].values, label


def _draw_log_density(result: xr.DataTree) -> np.ndarray:
    """Log posterior density of each draw (from the sampler), else the total log-likelihood."""
    stats = result["sample_stats"] if "sample_stats" in result.children else None
    for name in ("lp", "logp"):
        if stats is not None and name in stats:
            return flatten_draws(stats[name])
    return flatten_draws(total_log_likelihood(result))


def _hungarian(weights, means, ref_weights, ref_means, spread) -> np.ndarray:
    """Per-draw minimum-cost permutation onto the reference; shape (n_draws, K)."""
    K = weights.shape[1]
    spread = np.where(spread > 0, spread, 1.0)
    mean_cost = (((means[:, :, None, :] - ref_means[None, None, :, :]) / spread) ** 2).sum(-1)
    weight_cost = ((weights[:, :, None] - ref_weights[None, None, :]) * K) ** 2
    return _assign(mean_cost + weight_cost)


def _assign(cost: np.ndarray) -> np.ndarray:
    """Per-draw minimum-cost permutations for costs (S, K_draw, K_ref): relabelled k is perm[s, k]."""
    perms = np.empty(cost.shape[:2], dtype=np.int64)
    for s in range(cost.shape[0]):
        rows, cols = linear_sum_assignment(cost[s])
        perms[s, cols] = rows
    return perms


def _stephens(X, posterior, family, perms, responsibilities, max_iter) -> np.ndarray:
    """Stephens' (2000) KL relabelling, started from ``perms``."""
    params = mixture_parameters(posterior, family)
    S, K = params[0].shape
    if S * X.shape[0] * K > _STEPHENS_MAX_ELEMENTS:
        raise ValueError(
            f"method='stephens' would hold {S} draws x {X.shape[0]} observations x {K} components "
            "of membership probabilities in memory; thin the draws first or use method='hungarian'."
        )
    p = chunked_over_draws(functools.partial(membership_probabilities, family), X, *params)  # (S, N, K)
    log_p = np.log(np.clip(p, 1e-300, None))
    rows = np.arange(S)[:, None]
    for _ in range(max_iter):
        permuted = p[rows, :, perms].transpose(0, 2, 1)  # (S, N, K): relabelled memberships
        q = permuted.mean(axis=0) if responsibilities is None else responsibilities
        responsibilities = None  # the EM reference only seeds the first pass
        log_q = np.log(np.clip(q, 1e-300, None))
        # cost[s, j, k] = sum_i p_sij (log p_sij - log q_ik)
        cost = (p * log_p).sum(1)[:, :, None] - np.einsum("sij,ik->sjk", p, log_q)
        new = _assign(cost)
        if np.array_equal(new, perms):
            break
        perms = new
    return perms


def _permute(ds: xr.Dataset, perm: xr.DataArray) -> xr.Dataset:
    out = ds.copy()
    for name, da in ds.data_vars.items():
        if "component" in da.dims:
            moved = da.isel(component=perm.drop_vars("component", errors="ignore"))
            out[name] = moved.assign_coords(component=da["component"]).transpose(*da.dims)
    return out


def _with_permutation(result: xr.DataTree, perm: xr.DataArray, method: str, reference: str, n_changed: int):
    n_total = int(np.prod([perm.sizes[d] for d in SAMPLE_DIMS]))
    switched_chains = (
        [
            int(c)
            for c in perm["chain"].values
            if (perm.sel(chain=c) != np.arange(perm.sizes["component"])).all("component").mean() > 0.5
        ]
        if "chain" in perm.coords
        else []
    )
    if reference == "none":  # one component: there is no labelling to choose
        summary = f"nothing to relabel: one component, {n_total} draws"
    else:
        summary = f"relabelled {n_changed} of {n_total} draws by {method} matching to the {reference} reference"
    if switched_chains:
        summary += f"; chains {switched_chains} were mostly in another labelling"
    out = result.copy()
    out["relabel"] = xr.DataTree(
        xr.Dataset(
            {"permutation": perm},
            attrs={"method": method, "reference": reference, "n_changed": n_changed, "summary": summary},
        )
    )
    return out
