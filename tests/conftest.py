"""Shared fixtures: data sets and small fits reused across test modules."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import bayesmix as bm

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")


@pytest.fixture(scope="session")
def faithful():
    return bm.datasets.load("faithful")


@pytest.fixture(scope="session")
def separated_2d():
    """Three well-separated 2-D Gaussian clusters (known labels)."""
    rng = np.random.default_rng(42)
    means = np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, -1.0]])
    labels = rng.choice(3, size=300, p=[0.3, 0.3, 0.4])
    X = means[labels] + rng.normal(scale=0.6, size=(300, 2))
    return X, labels


@pytest.fixture(scope="session")
def faithful_em(faithful):
    return bm.em(faithful, 2, random_seed=0)


@pytest.fixture(scope="session")
def faithful_fit(faithful):
    """faithful, K=2, full covariance, 4 chains from the prior's start (labels switch between chains)."""
    model = bm.models.gmm(faithful, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bm.fit(model, init="prior", draws=1000, tune=1000, chains=4, random_seed=11, progressbar=False)
