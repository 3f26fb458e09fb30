"""The kernel's vectorizable exp and log against an extended-precision reference."""

import numpy as np
import pytest

from bayesmix.inference import _gmm_kernel

EXTENDED = np.finfo(np.longdouble).eps < 1e-18
needs_extended = pytest.mark.skipif(
    not EXTENDED, reason="the reference needs numpy's long double wider than float64 (x86-64 has 80 bits)"
)


def _ulps(values: np.ndarray, x: np.ndarray, function) -> np.ndarray:
    """|values - f(x)| in units of the last place of float64, f evaluated in long double."""
    reference = function(x.astype(np.longdouble))
    return np.abs(values.astype(np.longdouble) - reference) / np.spacing(np.abs(reference).astype(float))


@needs_extended
def test_exp_is_within_1_2_ulp_down_to_the_underflow_bound():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            -np.linspace(0.0, -_gmm_kernel.EXP_UNDERFLOW, 2_000_001),
            -rng.exponential(3.0, 500_000),
            -rng.random(100_000) * 1e-8,
        ]
    )
    out = np.empty_like(x)
    _gmm_kernel.exp_nonpositive_array(x, out)
    assert _ulps(out, x, np.exp).max() <= 1.2


@needs_extended
def test_log_is_within_2_ulp_over_the_whole_normal_range():
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            np.linspace(1.0, 1e3, 2_000_001),
            np.exp(np.clip(rng.normal(size=500_000) * 150.0, -700.0, 700.0)),
            1.0 + rng.random(100_000) * 1e-6,
            1.0 - rng.random(100_000) * 1e-6,
            [2.3e-308, 1e-300, 1.7e308],
        ]
    )
    x = x[x != 1.0]  # log 1 = 0 has no ulp; checked exactly below
    out = np.empty_like(x)
    _gmm_kernel.log_positive_array(x, out)
    assert _ulps(out, x, np.log).max() <= 2.0


def test_special_values():
    x = np.array([0.0, -0.0, -1e-300, -708.0, -708.1, -745.2, -1e308, -np.inf, np.nan])
    out = np.empty_like(x)
    _gmm_kernel.exp_nonpositive_array(x, out)
    np.testing.assert_array_equal(out[:3], 1.0)  # exp(0) exactly 1: the kernel's largest term
    assert out[3] == pytest.approx(np.exp(-708.0), rel=1e-15)
    np.testing.assert_array_equal(out[4:8], 0.0)  # subnormal results are flushed to zero
    assert np.isnan(out[8])
    log_out = np.empty(3)
    _gmm_kernel.log_positive_array(np.array([1.0, 2.0, 0.5]), log_out)
    np.testing.assert_array_equal(log_out, [0.0, np.log(2.0), -np.log(2.0)])
