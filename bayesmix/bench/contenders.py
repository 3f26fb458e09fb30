"""The contenders: bayesmix with its defaults, and the same model written by hand.

Each contender is a class whose ``sample(seed)`` returns the draws as arrays
``weights`` (chain, draw, K), ``means`` (chain, draw, K, D) and
``covariances`` (chain, draw, K, D, D), plus the number of divergences. The
first call builds and compiles the model; a second call reuses whatever the
contender's own API lets a user reuse (nutpie's compiled model, numpyro's
MCMC object; ``bayesmix.fit`` compiles again), so the two calls give the
wall time with and without compilation.
"""

from __future__ import annotations

import numpy as np

from bayesmix.bench.cases import Case

CONTENDERS = ("bayesmix", "bayesmix-prior", "bayesmix-em", "pymc", "numpyro", "bayesmix-numpyro")
# Run unless --contenders says otherwise. "bayesmix-numpyro" is a candidate default, not a contender;
# "bayesmix-em" was the EM start before it became fit's default (the same path now, EM seeded apart).
DEFAULT_CONTENDERS = ("bayesmix", "bayesmix-prior", "pymc", "numpyro")
DESCRIPTIONS = {
    "bayesmix": "`bm.fit(bm.models.gmm(...))`, defaults: every chain starts at the EM means (EM's time "
    "counted in the wall time), nutpie on bayesmix's numba kernel",
    "bayesmix-prior": "`bm.fit(model, init='prior')`: the same, chains from nutpie's jittered start around the "
    "prior's central point (bayesmix's default before the EM start)",
    "bayesmix-em": "`bm.fit(model, init=bm.em(X, K))`: every chain starting at the EM means "
    "(the EM fit's time counted in the wall time)",
    "bayesmix-numpyro": "`bm.fit(bm.models.gmm(...), sampler=\"numpyro\")`: numpyro's NUTS on PyMC's JAX "
    "log-density (float64), chains in parallel",
    "pymc": "hand-written PyMC (`pm.Mixture` of per-component MvNormals), nutpie defaults (numba backend)",
    "numpyro": "hand-written numpyro (`MixtureSameFamily`), NUTS, parallel chains; numpyro defaults "
    "(float32, random starts)",
}


class BayesmixContender:
    sampler = "nutpie"

    def __init__(self, case: Case):
        import bayesmix as bm

        self.case = case
        self.model = bm.models.gmm(
            case.X, case.n_components, priors=case.bayesmix_priors(), order_means=case.order_means
        )

    def sample(self, seed: int) -> dict:
        import bayesmix as bm

        c = self.case
        result = bm.fit(
            self.model,
            draws=c.draws,
            tune=c.tune,
            chains=c.chains,
            sampler=self.sampler,
            init=self._start(seed),
            random_seed=seed,
            progressbar=False,
            target_accept=c.target_accept,
        )
        post = result["posterior"]
        return {
            "weights": post["weights"].values,
            "means": post["means"].values,
            "covariances": post["covariances"].values,
            "divergences": int(result["sample_stats"]["diverging"].sum()),
        }

    def _start(self, seed: int):
        return "auto"


class BayesmixPriorContender(BayesmixContender):
    def _start(self, seed: int):
        return "prior"


class BayesmixEmContender(BayesmixContender):
    """What bayesmix's command line does: EM first (``bm.em``, its defaults), then NUTS from its means."""

    def _start(self, seed: int):
        import bayesmix as bm

        return bm.em(self.case.X, self.case.n_components, random_seed=seed)


class BayesmixNumpyroContender(BayesmixContender):
    sampler = "numpyro"


