r"""Simulation-based calibration (Talts et al. 2018) of finite mixtures and their fit.

For a 1-D mixture with K = 2, each replicate draws parameters from the prior,
data from the model given those parameters, fits the model to the data with
:func:`bayesmix.fit`, and records the rank of every true parameter among
``n_ranks - 1`` (thinned) posterior draws. If the model, the sampler and the
whole pipeline are right, each rank is uniform on ``0 .. n_ranks - 1``; a
chi-square test on ``n_bins`` equal bins checks it per parameter.

The priors are fixed, not scaled to the data (the default priors depend on the
data, which SBC cannot use). Two setups, by ``component``:

``"gaussian"`` (ordered means, so that the labels are identified):

.. math::

    w \sim \operatorname{Dirichlet}(2, 2), \quad
    \mu_1 < \mu_2 \text{ with } \mu_k \sim \mathcal{N}(0, 2^2), \quad
    \sigma_k \sim \operatorname{HalfNormal}(1), \quad
    x_i \sim \textstyle\sum_k w_k \mathcal{N}(\mu_k, \sigma_k^2).

The model's variance floor (:math:`10^{-6}` of the data variance) is left out
of the simulation; its effect is far below what SBC can resolve.

``"poisson"`` (unordered rates, as :func:`bayesmix.models.mixture` builds them):

.. math::

    w \sim \operatorname{Dirichlet}(2, 2), \quad
    \lambda_k \sim \operatorname{Gamma}(2, 0.25), \quad
    x_i \sim \textstyle\sum_k w_k \operatorname{Poisson}(\lambda_k).

Its labels switch freely, so the ranks are taken of functions that do not
depend on the labels: the smaller and the larger rate and the weight of the
component with the smaller rate. The prior and the posterior are both
symmetric in the labels, so these ranks are uniform exactly when the fit is
calibrated.

Run the larger checks from the command line::

    python -m bayesmix.sbc --replicates 200 --jobs 2
    python -m bayesmix.sbc --component poisson --replicates 200 --jobs 2
"""

from __future__ import annotations

import argparse
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import chisquare

from bayesmix._validation import check_choice, check_positive_int
from bayesmix.inference.fitting import SAMPLERS, fit
from bayesmix.models.gmm import gmm
from bayesmix.models.mixture import mixture
from bayesmix.priors import Prior

PRIORS = {
    "weights": Prior("Dirichlet", a=2.0),
    "means": Prior("Normal", mu=0.0, sigma=2.0),
    "scales": Prior("HalfNormal", sigma=1.0),
}
PARAMETERS = ("weights[0]", "means[0]", "means[1]", "scales[0]", "scales[1]")
POISSON_PRIORS = {"weights": Prior("Dirichlet", a=2.0), "rates": Prior("Gamma", alpha=2.0, beta=0.25)}
POISSON_PARAMETERS = ("weights[low]", "rates[low]", "rates[high]")


@dataclass
class CalibrationResult:
    """Ranks of the true parameters and their uniformity tests.

    Attributes
    ----------
    ranks : xarray.DataArray
        Dims (replicate, parameter); values in ``0 .. n_ranks - 1``.
    p_values : pandas.Series
        Chi-square uniformity p-value per parameter.
    bin_counts : pandas.DataFrame
        Replicates per rank bin (rows) and parameter (columns).
    divergences : numpy.ndarray
        Divergent transitions per replicate.
    wall_time_s : float
    """

    ranks: xr.DataArray
    p_values: pd.Series
    bin_counts: pd.DataFrame
    divergences: np.ndarray
    wall_time_s: float

    def uniform(self, level: float = 0.01) -> bool:
        """True when no parameter's test rejects at ``level`` after a Bonferroni correction."""
        return bool((self.p_values * len(self.p_values) > level).all())

    def to_markdown(self) -> str:
        n_rep, n_bins = self.ranks.sizes["replicate"], len(self.bin_counts)
        lines = [
            f"| parameter | replicates per rank bin ({n_bins} bins, {n_rep} replicates) | chi-square p |",
            "|---|---|---|",
        ]
        for name in self.p_values.index:
            counts = " ".join(str(int(c)) for c in self.bin_counts[name])
            lines.append(f"| {name} | {counts} | {self.p_values[name]:.3f} |")
        return "\n".join(lines)


