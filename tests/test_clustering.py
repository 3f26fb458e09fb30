import warnings
from itertools import combinations

import numpy as np
import pytest
import xarray as xr
from sklearn.metrics import adjusted_rand_score

import bayesmix as bm
from bayesmix.clustering import _binder, _relabel_by_size, _similarity, _vi_lower_bound


def test_similarity_is_the_share_of_partitions_that_join_two_points():
    partitions = np.array([[0, 0, 1], [0, 1, 1], [2, 2, 2], [0, 0, 1]])
    psm = _similarity(partitions)
    assert psm.dims == ("obs_id", "obs_id_bis")
    np.testing.assert_allclose(psm.values, [[1, 0.75, 0.25], [0.75, 1, 0.5], [0.25, 0.5, 1]])


def test_binder_loss_matches_brute_force():
    rng = np.random.default_rng(0)
    partitions = rng.integers(0, 3, size=(20, 9))
    psm = _similarity(partitions).values
    candidate = partitions[0]
    brute = np.mean(
        [
            sum(int((c[i] == c[j]) != (candidate[i] == candidate[j])) for i, j in combinations(range(9), 2))
            for c in partitions
        ]
    )
    assert _binder(candidate, psm) == pytest.approx(brute)


def test_vi_bound_is_zero_at_a_certain_partition():
    labels = np.array([0, 0, 1, 1, 1, 2])
    psm = _similarity(labels[None, :]).values
    assert _vi_lower_bound(labels, psm) == pytest.approx(0.0)
    assert _vi_lower_bound(np.zeros(6, int), psm) > 0.5


def test_labels_numbered_by_decreasing_size():
    np.testing.assert_array_equal(_relabel_by_size(np.array([5, 2, 2, 5, 2, 7])), [1, 0, 0, 1, 0, 2])


@pytest.fixture(scope="module")
def four_clusters():
    rng = np.random.default_rng(4)
    centers = np.array([[-6.0, 0.0], [6.0, 0.0], [0.0, 6.0], [0.0, -6.0]])
    truth = np.repeat(np.arange(4), 50)
    return centers[truth] + rng.normal(size=(200, 2)), truth


@pytest.fixture(scope="module")
def four_clusters_fit(four_clusters):
    """ADVI on the four clusters, shared: each DP truncation is a numba compilation of minutes on a cold cache."""
    X, _ = four_clusters
    return bm.fit(bm.models.dp_gmm(X, truncation=10), method="advi", n_steps=8000, random_seed=3, progressbar=False)


@pytest.mark.slow
def test_point_partition_recovers_four_separated_clusters(four_clusters, four_clusters_fit):
    _, truth = four_clusters
    result = four_clusters_fit
    for loss in ("binder", "vi"):
        partition = bm.point_partition(result, loss=loss, random_seed=0)
        assert adjusted_rand_score(truth, partition.values) >= 0.95, loss
    counts = bm.cluster_count(result, random_seed=0)
    assert counts.attrs["mode"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("method", ["advi", "nuts"])
def test_faithful_cluster_count_agrees_with_bic(faithful, method):
    """Mode 2 or 3, and em_table's BIC-best K lies in the 90% interval.

    ADVI at truncation 15; NUTS at truncation 10 on 4 chains x 1000 draws (about 6 s through the kernel).
    Under the default priors the posterior puts about 0.52 on 3 occupied clusters and 0.33 on 4
    (4 x 2000 draws), so 2 chains x 400 draws could land on either.
    """
    truncation = 15 if method == "advi" else 10
    model = bm.models.dp_gmm(faithful, truncation=truncation)
    kwargs = {"n_steps": 10000} if method == "advi" else {"draws": 1000, "tune": 500, "chains": 4}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = bm.fit(model, method=method, random_seed=5, progressbar=False, **kwargs)
    counts = bm.cluster_count(result, random_seed=0)
    best_k = bm.em_table(faithful).attrs["best"]["n_components"]
    low, high = counts.attrs["interval_90"]
    assert counts.attrs["mode"] in (2, 3)
    assert low <= best_k <= high
    assert counts["probability"].sum() == pytest.approx(1.0)
    assert (counts["effective"] >= 1).all()
    if method == "nuts":
        # relabel and diagnose work on DP results; alpha is diagnosed too.
        diag = bm.diagnose(bm.relabel(result))
        assert "alpha" in diag.convergence.index
        # The variational DP fit serves as the baseline, like EM for finite mixtures.
        vb = bm.em(faithful, truncation, method="variational_dp", n_init=3, random_seed=0)
        against_vb = bm.diagnose(bm.relabel(result, reference=vb), baseline=vb)
        # The two fits agree on faithful's two large clusters (a small third may take a few points).
        assert against_vb.baseline is not None and against_vb.adjusted_rand_index > 0.8, against_vb
        assert against_vb.baseline.loc["means[0, waiting]", "em"] == pytest.approx(float(vb["means"][0, 1]))
        psm = bm.coclustering(result, random_seed=0)
        assert psm.shape == (272, 272) and np.allclose(np.diag(psm), 1.0)
        xr.testing.assert_equal(
            psm, psm.T.rename({"obs_id": "obs_id_bis", "obs_id_bis": "obs_id"}).transpose(*psm.dims)
        )


def test_too_small_truncation_warns(four_clusters):
    X, _ = four_clusters
    # NUTS (nutpie, JAX: seconds to compile) rather than ADVI: the warning reads the draws, whichever method made them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplerWarning)
        result = bm.fit(
            bm.models.dp_gmm(X, truncation=2), draws=200, tune=200, chains=1, random_seed=1, progressbar=False
        )
    with pytest.warns(bm.TruncationWarning, match="increase truncation"):
        bm.cluster_count(result, random_seed=0)


@pytest.mark.slow
def test_coclustering_is_near_one_within_and_near_zero_between_separated_clusters(four_clusters, four_clusters_fit):
    _, truth = four_clusters
    psm = bm.coclustering(four_clusters_fit, random_seed=0).values
    same = truth[:, None] == truth[None, :]
    assert psm[same].mean() > 0.95 and psm[~same].mean() < 0.05
    assert psm[same].min() > 0.5 and psm[~same].max() < 0.5  # no pair is put on the wrong side


def test_same_seed_same_partitions(four_clusters_fit):
    a = bm.point_partition(four_clusters_fit, random_seed=7)
    b = bm.point_partition(four_clusters_fit, random_seed=7)
    xr.testing.assert_identical(a, b)
    with pytest.raises(ValueError, match=r"Unknown loss 'l2'"):
        bm.point_partition(four_clusters_fit, loss="l2")
