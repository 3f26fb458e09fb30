"""The component families against hand-written PyMC and numpyro: ``python -m bayesmix.bench.families``.

For each new family (Student-t, Poisson, negative binomial, Bernoulli) and
N = 1e3, 1e4, 1e5, every contender samples the same posterior (bayesmix's
default priors for the data, written out for the hand-written models) from
simulated data with K = 2 (the Bernoulli: latent class analysis of 20 items,
K = 3):

* ``bayesmix``: ``bm.fit(bm.models.mixture(X, 2, component=...))`` with its
  defaults (EM start, nutpie);
* ``pymc``: ``pm.Mixture`` of the same components (``pm.MvStudentT`` with an
  ``LKJCholeskyCov`` per component, ``pm.Poisson``, ``pm.NegativeBinomial``;
  PyMC has no multivariate Bernoulli to mix, so latent class analysis is the
  ``pm.Potential`` of its marginal likelihood that PyMC users write),
  compiled by ``nutpie.compile_pymc_model`` (numba);
* ``numpyro``: ``MixtureSameFamily`` of ``MultivariateStudentT``, ``Poisson``,
  ``NegativeBinomial2`` or ``Bernoulli(...).to_event(1)``, NUTS with parallel
  chains and numpyro's defaults.

Each is timed on its second fit in one process (compilation reused where the
contender's API allows; ``bm.fit`` compiles again, which counts against it),
and its draws are relabelled to the family's EM fit before the smallest bulk
ESS over the weights and the family's parameters is taken. The figure of
merit is that ESS per second. For the Bernoulli the benchmark also times
the EM baseline, ``bm.em`` against StepMix's ``StepMix(measurement="binary")``,
both with 10 starts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from bayesmix.components import get_component
from bayesmix.persistence import write_text_atomic

FAMILIES = ("student_t", "poisson", "negative_binomial", "bernoulli")
# Latent class analysis is benchmarked where its users work: 20 items, three classes.
N_COMPONENTS = {"bernoulli": 3}
N_ITEMS = 20
CONTENDERS = ("bayesmix", "pymc", "numpyro")
SIZES = (1_000, 10_000, 100_000)


@dataclass(frozen=True)
class FamilyCase:
    component: str
    X: np.ndarray
    draws: int = 1000
    tune: int = 1000
    chains: int = 4

    @property
    def n_components(self) -> int:
        return N_COMPONENTS.get(self.component, 2)

    @property
    def name(self) -> str:
        return f"{self.component} N={self.X.shape[0]:.0e}".replace("+0", "")


def simulate(component: str, n_obs: int, seed: int = 0) -> np.ndarray:
    """K = 2, weights 0.6 and 0.4: 2-D Student-t (nu 4 and 8), or 1-D counts (means 2 and 9); or
    K = 3, weights 0.5, 0.3, 0.2 over 20 binary items with answer probabilities drawn from Beta(0.7, 0.7)."""
    rng = np.random.default_rng(seed)
    if component == "bernoulli":
        probabilities = rng.beta(0.7, 0.7, size=(3, N_ITEMS))
        labels = rng.choice(3, size=n_obs, p=[0.5, 0.3, 0.2])
        return (rng.random((n_obs, N_ITEMS)) < probabilities[labels]).astype(float)
    labels = rng.choice(2, size=n_obs, p=[0.6, 0.4])
    if component == "student_t":
        means = np.array([[-3.0, 0.0], [3.0, 1.0]])
        chol = np.array([[[1.0, 0.0], [0.5, 0.8]], [[0.7, 0.0], [-0.3, 1.0]]])
        nu = np.array([4.0, 8.0])
        z = np.einsum("nde,ne->nd", chol[labels], rng.standard_normal((n_obs, 2)))
        return means[labels] + z / np.sqrt(rng.chisquare(nu[labels]) / nu[labels])[:, None]
    means = np.array([2.0, 9.0])[labels]
    if component == "poisson":
        return rng.poisson(means).astype(float)[:, None]
    dispersions = np.array([5.0, 3.0])[labels]
    return rng.poisson(rng.gamma(dispersions, means / dispersions)).astype(float)[:, None]


def default_priors(case: FamilyCase) -> dict:
    """bayesmix's default priors for the case's data, as plain numbers."""
    import bayesmix as bm
    from bayesmix.models._base import get_info

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        priors = get_info(bm.models.mixture(case.X, case.n_components, component=case.component)).priors
    return {k: (np.asarray(v, float) if not hasattr(v, "parameters") else v.parameters) for k, v in priors.items()}


def _bayesmix(case: FamilyCase, seed: int) -> dict:
    import bayesmix as bm

    result = bm.fit(
        bm.models.mixture(case.X, case.n_components, component=case.component),
        draws=case.draws,
        tune=case.tune,
        chains=case.chains,
        random_seed=seed,
        progressbar=False,
    )
    family = get_component(case.component)
    names = ("weights", *family.parameters)
    draws = {name: result["posterior"][name].values for name in names}
    return draws | {"divergences": int(result["sample_stats"]["diverging"].sum())}


class _PymcContender:
    def __init__(self, case: FamilyCase):
        self.case, self.compiled = case, None

    def _model(self):
        import pymc as pm

        c, p = self.case, default_priors(self.case)
        with pm.Model() as model:
            w = pm.Dirichlet("weights", a=np.full(c.n_components, p["weights"]["a"]))
            if c.component == "bernoulli":
                prior = p["probabilities"]
                pi = pm.Beta("probabilities", prior["alpha"], prior["beta"], shape=(c.n_components, c.X.shape[1]))
                log_p = pm.math.dot(c.X, pm.math.log(pi).T) + pm.math.dot(1.0 - c.X, pm.math.log1p(-pi).T)
                pm.Potential("x", pm.math.logsumexp(pm.math.log(w) + log_p, axis=1).sum())
            elif c.component == "student_t":
                components, means, scales = [], [], []
                nu = pm.Gamma("degrees_of_freedom", **p["degrees_of_freedom"], shape=2)
                for k in range(2):
                    mu = pm.Normal(f"mu{k}", p["means"]["mu"], p["means"]["sigma"], shape=2)
                    sd_dist = pm.HalfNormal.dist(np.asarray(p["scales"]["sigma"]), shape=2)
                    chol, _, _ = pm.LKJCholeskyCov(f"chol{k}", n=2, eta=float(p["lkj_eta"]), sd_dist=sd_dist)
                    components.append(pm.MvStudentT.dist(nu=nu[k], mu=mu, chol=chol))
                    means.append(mu)
                    scales.append(chol @ chol.T)
                pm.Mixture("x", w=w, comp_dists=components, observed=c.X)
                pm.Deterministic("means", pm.math.stack(means))
                pm.Deterministic("scale_matrices", pm.math.stack(scales))
            elif c.component == "poisson":
                rates = pm.Gamma("rate", alpha=2.0, beta=p["rates"]["beta"][0], shape=2)
                pm.Mixture("x", w=w, comp_dists=pm.Poisson.dist(mu=rates), observed=c.X[:, 0])
                pm.Deterministic("rates", rates[:, None])
            else:
                mu = pm.Gamma("mean", alpha=2.0, beta=p["means"]["beta"][0], shape=2)
                alpha = pm.Gamma("dispersion", **p["dispersions"], shape=2)
                pm.Mixture("x", w=w, comp_dists=pm.NegativeBinomial.dist(mu=mu, alpha=alpha), observed=c.X[:, 0])
                pm.Deterministic("means", mu[:, None])
                pm.Deterministic("dispersions", alpha[:, None])
        return model

    def __call__(self, seed: int) -> dict:
        import nutpie

        c = self.case
        if self.compiled is None:
            self.compiled = nutpie.compile_pymc_model(self._model())
        trace = nutpie.sample(self.compiled, draws=c.draws, tune=c.tune, chains=c.chains, seed=seed, progress_bar=False)
        names = {
            "student_t": ("means", "scale_matrices", "degrees_of_freedom"),
            "poisson": ("rates",),
            "bernoulli": ("probabilities",),
        }
        names = ("weights", *names.get(c.component, ("means", "dispersions")))
        draws = {name: trace.posterior[name].values for name in names}
        return draws | {"divergences": int(trace.sample_stats["diverging"].sum())}


class _NumpyroContender:
    def __init__(self, case: FamilyCase):
        self.case, self.mcmc = case, None

    def _model(self, X):
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist

        c, p = self.case, self.priors
        w = numpyro.sample("weights", dist.Dirichlet(jnp.full(c.n_components, p["weights"]["a"])))
        if c.component == "bernoulli":
            prior = p["probabilities"]
            shape = (c.n_components, c.X.shape[1])
            pi = numpyro.sample("probabilities", dist.Beta(prior["alpha"], prior["beta"]).expand(shape).to_event(2))
            component = dist.Bernoulli(probs=pi).to_event(1)
            numpyro.sample("x", dist.MixtureSameFamily(dist.Categorical(w), component), obs=X)
            return
        if c.component == "student_t":
            with numpyro.plate("component", 2):
                mu = numpyro.sample(
                    "means", dist.Normal(jnp.asarray(p["means"]["mu"]), jnp.asarray(p["means"]["sigma"])).to_event(1)
                )
                sd = numpyro.sample("sd", dist.HalfNormal(jnp.asarray(p["scales"]["sigma"])).to_event(1))
                corr = numpyro.sample("corr", dist.LKJCholesky(2, float(p["lkj_eta"])))
                nu = numpyro.sample("degrees_of_freedom", dist.Gamma(2.0, p["degrees_of_freedom"]["beta"]))
            component = dist.MultivariateStudentT(nu, mu, sd[..., :, None] * corr)
            numpyro.sample("x", dist.MixtureSameFamily(dist.Categorical(w), component), obs=X)
            return
        x = X[:, 0]
        if c.component == "poisson":
            rates = numpyro.sample("rates", dist.Gamma(2.0, p["rates"]["beta"][0]).expand([2]).to_event(1))
            component = dist.Poisson(rates)
        else:
            mean = numpyro.sample("means", dist.Gamma(2.0, p["means"]["beta"][0]).expand([2]).to_event(1))
            alpha = numpyro.sample("dispersions", dist.Gamma(2.0, p["dispersions"]["beta"]).expand([2]).to_event(1))
            component = dist.NegativeBinomial2(mean, alpha)
        numpyro.sample("x", dist.MixtureSameFamily(dist.Categorical(w), component), obs=x)

    def __call__(self, seed: int) -> dict:
        import jax
        from numpyro.infer import MCMC, NUTS

        c = self.case
        if self.mcmc is None:
            self.priors = default_priors(c)
            self.mcmc = MCMC(
                NUTS(self._model),
                num_warmup=c.tune,
                num_samples=c.draws,
                num_chains=c.chains,
                chain_method="parallel",
                progress_bar=False,
            )
        self.mcmc.run(jax.random.PRNGKey(seed), np.asarray(c.X), extra_fields=("diverging",))
        s = {k: np.asarray(v, float) for k, v in self.mcmc.get_samples(group_by_chain=True).items()}
        if c.component == "bernoulli":
            names = ("weights", "probabilities")
        elif c.component == "student_t":
            chol = s["sd"][..., :, None] * s["corr"]
            s["scale_matrices"] = chol @ np.swapaxes(chol, -1, -2)
            names = ("weights", "means", "scale_matrices", "degrees_of_freedom")
        elif c.component == "poisson":
            s["rates"] = s["rates"][..., None]
            names = ("weights", "rates")
        else:
            s["means"], s["dispersions"] = s["means"][..., None], s["dispersions"][..., None]
            names = ("weights", "means", "dispersions")
        diverging = self.mcmc.get_extra_fields()["diverging"]
        return {name: s[name] for name in names} | {"divergences": int(diverging.sum())}


def min_bulk_ess(case: FamilyCase, draws: dict, reference: xr.Dataset) -> tuple[float, float]:
    """Smallest bulk ESS and largest R-hat of the weights and family parameters, after relabelling to EM."""
    import arviz_stats as azs

    import bayesmix as bm

    family = get_component(case.component)
    dims = family.parameter_dims() | {"weights": ("component",)}
    D = case.X.shape[1]
    coords = {"component": np.arange(case.n_components), "feature": [f"x{d}" for d in range(D)]}
    coords["feature_bis"] = coords["feature"]
    posterior = xr.Dataset(
        {name: (("chain", "draw", *dims[name]), value) for name, value in draws.items() if name != "divergences"},
        coords=coords,
    )
    observed = xr.Dataset({"X": (("obs_id", "feature"), case.X)}, coords={"feature": coords["feature"]})
    tree = xr.DataTree.from_dict({"posterior": posterior, "observed_data": observed})
    tree.attrs |= {"bayesmix_family": "mixture", "bayesmix_component": case.component}
    params = bm.relabel(tree, reference=reference)["posterior"].to_dataset()[list(posterior.data_vars)]
    ess = min(float(v.min()) for v in azs.ess(params, method="bulk").data_vars.values())
    rhat = max(float(v.max()) for v in azs.rhat(params).data_vars.values())
    return ess, rhat


def measure(component: str, n_obs: int, contender: str, seed: int = 1, draws: int = 1000) -> dict:
    """The contender's first and second fit of one case; ESS per second of the second."""
    import bayesmix as bm

    warnings.simplefilter("ignore")
    case = FamilyCase(component, simulate(component, n_obs), draws=draws, tune=draws)
    reference = bm.em(case.X, case.n_components, component=component, random_seed=0)
    runner = {"bayesmix": lambda: lambda s: _bayesmix(case, s), "pymc": lambda: _PymcContender(case)}
    runner = runner.get(contender, lambda: _NumpyroContender(case))()
    start = time.perf_counter()
    runner(seed)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    second = runner(seed + 1)
    second_s = time.perf_counter() - start
    ess, rhat = min_bulk_ess(case, second, reference)
    return {
        "case": case.name,
        "contender": contender,
        "draws": draws,
        "first_s": first_s,
        "second_s": second_s,
        "min_bulk_ess": ess,
        "max_rhat": rhat,
        "divergences": second["divergences"],
        "ess_per_s": ess / second_s,
    }


