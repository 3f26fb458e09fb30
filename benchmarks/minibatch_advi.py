"""Minibatch ADVI against ADVI on the whole data and against EM, on large synthetic data.

Run ``python benchmarks/minibatch_advi.py`` (``--n-obs 1e4 1e5``, ``--batch-size
1000``, ``--steps 20000``). For each N it fits the benchmark's synthetic
mixture (D = 2, K = 3, the ``synthetic N=...`` cases of ``python -m
bayesmix.bench``) with ``bm.fit(method="advi")`` on the whole data and with
``batch_size=``, both started at the EM solution, each in the same process one
after the other, and prints a markdown table: the fit's wall time (compilation
included), the distance of the posterior means from the EM solution in
posterior standard deviations and in the data's units, the mean ELBO of the
last 1,000 steps, and the ratio of wall times. EM (``bm.em``, scikit-learn) is
the reference because at this N the posterior mean and the maximum-likelihood
point differ by a small fraction of a posterior sd.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import bayesmix as bm
from bayesmix.bench.cases import synthetic

N_COMPONENTS = 3


def distance_from_em(result, em) -> tuple[float, float]:
    """Largest |posterior mean - EM mean| over components and features: in posterior sds, and in data units."""
    means = result.posterior["means"]
    mean, sd = means.mean(("chain", "draw")).values, means.std(("chain", "draw")).values
    em_means = em["means"].values
    nearest = [int(np.argmin(((em_means - m) ** 2).sum(axis=1))) for m in mean]
    difference = np.abs(mean - em_means[nearest])
    return float((difference / sd).max()), float(difference.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-obs", nargs="+", type=float, default=[1e4, 1e5])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    print("| N | fit | wall time (s) | max \\|mean - EM\\| (sds) | max \\|mean - EM\\| (units) | ELBO, last 1000 |")
    print("|---|---|---|---|---|---|")
    for n_obs in map(int, args.n_obs):
        X = synthetic(n_obs)
        start = time.perf_counter()
        em = bm.em(X, N_COMPONENTS, random_seed=0)
        em_time = time.perf_counter() - start
        print(f"| {n_obs:.0e} | EM (scikit-learn) | {em_time:.1f} | | | |")
        times = {}
        for label, batch_size in (("whole data", None), (f"batches of {args.batch_size}", args.batch_size)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = bm.fit(
                    bm.models.gmm(X, N_COMPONENTS),
                    method="advi",
                    init=em,
                    batch_size=batch_size,
                    n_steps=args.steps,
                    draws=500,
                    random_seed=1,
                    progressbar=False,
                )
            times[label] = result.attrs["wall_time_s"]
            in_sds, in_units = distance_from_em(result, em)
            elbo = result["fit_history"]["elbo"].values[-1000:].mean()
            print(f"| {n_obs:.0e} | ADVI, {label} | {times[label]:.1f} | {in_sds:.2f} | {in_units:.4f} | {elbo:.1f} |")
        whole, batched = times.values()
        print(f"| {n_obs:.0e} | whole / batches | {whole / batched:.1f}x | | | |", flush=True)


if __name__ == "__main__":
    main()