class PymcContender:
    """What a PyMC user writes: one component distribution per cluster, ``nutpie.compile_pymc_model``."""

    def __init__(self, case: Case):
        self.case = case
        self.compiled = None

    def _model(self):
        import pymc as pm

        c = self.case
        K, D = c.n_components, c.n_features
        with pm.Model() as model:
            w = pm.Dirichlet("w", a=np.full(K, c.weight_a))
            if D == 1:
                ordered = {"transform": pm.distributions.transforms.ordered, "initval": np.linspace(-1, 1, K)}
                mu = pm.Normal("mu", c.mean_mu[0], c.mean_sigma[0], shape=K, **(ordered if c.order_means else {}))
                sigma = pm.HalfNormal("sigma", c.scale_sigma[0], shape=K)
                pm.NormalMixture("x", w=w, mu=mu, sigma=sigma, observed=c.X[:, 0])
                pm.Deterministic("means", mu[:, None])
                pm.Deterministic("covariances", (sigma**2)[:, None, None])
                return model
            components, means, covariances = [], [], []
            for k in range(K):
                mu = pm.Normal(f"mu{k}", c.mean_mu, c.mean_sigma, shape=D)
                chol, _, _ = pm.LKJCholeskyCov(
                    f"chol{k}", n=D, eta=c.lkj_eta, sd_dist=pm.HalfNormal.dist(c.scale_sigma, shape=D)
                )
                components.append(pm.MvNormal.dist(mu=mu, chol=chol))
                means.append(mu)
                covariances.append(chol @ chol.T)
            pm.Mixture("x", w=w, comp_dists=components, observed=c.X)
            pm.Deterministic("means", pm.math.stack(means))
            pm.Deterministic("covariances", pm.math.stack(covariances))
        return model

    def sample(self, seed: int) -> dict:
        import nutpie

        c = self.case
        if self.compiled is None:
            self.compiled = nutpie.compile_pymc_model(self._model())
        trace = nutpie.sample(
            self.compiled,
            draws=c.draws,
            tune=c.tune,
            chains=c.chains,
            seed=seed,
            progress_bar=False,
            target_accept=c.target_accept,
        )
        post = trace.posterior
        return {
            "weights": post["w"].values,
            "means": post["means"].values,
            "covariances": post["covariances"].values,
            "divergences": int(trace.sample_stats["diverging"].sum()),
        }


class NumpyroContender:
    """What a numpyro user writes: ``MixtureSameFamily`` and NUTS with one XLA device per chain.

    numpyro's defaults are kept, as for the other contenders: JAX's float32
    (the others compute in float64) and starts drawn uniformly in (-2, 2) on
    the unconstrained scale.
    """

    def __init__(self, case: Case):
        self.case = case
        self.mcmc = None

    def _model(self, X):
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist

        c = self.case
        K, D = c.n_components, c.n_features
        w = numpyro.sample("w", dist.Dirichlet(jnp.full(K, c.weight_a)))
        if D == 1:
            if c.order_means:
                mu = numpyro.sample("mu", dist.ImproperUniform(dist.constraints.ordered_vector, (), (K,)))
                numpyro.factor("mu_prior", dist.Normal(c.mean_mu[0], c.mean_sigma[0]).log_prob(mu).sum())
            else:
                mu = numpyro.sample("mu", dist.Normal(c.mean_mu[0], c.mean_sigma[0]).expand([K]).to_event(1))
            sigma = numpyro.sample("sigma", dist.HalfNormal(c.scale_sigma[0]).expand([K]).to_event(1))
            component = dist.Normal(mu, sigma)
            numpyro.sample("x", dist.MixtureSameFamily(dist.Categorical(w), component), obs=X[:, 0])
            return
        with numpyro.plate("component", K):
            mu = numpyro.sample("mu", dist.Normal(c.mean_mu, c.mean_sigma).to_event(1))
            sd = numpyro.sample("sd", dist.HalfNormal(c.scale_sigma).to_event(1))
            corr = numpyro.sample("corr_chol", dist.LKJCholesky(D, c.lkj_eta))
        chol = sd[..., :, None] * corr
        component = dist.MultivariateNormal(mu, scale_tril=chol)
        numpyro.sample("x", dist.MixtureSameFamily(dist.Categorical(w), component), obs=X)

    def sample(self, seed: int) -> dict:
        import jax
        from numpyro.infer import MCMC, NUTS

        c = self.case
        if self.mcmc is None:
            self.mcmc = MCMC(
                NUTS(self._model, target_accept_prob=c.target_accept),
                num_warmup=c.tune,
                num_samples=c.draws,
                num_chains=c.chains,
                chain_method="parallel",
                progress_bar=False,
            )
        self.mcmc.run(jax.random.PRNGKey(seed), np.asarray(c.X), extra_fields=("diverging",))
        s = {k: np.asarray(v) for k, v in self.mcmc.get_samples(group_by_chain=True).items()}
        if c.n_features == 1:
            means, covariances = s["mu"][..., None], (s["sigma"] ** 2)[..., None, None]
        else:
            chol = s["sd"][..., :, None] * s["corr_chol"]
            means, covariances = s["mu"], chol @ np.swapaxes(chol, -1, -2)
        diverging = self.mcmc.get_extra_fields()["diverging"]
        return {"weights": s["w"], "means": means, "covariances": covariances, "divergences": int(diverging.sum())}


def make(contender: str, case: Case):
    classes = {
        "bayesmix": BayesmixContender,
        "bayesmix-prior": BayesmixPriorContender,
        "bayesmix-em": BayesmixEmContender,
        "pymc": PymcContender,
        "numpyro": NumpyroContender,
        "bayesmix-numpyro": BayesmixNumpyroContender,
    }
    return classes[contender](case)