def simulate(rng: np.random.Generator, n_obs: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One draw of the Gaussian setup's parameters from the prior, and data given them."""
    weights = rng.dirichlet([2.0, 2.0])
    means = np.sort(rng.normal(0.0, 2.0, size=2))
    scales = np.abs(rng.normal(0.0, 1.0, size=2))
    labels = rng.choice(2, size=n_obs, p=weights)
    X = rng.normal(means[labels], scales[labels])
    truth = {"weights[0]": weights[0], "means[0]": means[0], "means[1]": means[1]}
    truth |= {"scales[0]": scales[0], "scales[1]": scales[1]}
    return truth, X


def simulate_poisson(rng: np.random.Generator, n_obs: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One draw of the Poisson setup's parameters from the prior, and counts given them."""
    weights = rng.dirichlet([2.0, 2.0])
    rates = rng.gamma(2.0, 1 / 0.25, size=2)
    labels = rng.choice(2, size=n_obs, p=weights)
    X = rng.poisson(rates[labels]).astype(float)
    return _label_free(weights[None], rates[None]), X


def _label_free(weights: np.ndarray, rates: np.ndarray) -> dict[str, np.ndarray]:
    """The smaller and larger rate and the smaller-rate component's weight, per draw (rows)."""
    low = np.argmin(rates, axis=1)
    rows = np.arange(len(rates))
    return {
        "weights[low]": weights[rows, low],
        "rates[low]": rates[rows, low],
        "rates[high]": rates[rows, 1 - low],
    }


def _gaussian_draws(X: np.ndarray, fit_options: dict) -> tuple[dict[str, np.ndarray], int]:
    model = gmm(X, 2, covariance="diag", priors=PRIORS, order_means=True)
    result = fit(model, **fit_options)
    posterior = result["posterior"].to_dataset()
    flat = {
        "weights[0]": posterior["weights"].isel(component=0).values.ravel(),
        "means[0]": posterior["means"].isel(component=0, feature=0).values.ravel(),
        "means[1]": posterior["means"].isel(component=1, feature=0).values.ravel(),
        "scales[0]": posterior["scales"].isel(component=0, feature=0).values.ravel(),
        "scales[1]": posterior["scales"].isel(component=1, feature=0).values.ravel(),
    }
    return flat, int(result["sample_stats"]["diverging"].sum())


def _poisson_draws(X: np.ndarray, fit_options: dict) -> tuple[dict[str, np.ndarray], int]:
    model = mixture(X[:, None], 2, component="poisson", priors=POISSON_PRIORS)
    result = fit(model, **fit_options)
    posterior = result["posterior"].to_dataset().stack(sample=("chain", "draw"))
    weights = posterior["weights"].transpose("sample", "component").values
    rates = posterior["rates"].isel(feature=0).transpose("sample", "component").values
    return _label_free(weights, rates), int(result["sample_stats"]["diverging"].sum())


# component -> (simulate, posterior draws of the checked parameters, their names)
SETUPS = {
    "gaussian": (simulate, _gaussian_draws, PARAMETERS),
    "poisson": (simulate_poisson, _poisson_draws, POISSON_PARAMETERS),
}


def replicate_ranks(
    seed: int, n_obs: int, draws: int, tune: int, chains: int, n_ranks: int, sampler: str, component: str = "gaussian"
) -> tuple[np.ndarray, int]:
    """Ranks of the true parameters among ``n_ranks - 1`` thinned draws, and the divergences."""
    simulator, posterior_draws, names = SETUPS[component]
    truth, X = simulator(np.random.default_rng(seed), n_obs)
    options = {"draws": draws, "tune": tune, "chains": chains, "sampler": sampler, "random_seed": seed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sampler warnings are counted, not printed
        flat, divergences = posterior_draws(X, options | {"progressbar": False})
    # Evenly thinned draws, so that autocorrelation does not make the ranks overdispersed.
    keep = np.linspace(0, chains * draws - 1, n_ranks - 1).round().astype(int)
    ranks = np.array([(flat[name][keep] < np.squeeze(truth[name])).sum() for name in names])
    return ranks, divergences


def uniformity_test(ranks: xr.DataArray, n_ranks: int, n_bins: int) -> tuple[pd.Series, pd.DataFrame]:
    """Chi-square test of uniform ranks on ``n_bins`` equal bins (``n_bins`` divides ``n_ranks``), per parameter."""
    counts = {
        str(name): np.bincount(ranks.sel(parameter=name).values // (n_ranks // n_bins), minlength=n_bins)
        for name in ranks["parameter"].values
    }
    bin_counts = pd.DataFrame(counts)
    p_values = pd.Series({name: float(chisquare(c).pvalue) for name, c in counts.items()}, name="p_value")
    return p_values, bin_counts


def simulation_based_calibration(
    n_replicates: int = 30,
    *,
    n_obs: int = 100,
    draws: int = 200,
    tune: int = 300,
    chains: int = 2,
    n_ranks: int = 100,
    n_bins: int = 5,
    sampler: str = "nutpie",
    n_jobs: int = 1,
    random_seed: int = 0,
    component: str = "gaussian",
) -> CalibrationResult:
    """Run SBC for a 1-D, K = 2 mixture fitted by NUTS.

    Parameters
    ----------
    n_replicates : int, default 30
        Simulated data sets; replicate ``i`` uses seed ``random_seed + i``, so
        results do not depend on ``n_jobs``.
    n_obs : int, default 100
        Observations per data set.
    draws, tune, chains : int
        NUTS settings of each fit.
    n_ranks : int, default 100
        Ranks run over ``0 .. n_ranks - 1`` (``n_ranks - 1`` thinned draws).
    n_bins : int, default 5
        Bins of the chi-square test; must divide ``n_ranks``.
    sampler : {"nutpie", "pymc", "numpyro"}, default "nutpie"
    n_jobs : int, default 1
        Replicates fitted in parallel processes.
    random_seed : int, default 0
    component : {"gaussian", "poisson"}, default "gaussian"
        Which setup (see the module docstring): ``gmm`` with ordered means, or
        ``mixture(component="poisson")`` with label-free summaries.

    Returns
    -------
    CalibrationResult
    """
    n_replicates = check_positive_int(n_replicates, name="n_replicates")
    n_obs = check_positive_int(n_obs, name="n_obs")
    draws, tune = check_positive_int(draws, name="draws"), check_positive_int(tune, name="tune", allow_zero=True)
    chains = check_positive_int(chains, name="chains")
    n_ranks, n_bins = check_positive_int(n_ranks, name="n_ranks"), check_positive_int(n_bins, name="n_bins")
    n_jobs = check_positive_int(n_jobs, name="n_jobs")
    sampler = check_choice(sampler, SAMPLERS, name="sampler")
    component = check_choice(component, SETUPS, name="component")
    if n_obs < 2:
        raise ValueError(f"Argument `n_obs` must be >= 2 for K = 2 components but got n_obs = {n_obs}.")
    if n_ranks - 1 > chains * draws:
        raise ValueError(
            f"Argument `n_ranks` ({n_ranks}) needs n_ranks - 1 <= chains * draws ({chains * draws}); "
            "draw more or use fewer ranks."
        )
    if n_ranks % n_bins:
        raise ValueError(f"Argument `n_bins` ({n_bins}) must divide n_ranks ({n_ranks}) so that bins are equal.")
    seeds = [random_seed + i for i in range(n_replicates)]
    args = (n_obs, draws, tune, chains, n_ranks, sampler, component)
    start = time.perf_counter()
    if n_jobs == 1:
        outputs = [replicate_ranks(seed, *args) for seed in seeds]
    else:
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            outputs = list(pool.map(replicate_ranks, seeds, *([a] * n_replicates for a in args)))
    ranks = xr.DataArray(
        np.array([r for r, _ in outputs]),
        dims=("replicate", "parameter"),
        coords={"replicate": np.arange(n_replicates), "parameter": list(SETUPS[component][2])},
        name="rank",
    )
    p_values, bin_counts = uniformity_test(ranks, n_ranks, n_bins)
    divergences = np.array([d for _, d in outputs])
    return CalibrationResult(ranks, p_values, bin_counts, divergences, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--n-obs", type=int, default=100)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--component", choices=list(SETUPS), default="gaussian")
    args = parser.parse_args(argv)
    result = simulation_based_calibration(
        args.replicates,
        n_obs=args.n_obs,
        n_bins=args.bins,
        n_jobs=args.jobs,
        random_seed=args.seed,
        component=args.component,
    )
    print(result.to_markdown())
    verdict = "uniform" if result.uniform() else "NOT uniform"
    print(
        f"\nRanks {verdict} at level 0.01 (Bonferroni over {len(result.p_values)} parameters); "
        f"{int((result.divergences > 0).sum())} of {args.replicates} fits had divergences; "
        f"{result.wall_time_s:.0f} s."
    )


if __name__ == "__main__":
    main()
