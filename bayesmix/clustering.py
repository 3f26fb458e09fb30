"""Posterior summaries of the partition: cluster counts, co-clustering and a point partition.

They are computed from partitions sampled from the posterior: for each
(thinned) draw :math:`s`, every observation's label is drawn from its
membership probabilities :math:`p(z_i = k \\mid x_i, \\theta^{(s)})`. All three
are label-invariant, so they need no relabelling.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import xarray as xr

from bayesmix._result import check_result, family_of, mixture_parameters, observed_data_of
from bayesmix._validation import check_choice, check_positive_int
from bayesmix.components._mixture_density import chunked_over_draws, membership_probabilities
from bayesmix.models._base import kind_of

LAST_STICK_WARNING = 0.01
MAX_COCLUSTERING_OBS = 5000


class TruncationWarning(UserWarning):
    """The truncated stick-breaking prior keeps noticeable weight in its last component."""


def sample_partitions(result: xr.DataTree, *, max_draws: int = 1000, random_seed: int | None = None) -> np.ndarray:
    """Partitions drawn from the posterior, shape (n_draws, n_obs), labels 0..K-1.

    The posterior is thinned evenly to at most ``max_draws`` draws; in each,
    every label is drawn from that draw's membership probabilities.
    """
    result = check_result(result)
    max_draws = check_positive_int(max_draws, name="max_draws")
    posterior = result["posterior"].to_dataset()
    kind = kind_of(result.attrs)
    if kind.is_network:
        raise ValueError(
            "Argument `result` is an MDN fit; partitions of the training rows need a mixture of x or a mixture of "
            "regressions (bayesmix.models.mixture, dp_mixture, mixreg)."
        )
    if kind.is_regression:  # memberships of the training pairs (x, y)
        probabilities = _regression_memberships(result, posterior, max_draws)
    else:
        family = family_of(result)
        flat = mixture_parameters(posterior, family, max_draws)
        X = observed_data_of(result).values
        probabilities = chunked_over_draws(functools.partial(membership_probabilities, family), X, *flat)  # (S, N, K)
    rng = np.random.default_rng(random_seed)
    cumulative = probabilities.cumsum(-1)
    u = rng.random((*cumulative.shape[:2], 1))
    return np.minimum((u > cumulative).sum(-1), cumulative.shape[-1] - 1)


def cluster_count(result: xr.DataTree, *, max_draws: int = 1000, random_seed: int | None = None) -> xr.Dataset:
    r"""The posterior of the number of clusters.

    Parameters
    ----------
    result : xarray.DataTree
        A fit of :func:`bayesmix.models.dp_gmm` (or of any mixture, a mixture of regressions included,
        whose clusters are those of the training pairs (x, y) and whose weights a gate's are averaged over
        the training rows).
    max_draws : int, default 1000
        Posterior draws used (thinned evenly).
    random_seed : int, optional
        Seed for drawing the labels.

    Returns
    -------
    xarray.Dataset
        ``occupied`` (sample): the number of clusters with at least one
        observation in each sampled partition; ``effective`` (sample): the
        effective number of components :math:`1 / \sum_k w_k^2`;
        ``probability`` (n_clusters): the posterior probability of each
        occupied count. attrs: ``mode``, the 90% equal-tailed interval
        ``interval_90`` and ``last_weight``, the posterior mean weight of the
        last component.

    Warns
    -----
    TruncationWarning
        For a Dirichlet-process fit, when the last component's expected
        weight exceeds 0.01: the truncation is too small for the data;
        increase it.
    """
    partitions = sample_partitions(result, max_draws=max_draws, random_seed=random_seed)
    occupied = np.array([np.unique(p).size for p in partitions])
    flat_w = _draw_weights(result, max_draws)
    effective = 1.0 / (flat_w**2).sum(-1)
    K = flat_w.shape[-1]
    counts = np.bincount(occupied, minlength=K + 1)[1:]
    last_weight = float(flat_w[:, -1].mean())
    # a finite mixture has no truncation to blame for weight in its last component
    if kind_of(result.attrs).is_dirichlet_process and K > 1 and last_weight > LAST_STICK_WARNING:
        warnings.warn(
            f"The last of {K} components has posterior mean weight {last_weight:.3f} > {LAST_STICK_WARNING}: "
            "the truncation cuts off noticeable mass; increase truncation.",
            TruncationWarning,
            stacklevel=2,
        )
    low, high = np.quantile(occupied, [0.05, 0.95], method="inverted_cdf")
    return xr.Dataset(
        {
            "occupied": ("sample", occupied),
            "effective": ("sample", effective),
            "probability": ("n_clusters", counts / counts.sum()),
        },
        coords={"n_clusters": np.arange(1, K + 1)},
        attrs={
            "mode": int(np.argmax(counts) + 1),
            "interval_90": [int(low), int(high)],
            "last_weight": last_weight,
        },
    )


def coclustering(result: xr.DataTree, *, max_draws: int = 1000, random_seed: int | None = None) -> xr.DataArray:
    """The posterior similarity matrix: the probability that two observations share a cluster.

    Returns
    -------
    xarray.DataArray
        Dims (obs_id, obs_id_bis), values in [0, 1], ones on the diagonal.
    """
    partitions = sample_partitions(result, max_draws=max_draws, random_seed=random_seed)
    return _similarity(partitions)


def point_partition(
    result: xr.DataTree, *, loss: str = "binder", max_draws: int = 1000, random_seed: int | None = None
) -> xr.DataArray:
    r"""The sampled partition with the smallest posterior expected loss.

    With :math:`\pi_{ij}` the posterior similarity matrix and :math:`c` a
    candidate partition:

    * ``"binder"`` (Binder 1978, equal costs):
      :math:`\sum_{i<j} |\mathbb 1(c_i = c_j) - \pi_{ij}|`, the exact expected loss;
    * ``"vi"`` (variation of information): the lower bound of Wade and
      Ghahramani (2018),
      :math:`\frac1N \sum_i \big[\log_2 \sum_j \mathbb 1(c_j = c_i) + \log_2 \sum_j \pi_{ij}
      - 2 \log_2 \sum_j \mathbb 1(c_j = c_i)\, \pi_{ij}\big]`,
      which avoids the quadratic cost of the exact expectation over samples.

    The candidates are the sampled partitions themselves.

    Returns
    -------
    xarray.DataArray
        Cluster labels over ``obs_id``, numbered 0, 1, ... by decreasing size;
        attrs ``loss`` and ``expected_loss``.
    """
    loss = check_choice(loss, ("binder", "vi"), name="loss")
    partitions = sample_partitions(result, max_draws=max_draws, random_seed=random_seed)
    psm = _similarity(partitions).values
    losses = np.array([_binder(p, psm) if loss == "binder" else _vi_lower_bound(p, psm) for p in partitions])
    best = int(np.argmin(losses))
    labels = _relabel_by_size(partitions[best])
    return xr.DataArray(
        labels,
        dims="obs_id",
        coords={"obs_id": np.arange(labels.size)},
        name="cluster",
        attrs={"loss": loss, "expected_loss": float(losses[best])},
    )


def _draw_weights(result: xr.DataTree, max_draws: int) -> np.ndarray:
    """The weights of each kept draw, (S, K); a gate's averaged over the training rows."""
    posterior = result["posterior"].to_dataset()
    if not kind_of(result.attrs).is_regression:
        return mixture_parameters(posterior, family_of(result), max_draws)[0]
    from bayesmix.models.mixreg import info_from_result, mean_gate_weights, stacked

    info = info_from_result(result)
    params = stacked(posterior, info.settings, info.component_family.response, max_draws)
    return mean_gate_weights(info.settings, params, info.data.values)