def em_times(n_obs: int, seed: int = 0) -> dict:
    """Seconds and log-likelihood of the Bernoulli EM baseline: ``bm.em`` against StepMix, 10 starts each."""
    from stepmix.stepmix import StepMix

    import bayesmix as bm

    warnings.simplefilter("ignore")
    X = simulate("bernoulli", n_obs, seed)
    K = N_COMPONENTS["bernoulli"]
    start = time.perf_counter()
    ours = bm.em(X, K, component="bernoulli", n_init=10, random_seed=seed)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = StepMix(n_components=K, measurement="binary", n_init=10, random_state=seed, verbose=0, progress_bar=0).fit(
        X
    )
    theirs_s = time.perf_counter() - start
    return {
        "n_obs": n_obs,
        "bayesmix_s": ours_s,
        "bayesmix_log_likelihood": float(ours["log_likelihood"]),
        "stepmix_s": theirs_s,
        "stepmix_log_likelihood": float(theirs.score(X)) * n_obs,
    }


def markdown(rows: list[dict], command: str, failed: list[str] = (), em_rows: list[dict] = ()) -> str:
    lines = [
        "# Component families: bayesmix against hand-written PyMC and numpyro",
        "",
        f"`{command}`; 4 chains; times of the second fit in one process (first fit with compilation in brackets); "
        "ESS is the smallest bulk ESS over weights and family parameters after relabelling to the family's EM; "
        "ratio: bayesmix's ESS/s over the best hand-written contender's.",
        "",
        "| case | contender | draws | wall s (first) | min bulk ESS | max R-hat | divergences | ESS/s | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case in dict.fromkeys(r["case"] for r in rows):
        group = [r for r in rows if r["case"] == case]
        ours = next((r["ess_per_s"] for r in group if r["contender"] == "bayesmix"), np.nan)
        best_other = max((r["ess_per_s"] for r in group if r["contender"] != "bayesmix"), default=np.nan)
        for r in group:
            ratio = f"{ours / best_other:.2f}" if r["contender"] == "bayesmix" else ""
            lines.append(
                f"| {case} | {r['contender']} | {r['draws']} | {r['second_s']:.1f} ({r['first_s']:.1f}) | "
                f"{r['min_bulk_ess']:.0f} | {r['max_rhat']:.3f} | {r['divergences']} | {r['ess_per_s']:.1f} | {ratio} |"
            )
    if em_rows:
        lines += [
            "",
            f"EM baseline, Bernoulli, {N_ITEMS} items, K = {N_COMPONENTS['bernoulli']}, 10 starts each:",
            "",
            "| N | bm.em s | log-likelihood | StepMix s | log-likelihood |",
            "|---|---|---|---|---|",
            *(
                f"| {r['n_obs']:.0e} | {r['bayesmix_s']:.1f} | {r['bayesmix_log_likelihood']:.2f} | "
                f"{r['stepmix_s']:.1f} | {r['stepmix_log_likelihood']:.2f} |"
                for r in em_rows
            ),
        ]
    lines += ["", *(f"* not measured: {entry}" for entry in failed)] if failed else []
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bayesmix.bench.families", description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--draws", type=int, default=1000, help="draws and tuning steps per chain")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/families"))
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per measurement")
    args = parser.parse_args(argv)
    from bayesmix.bench.__main__ import _in_fresh_process

    args.out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python -m bayesmix.bench.families", *(argv if argv is not None else sys.argv[1:])])
    rows, failed, em_rows = [], [], []
    if "bernoulli" in args.components:
        for n_obs in args.sizes:
            em_rows.append(em_times(n_obs))
            print(em_rows[-1], flush=True)
    for component in args.components:
        for n_obs in args.sizes:
            for contender in args.contenders:
                call = (component, n_obs, contender, 1, args.draws)
                try:
                    row = _in_fresh_process("measure", call, 4, args.timeout, module="bayesmix.bench.families")
                except (RuntimeError, subprocess.TimeoutExpired) as err:  # recorded, and the run goes on
                    print(f"{component} N={n_obs} {contender}: {str(err).splitlines()[0]}", flush=True)
                    failed.append(f"{component} N={n_obs} {contender}: {str(err).splitlines()[0]}")
                    continue
                rows.append(row)
                print(
                    f"{row['case']:26s} {contender:9s} {row['second_s']:7.1f} s  ESS {row['min_bulk_ess']:6.0f}  "
                    f"R-hat {row['max_rhat']:.3f}  ESS/s {row['ess_per_s']:7.1f}",
                    flush=True,
                )
                record = {"rows": rows, "em": em_rows, "command": command}
                write_text_atomic(args.out / "benchmark.json", json.dumps(record, indent=1))
    write_text_atomic(args.out / "benchmark.md", markdown(rows, command, failed, em_rows))
    print(f"\nWrote {args.out / 'benchmark.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