def _regression_memberships(result: xr.DataTree, posterior: xr.Dataset, max_draws: int) -> np.ndarray:
    """Each kept draw's membership probabilities (S, N, K) of a mixture of regressions' training pairs."""
    from scipy.special import softmax

    from bayesmix.models.mixreg import component_log_density, info_from_result, stacked

    info = info_from_result(result)
    response = info.component_family.response
    params = stacked(posterior, info.settings, response, max_draws)
    y = info.extras["y"].values[:, 0]
    return softmax(component_log_density(info.settings, response, params, info.data.values, y), axis=-1)


def _similarity(partitions: np.ndarray) -> xr.DataArray:
    n_draws, n_obs = partitions.shape
    if n_obs > MAX_COCLUSTERING_OBS:
        raise ValueError(
            f"The co-clustering matrix of {n_obs} observations would need {n_obs**2 * 8 / 1e9:.1f} GB; "
            f"it is limited to {MAX_COCLUSTERING_OBS} observations: subsample the data first."
        )
    one_hot = np.zeros((n_draws, n_obs, partitions.max() + 1))
    np.put_along_axis(one_hot, partitions[..., None], 1.0, axis=-1)
    psm = np.einsum("snk,smk->nm", one_hot, one_hot) / n_draws
    ids = np.arange(n_obs)
    return xr.DataArray(
        psm, dims=("obs_id", "obs_id_bis"), coords={"obs_id": ids, "obs_id_bis": ids}, name="coclustering"
    )


def _binder(labels: np.ndarray, psm: np.ndarray) -> float:
    together = labels[:, None] == labels[None, :]
    return float(np.abs(together - psm).sum() / 2)


def _vi_lower_bound(labels: np.ndarray, psm: np.ndarray) -> float:
    together = labels[:, None] == labels[None, :]
    size = together.sum(1)
    return float(np.mean(np.log2(size) + np.log2(psm.sum(1)) - 2 * np.log2((together * psm).sum(1))))


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    values, counts = np.unique(labels, return_counts=True)
    order = values[np.argsort(-counts, kind="stable")]
    mapping = np.empty(labels.max() + 1, dtype=int)
    mapping[order] = np.arange(order.size)
    return mapping[labels]
