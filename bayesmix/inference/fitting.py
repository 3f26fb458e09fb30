"""Fitting a bayesmix model: NUTS (nutpie, PyMC, numpyro) or ADVI, to an ``xarray.DataTree``."""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
import time
import warnings
from importlib.util import find_spec
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import xarray as xr
from pymc.blocking import DictToArrayBijection, RaveledVars
from pymc.model.transform.optimization import freeze_dims_and_data
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from bayesmix._deprecation import PACKAGE_FRAMES, renamed_arguments, warn_deprecated
from bayesmix._log_likelihood import log_likelihood_dataset, stores_log_likelihood
from bayesmix._result import data_groups, result_attrs
from bayesmix._validation import DegenerateDataWarning, check_choice, check_positive_int
from bayesmix.baseline.gaussian import DegenerateSolutionWarning, em
from bayesmix.diagnostics.sampler_checks import EM_STARTS, SamplerWarning, sampler_problems
from bayesmix.inference._compilation import DEFAULT_BACKEND, MODES, exact_arithmetic
from bayesmix.inference._minibatch import minibatch_model
from bayesmix.inference._variational import (
    log_densities_of_draws,
    log_density_of_draws,
    posterior_of_draws,
    unconstrained_draws,
)
from bayesmix.models._base import ModelInfo, get_info

METHODS = ("nuts", "advi", "fullrank_advi", "map")
ADVI_METHODS = ("advi", "fullrank_advi")
# Random restarts of the MAP optimizer; the best optimum is kept.
DEFAULT_MAP_RESTARTS = 4
# ADVI's optimization steps: Adam converges in ~10k steps where PyMC's default adagrad is still climbing at 30k.
DEFAULT_ADVI_STEPS = 20_000
# Initial standard deviation of mean-field ADVI for an MDN, on every network parameter.
# PyMC's default (1) is four times the prior scale of a 16-unit layer's weights: the
# noise then drowns the gating network and ADVI settles on one component. Measured on
# the inverse problem (K=3, 300 points, 20k steps): 1 and 0.1 gave one mode at x=0.5,
# 0.03 and below recovered the three branches.
MDN_ADVI_START_SIGMA = 0.01
# A Dirichlet-process mixture of a family other than the Gaussian starts at this many EM components.
DP_EM_START_COMPONENTS = 5
# The EM start of a mixture of x runs on at most this many rows drawn at random: on 1e6 rows its ten
# restarts took 43 s (of 575 s for the whole fit), on 1e5 rows 4 s, and warm-up moves the chains the last few posterior
# sds from a start that close.
START_ROWS = 100_000
SAMPLERS = ("nutpie", "pymc", "numpyro")
# Where fit starts: EM's solution (the variational DP's for a DP mixture), or the sampler's own start.
INIT_CHOICES = ("auto", "prior")
# What computes the log-density and its gradient: bayesmix's hand-written kernel (nutpie only),
# or PyTensor's graph compiled by JAX, numba or C (nutpie compiles with JAX or numba only).
BACKENDS = ("kernel", "jax", "numba", "c")
# Adam's step size for ADVI, and the fraction of it that minibatch ADVI decays to by its last step.
ADVI_LEARNING_RATE = 0.01
MINIBATCH_FINAL_RATE = 0.01


@renamed_arguments(n="n_steps")
def fit(
    model: pm.Model,
    *,
    method: str = "nuts",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    sampler: str = "nutpie",
    backend: str | None = None,
    init: xr.Dataset | str = "auto",
    random_seed: int | None = None,
    target_accept: float | None = None,
    n_steps: int | None = None,
    batch_size: int | None = None,
    n_init: int | None = None,
    log_likelihood: bool | None = None,
    progressbar: bool = True,
    sampler_kwargs: dict | None = None,
    **kwargs: Any,
) -> xr.DataTree:
    """Fit a model built by a bayesmix factory and return its posterior.

    Every argument is checked before any work starts (EM, compilation or sampling).

    Parameters
    ----------
    model : pymc.Model
        A model from :mod:`bayesmix.models`.
    method : {"nuts", "advi", "fullrank_advi", "map"}, default "nuts"
        NUTS sampling; mean-field or full-rank automatic differentiation
        variational inference (one chain of ``draws`` draws from the fitted
        approximation, the ELBO history in the ``fit_history`` group); or, for
        :func:`bayesmix.models.mdn` only, the maximum a posteriori point (one
        chain of one draw: the classical, optimized MDN, the network's point
        baseline as :func:`bayesmix.em` is for the mixtures). The MAP runs
        scipy's L-BFGS-B from ``n_init`` draws from the prior and keeps the best
        optimum; the log posterior density of each restart is in ``fit_history``.
    draws, tune, chains : int
        Kept draws per chain, warm-up iterations per chain, number of chains.
        ADVI and the MAP take one chain: leave ``chains`` at its default there.
    sampler : {"nutpie", "pymc", "numpyro"}, default "nutpie"
        The NUTS implementation. "numpyro" needs the ``jax`` extra.
    backend : {"kernel", "jax", "numba", "c"}, optional
        What computes the log-density and its gradient. ``"kernel"`` is
        bayesmix's hand-written numba kernel for Gaussian mixtures (finite or
        Dirichlet process, default prior families, at most six features), for
        nutpie only; ``"jax"`` and ``"numba"`` compile PyMC's graph with JAX or
        numba; ``"c"`` with PyTensor's C backend (PyMC's NUTS, ADVI and the MAP;
        minutes to compile on an empty cache, then fast calls). By default:
        the kernel where the model qualifies, else JAX (numba for the count
        families under nutpie). numpyro always uses JAX. ``result.attrs``
        records which ran.
    init : {"auto", "prior"} or xarray.Dataset, default "auto"
        Where the chains (or ADVI's approximation) start. ``"auto"`` starts a
        finite mixture at :func:`bayesmix.em`'s maximum-likelihood solution
        (same K and covariance type, 10 k-means starts seeded from
        ``random_seed``; its time counts in the fit's wall time), a
        Dirichlet-process mixture at scikit-learn's variational DP solution
        (components ordered by decreasing weight) and a mixture of regressions
        at its EM; an MDN starts where PyMC starts it. Every chain begins at
        the EM locations, the other parameters jittered on the unconstrained
        scale (nutpie; PyMC's and numpyro's NUTS start every chain exactly at
        EM), so all chains begin in one labelling and in the bulk of the
        posterior. When EM's best solution is degenerate (a collapsed
        covariance), the chains start as with ``"prior"`` and the result's
        ``fit_settings`` say so. ``"prior"``: the sampler's own start, around
        the prior's central point, where chains usually settle in different
        labellings (:func:`bayesmix.relabel` fixes that afterwards). An EM
        result of the model's K (from :func:`bayesmix.em`) starts there
        instead. Chains that all start near one solution cannot show in R-hat
        a mode none of them reaches: when in doubt, compare fits from several
        seeds, or from ``"prior"``.
    random_seed : int, optional
        Seed for EM, the sampler or optimizer; the same seed gives the same
        draws, bit for bit, in one process and across processes, for every
        sampler and method. When omitted a seed is drawn and recorded in the
        result's attrs.
    target_accept : float, optional
        NUTS only: the target acceptance rate of step-size adaptation, in
        (0, 1) (the sampler's default, 0.8, when omitted). Raise it (0.9,
        0.95) when the fit reports divergent transitions.
    n_steps : int, optional
        ADVI only: the number of optimization steps (default 20,000), with
        Adam at learning rate 0.01.
    batch_size : int, optional
        ADVI of a mixture only: estimate the log-likelihood at each step from
        this many rows drawn at random (with replacement), scaled by
        ``n_obs / batch_size`` (minibatch ADVI). A step then costs time in
        proportion to ``batch_size`` rather than to the number of rows, and
        Adam's step size decays over the second half of the steps so that the
        gradient noise settles. The ELBO in ``fit_history`` is a noisier
        estimate on the whole data's scale; the draws, ``lp`` and the
        pointwise log-likelihood are computed on the whole data.
    n_init : int, optional
        MAP only: the number of random restarts (default 4).
    log_likelihood : bool, optional
        Whether to store the pointwise log-likelihood of every draw, dims
        (chain, draw, obs_id), in the ``log_likelihood`` group (for your own
        ArviZ calls). It is draws x observations values: 3.2 GB at N = 1e5 with
        the default draws. None (the default) stores it while draws x
        observations is at most 5e7 (400 MB). bayesmix's own functions
        (:func:`bayesmix.compare`, :func:`bayesmix.diagnose`, ...) compute
        what they need from the posterior and the data when it is not stored.
    progressbar : bool, default True
        Show the sampler's progress.
    sampler_kwargs : dict, optional
        Further options passed unchanged to what runs the method:
        ``nutpie.sample``, ``pymc.sample`` (for "pymc" and "numpyro"),
        ``pymc.fit`` (ADVI; ``obj_optimizer``, ``start_sigma``), or the
        options of ``scipy.optimize.minimize`` (the MAP; e.g. ``maxiter``).
    **kwargs
        Deprecated: former spelling of ``sampler_kwargs`` (and ``n`` of
        ``n_steps``); a DeprecationWarning names the new spelling.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``observed_data`` and, as
        ``log_likelihood`` says, ``log_likelihood`` (pointwise, dims chain,
        draw, obs_id); attrs name the model
        family, its settings, the priors, the method and sampler, the seed, the
        bayesmix version and the wall time in seconds.

    Warns
    -----
    SamplerWarning
        After NUTS, for divergent transitions, draws at the maximum tree
        depth (more than 1%) or an E-BFMI below 0.3 in any chain; the message
        names the parameter most implicated and what to try.

    Examples
    --------
    >>> import bayesmix as bm
    >>> X = bm.datasets.load("faithful")
    >>> result = bm.fit(bm.models.gmm(X, 2), draws=500, random_seed=0)  # doctest: +SKIP
    """
    if not isinstance(model, pm.Model):
        raise TypeError(
            f"Argument `model` must be a pymc.Model built by a bayesmix factory "
            f"(e.g. bayesmix.models.gmm) but got {type(model).__name__}."
        )
    info = get_info(model)
    if info is None:
        raise ValueError(
            "Argument `model` was not built by a bayesmix factory; build it with "
            "bayesmix.models.gmm (or another factory in bayesmix.models)."
        )
    method = check_choice(method, METHODS, name="method")
    sampler = check_choice(sampler, SAMPLERS, name="sampler")
    draws = check_positive_int(draws, name="draws")
    chains = check_positive_int(chains, name="chains")
    tune = check_positive_int(tune, name="tune", allow_zero=True)
    if method != "nuts" and chains != 4:
        raise ValueError(
            f"Argument `chains` does not apply to method={method!r} (one approximation); leave it at its default."
        )
    if method == "nuts" and sampler == "numpyro" and find_spec("numpyro") is None:
        raise ValueError(
            "sampler='numpyro' needs the optional JAX stack; install it with "
            "`pip install 'bayesmix[jax]'` or choose sampler='nutpie'."
        )
    if random_seed is None:
        random_seed = secrets.randbelow(2**31)
    elif isinstance(random_seed, bool) or not isinstance(random_seed, int | np.integer):
        raise TypeError(f"Argument `random_seed` must be an int or None but got {random_seed!r}.")
    if info.is_network and isinstance(init, xr.Dataset):
        raise ValueError("Argument `init` applies to Gaussian mixtures only; leave it out for an MDN.")
    if not isinstance(init, xr.Dataset | str) or (isinstance(init, str) and init not in INIT_CHOICES):
        error = ValueError if init is None or isinstance(init, str) else TypeError
        raise error(
            "Argument `init` must be 'auto' (start at EM's solution), 'prior' (the sampler's own "
            "start) or an EM result from bayesmix.em (an xarray.Dataset with weights, means and "
            f"covariances), but got {init!r:.60}."
        )
    if method == "map" and not info.is_network:
        raise ValueError(
            f"method='map' fits the MDN's point baseline; for a {info.family!r} model the "
            "maximum-likelihood point is bayesmix.em(...), and fit takes 'nuts' or 'advi'."
        )
    backend = _checked_backend(backend, method, sampler, model, info)
    options = _sampler_options(sampler_kwargs, kwargs)
    if target_accept is not None:
        options["target_accept"] = _checked_target_accept(target_accept, method)
    n_steps = _method_option(n_steps, "n_steps", ADVI_METHODS, method, DEFAULT_ADVI_STEPS)
    n_init = _method_option(n_init, "n_init", ("map",), method, DEFAULT_MAP_RESTARTS)
    if batch_size is not None:
        batch_size = _checked_batch_size(batch_size, method, info)
    if log_likelihood is not None and not isinstance(log_likelihood, bool | np.bool_):
        raise TypeError(
            f"Argument `log_likelihood` must be True, False or None (store it while it is small) "
            f"but got {log_likelihood!r:.60}."
        )
    if "start_sigma" in options and method != "advi":
        raise ValueError("Option `start_sigma` applies to method='advi' only; leave it out of `sampler_kwargs`.")

    start = time.perf_counter()
    init, init_source = _start(info, init, random_seed)
    initial = _initial_values(info, init) if init is not None else None
    if info.is_network and method == "advi" and "start_sigma" not in options:
        sizes = {name: value.size for name, value in model.initial_point().items()}
        options["start_sigma"] = {name: np.full(size, MDN_ADVI_START_SIGMA) for name, size in sizes.items()}

    # Compiled without fast math, so that the same seed gives the same draws whether
    # this process compiles the model or finds it in PyTensor's cache.
    with exact_arithmetic():
        if method == "nuts":
            tree = _run_nuts(
                model, info, sampler, backend, draws, tune, chains, initial, random_seed, progressbar, options
            )
        elif method == "map":
            tree = _run_map(model, backend, n_init, random_seed, options)
        else:
            tree = _run_advi(
                model, method, backend, n_steps, draws, initial, random_seed, progressbar, batch_size, options
            )
    wall_time = time.perf_counter() - start

    # as_numpy: numpyro's draws arrive as JAX arrays, which xarray cannot index by array
    # (bm.relabel failed on them).
    posterior = tree["posterior"].to_dataset().as_numpy()
    n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]
    stored = stores_log_likelihood(log_likelihood, n_draws, info.data.n_obs)
    result = xr.DataTree.from_dict(
        {
            "posterior": posterior,
            "sample_stats": tree["sample_stats"].to_dataset().as_numpy(),
            **({"log_likelihood": log_likelihood_dataset(posterior, info)} if stored else {}),
            **data_groups(info),
            **({"fit_history": tree["fit_history"].to_dataset()} if "fit_history" in tree else {}),
        }
    )
    result.attrs = result_attrs(
        info,
        method=method,
        sampler=sampler if method == "nuts" else "pymc" if method != "map" else "scipy",
        random_seed=int(random_seed),
        wall_time_s=wall_time,
        fit_settings={"draws": draws, "tune": tune, "chains": chains, "init": init_source},
        **({"nuts_backend": tree.attrs["backend"]} if method == "nuts" and sampler == "nutpie" else {}),
    )
    if method == "nuts":
        posterior, stats = result["posterior"].to_dataset(), result["sample_stats"].to_dataset()
        from_em = init_source in EM_STARTS
        for problem in sampler_problems(posterior, stats, conditional=info.is_network, started_from_em=from_em):
            warnings.warn(problem.message, SamplerWarning, skip_file_prefixes=PACKAGE_FRAMES)
    return result


def _run_nuts(model, info, sampler, backend, draws, tune, chains, initial, seed, progressbar, kwargs):
    if sampler == "nutpie":
        import nutpie

        if backend == "kernel":
            from bayesmix.inference import _nutpie_gmm

            jitter = None if initial is None else _all_but_locations(model, info)
            compile_model = functools.partial(_nutpie_gmm.compile_model, model, info, initial, jitter)
        else:
            compile_kwargs = {"backend": backend, "gradient_backend": "jax" if backend == "jax" else "pytensor"}
            if initial is not None:
                # Start every chain at the EM means; jitter the other parameters only. nutpie
                # freezes the model for JAX and would then match none of our jitter_rvs (no
                # jitter at all: identical chains, and an exactly zero gradient, which nutpie
                # rejects, when the EM weights are equal), so freeze it here and name its RVs.
                model = freeze_dims_and_data(model)
                compile_kwargs["freeze_model"] = False
                compile_kwargs["initial_points"] = initial
                compile_kwargs["jitter_rvs"] = _all_but_locations(model, info)
            compile_model = functools.partial(nutpie.compile_pymc_model, model, **compile_kwargs)
        # One BLAS thread while nutpie samples: its chain threads call back into Python, and
        # OpenBLAS's spinning worker threads then fight them for the cores. Measured on faithful,
        # K=2, tied covariance, one chain of 300 + 300 on a busy 2-core machine: 25 s with
        # OpenBLAS's default 2 threads, 7.7 s with one (full covariance: 5.4 s either way).
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.filterwarnings("ignore", category=UserWarning, module="nutpie")
            tree = nutpie.sample(
                compile_model(),
                draws=draws,
                tune=tune,
                chains=chains,
                seed=int(seed),
                progress_bar=progressbar,
                save_warmup=False,
                **kwargs,
            )
            tree.attrs["backend"] = backend
            return tree
    sample_kwargs = dict(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=int(seed),
        progressbar=progressbar,
        compute_convergence_checks=False,
    )
    if sampler == "pymc":
        sample_kwargs["backend"], sample_kwargs["model"] = backend, _compiled_model(model, backend)
    else:  # numpyro traces the log-density with JAX too
        sample_kwargs["model"] = freeze_dims_and_data(model)
    if initial is not None:
        sample_kwargs["initvals"] = initial
        # Chains start exactly at EM: PyMC jitters every variable or none, and jittering the
        # means by up to 1 on the unconstrained scale sent one of numpyro's four chains into the
        # local mode of posteriordb's low_dim_gauss_mix (both components on one cluster, seed 20).
        if sampler == "pymc":
            sample_kwargs["init"] = "adapt_diag"
        else:
            kwargs = kwargs | {"nuts": {"jitter": False, **kwargs.get("nuts", {})}}
    # Always name the sampler: PyMC 6 otherwise picks nutpie whenever it is installed.
    sample_kwargs["nuts_sampler"] = sampler
    with warnings.catch_warnings():
        # numpyro draws the chains one after the other on a single XLA device and says so on
        # every fit; on 2 cores, 4 host devices were no faster (faithful K=2: 11.0 s and 10.9 s).
        warnings.filterwarnings("ignore", message="There are not enough devices to run parallel chains")
        return pm.sample(**sample_kwargs, **kwargs)


def _all_but_locations(model: pm.Model, info: ModelInfo) -> set:
    """The free variables to jitter around an EM start: every chain starts exactly at the EM locations
    (the family's means or rates), so that all chains begin in EM's labelling."""
    if info.is_regression:
        from bayesmix.models.mixreg import LOCATIONS

        return {rv for rv in model.free_RVs if rv.name not in LOCATIONS}
    location = info.component_family.location
    return {rv for rv in model.free_RVs if not rv.name.startswith(location)}


def _checked_backend(requested: Any, method: str, sampler: str, model: pm.Model, info: ModelInfo) -> str:
    """What computes the log-density: ``requested`` checked against the method and sampler, or the default.

    nutpie's NUTS defaults to the kernel (:mod:`bayesmix.inference._nutpie_gmm`)
    wherever the model qualifies, else to the component family's choice
    (``nutpie_backend``: JAX, or numba for the count families; numba too when
    JAX is not installed). Everything else defaults to JAX.
    """
    if requested is not None:
        requested = check_choice(requested, BACKENDS, name="backend")
    if method == "nuts" and sampler == "numpyro":
        if requested not in (None, "jax"):
            raise ValueError(
                f"Argument `backend` cannot be {requested!r} with sampler='numpyro', which compiles the model "
                "with JAX itself. Leave `backend` out, or choose sampler='nutpie' or 'pymc'."
            )
        return "jax"
    if method == "nuts" and sampler == "nutpie":
        from bayesmix.inference._nutpie_gmm import unsupported

        reason = unsupported(model, info)
        if requested is None:
            if reason is None:
                return "kernel"
            preferred = "jax" if info.is_conditional else info.component_family.nutpie_backend
            return preferred if preferred == "numba" or find_spec("jax") is not None else "numba"
        if requested == "c":
            raise ValueError(
                "Argument `backend` cannot be 'c' with sampler='nutpie', which compiles with JAX or numba "
                "(or runs the kernel); pass backend='jax', 'numba' or 'kernel', or sampler='pymc'."
            )
        if requested == "kernel" and reason is not None:
            raise ValueError(
                f"backend='kernel' cannot sample this model ({reason}); leave `backend` out to use nutpie's "
                "JAX backend."
            )
        return requested
    if requested == "kernel":
        where = f"sampler={sampler!r}" if method == "nuts" else f"method={method!r}"
        raise ValueError(
            f"Argument `backend` cannot be 'kernel' with {where}: the kernel serves nutpie's NUTS only. "
            "Pass backend='jax', 'numba' or 'c', or leave it out."
        )
    return requested or DEFAULT_BACKEND


def _compiled_model(model: pm.Model, backend: str) -> pm.Model:
    """The model to compile with ``backend``.

    For JAX that is the model with data and dims frozen: JAX needs static shapes,
    and from the unfrozen model the 1-D and ordered-means graphs slice with a stop
    that follows the data's shape, which it cannot trace.
    """
    return freeze_dims_and_data(model) if backend == "jax" else model


def _sampler_options(sampler_kwargs: Any, deprecated: dict) -> dict:
    """``sampler_kwargs`` (copied), with the options formerly passed as ``**kwargs`` merged in and warned of."""
    if sampler_kwargs is not None and not isinstance(sampler_kwargs, dict):
        raise TypeError(f"Argument `sampler_kwargs` must be a dict or None but got {type(sampler_kwargs).__name__}.")
    options = dict(sampler_kwargs or {})
    if deprecated:
        names = ", ".join(sorted(deprecated))
        warn_deprecated(
            f"Passing sampler options to bayesmix.fit as keywords ({names}) is deprecated and will be removed in "
            f"the next release; pass them as sampler_kwargs={{...}}."
        )
        options |= deprecated
    for name in ("backend", "draws", "tune", "chains", "random_seed", "n_steps", "n_init", "target_accept"):
        if name in options:
            raise ValueError(f"Pass `{name}` to bayesmix.fit itself, not in `sampler_kwargs`.")
    return options


def _checked_target_accept(value: Any, method: str) -> float:
    if method != "nuts":
        raise ValueError(f"Argument `target_accept` applies to method='nuts'; leave it out for method={method!r}.")
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating) or not 0 < value < 1:
        raise ValueError(f"Argument `target_accept` must be a number strictly between 0 and 1 but got {value!r}.")
    return float(value)


def _method_option(value: Any, name: str, methods: tuple[str, ...], method: str, default: int) -> int:
    """A positive-int option of some methods only: its checked value, or ``default`` when left out."""
    if value is None:
        return default
    if method not in methods:
        applies = " and ".join(repr(m) for m in methods)
        raise ValueError(f"Argument `{name}` applies to method={applies}; leave it out for method={method!r}.")
    return check_positive_int(value, name=name)


def _checked_batch_size(batch_size: Any, method: str, info: ModelInfo) -> int:
    if method not in ("advi", "fullrank_advi"):
        raise ValueError(
            f"Argument `batch_size` applies to method='advi' and 'fullrank_advi' (minibatch ADVI); "
            f"method={method!r} needs the whole data's log-density. Leave `batch_size` out."
        )
    if info.is_conditional:
        raise ValueError(
            "Argument `batch_size` applies to mixtures (mixture, dp_mixture, gmm, dp_gmm); an MDN or a mixture "
            "of regressions is fitted on the whole data. Leave `batch_size` out."
        )
    batch_size = check_positive_int(batch_size, name="batch_size")
    if batch_size >= info.data.n_obs:
        raise ValueError(
            f"Argument `batch_size` must be smaller than the number of observations "
            f"({info.data.n_obs}) but got {batch_size}; leave it out to use every observation at each step."
        )
    return batch_size


def _run_advi(model, method, backend, n_steps, draws, initial, seed, progressbar, batch_size, kwargs):
    quiet = logging.getLogger("pymc.variational.inference")
    previous_level = quiet.level
    if not progressbar:
        quiet.setLevel(logging.WARNING)  # PyMC logs "Finished [100%]" even without a progress bar
    model = _compiled_model(model, backend)
    target = minibatch_model(model, batch_size) if batch_size else model
    inference_options = {"random_seed": int(seed), "start": initial}
    if "start_sigma" in kwargs:
        inference_options["start_sigma"] = kwargs.pop("start_sigma")
    if batch_size and "obj_optimizer" not in kwargs:
        optimizer, step_updates = _decaying_adam(n_steps)
    else:
        optimizer, step_updates = pm.adam(learning_rate=ADVI_LEARNING_RATE), {}
    with target, warnings.catch_warnings():
        # PyTensor's JAX linker says it compiles a copy of each random generator; PyMC
        # seeds that copy, so ADVI still follows random_seed (tests/test_reproducibility.py).
        warnings.filterwarnings("ignore", message="The RandomType SharedVariables")
        inference = {"advi": pm.ADVI, "fullrank_advi": pm.FullRankADVI}[method](model=target, **inference_options)
        # PyMC would divide a minibatch ELBO by a normalizing constant (1e7 for 1e5 rows in
        # batches of 500); keep it on the whole data's scale, comparable with a whole-data fit's.
        inference.approx.scale_cost_to_minibatch = False
        approx = inference.fit(
            n_steps,
            progressbar=progressbar,
            backend=backend,
            obj_optimizer=kwargs.pop("obj_optimizer", optimizer),
            more_updates=kwargs.pop("more_updates", {}) | step_updates,
            **kwargs,
        )
        quiet.setLevel(previous_level)
        mode = MODES[backend]
        unconstrained = unconstrained_draws(approx, draws, int(seed) + 1, mode)
    posterior = posterior_of_draws(model, unconstrained, mode)
    elbo = -np.asarray(approx.hist, dtype=float)
    history = xr.Dataset(
        {"elbo": ("iteration", elbo)},
        # batch_size is recorded for minibatch ADVI only; without it every step saw the whole data.
        attrs={"method": method, "n_steps": n_steps, "backend": backend}
        | ({"batch_size": batch_size} if batch_size else {}),
    )
    log_p, log_q = log_densities_of_draws(approx, model, unconstrained, mode)
    stats = xr.Dataset(
        {
            "lp": (("chain", "draw"), log_density_of_draws(model, unconstrained, mode)),
            # On the unconstrained scale, for PSIS-LOO of draws from q (bayesmix.compare).
            "log_p": (("chain", "draw"), log_p),
            "log_q": (("chain", "draw"), log_q),
        }
    )
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats, "fit_history": history})


def _decaying_adam(n_steps: int) -> tuple[Any, dict]:
    r"""Adam whose step size holds for the first half of the steps, then decays exponentially.

    The rate is :math:`\eta_t = \eta_0\, r^{\min(1, \max(0, 2t/n - 1))}`, from
    :data:`ADVI_LEARNING_RATE` to :math:`r` = :data:`MINIBATCH_FINAL_RATE` of it
    at the last step. At a constant rate the noise of minibatch gradients keeps
    the parameters wandering about the optimum: synthetic D = 2, K = 3, N = 1e5,
    batches of 1,000, 20,000 steps, the posterior means ended 16 posterior sds
    from the EM solution (0.12 in the data's units), and 0.45 sds with the decay.
    Returns the optimizer and the update of its step counter.
    """
    step = pytensor.shared(np.float64(0.0), name="advi_step")
    half = n_steps / 2
    progress = pt.clip((step - half) / half, 0.0, 1.0)
    rate = ADVI_LEARNING_RATE * pt.exp(np.log(MINIBATCH_FINAL_RATE) * progress)
    return pm.adam(learning_rate=rate), {step: step + 1}


def _run_map(model, backend, n_init, seed, kwargs):
    """L-BFGS-B from ``n_init`` prior draws, keeping the best optimum.

    Written on scipy directly rather than ``pm.find_MAP``, which compiles the
    log-density again for every start (2-3 s each); here one compiled
    log-density and gradient serves all the restarts. The MDN's parameters are
    all unconstrained, so the value variables are the parameters themselves.
    """
    rng = np.random.default_rng(seed)
    # Prior draws as starts: the prior's central point (all weights zero) is a saddle
    # where every hidden unit is the same and the gradient cannot tell them apart.
    starts = pm.draw(model.free_RVs, draws=n_init, random_seed=rng)
    if n_init == 1:  # pm.draw drops the draws axis for a single draw
        starts = [start[None] for start in starts]
    starts = dict(zip([rv.name for rv in model.free_RVs], starts, strict=True))
    compiled = _compiled_model(model, backend)
    logp_dlogp = compiled.logp_dlogp_function(ravel_inputs=True, mode=MODES[backend])
    logp_dlogp.set_extra_values({})
    # The compiled function takes the compiled model's value variables raveled in its
    # order, which freezing changes (the first RV can come last).
    names = [value.name for value in compiled.value_vars]

    def negative(x):
        logp, dlogp = logp_dlogp(x)
        return -logp, -dlogp

    optima, log_densities, converged = [], [], []
    for i in range(n_init):
        x0 = DictToArrayBijection.map({name: starts[name][i] for name in names})
        found = minimize(negative, x0.data, jac=True, method="L-BFGS-B", options=kwargs or None)
        optima.append(DictToArrayBijection.rmap(RaveledVars(found.x, x0.point_map_info)))
        log_densities.append(-found.fun)
        converged.append(bool(found.success))
    log_densities = np.asarray(log_densities)
    best = optima[int(np.nanargmax(log_densities))]
    coords = {k: np.asarray(v) for k, v in model.coords.items() if k != "obs_id"}
    posterior = xr.Dataset(
        {name: (("chain", "draw", *model.named_vars_to_dims.get(name, ())), best[name][None, None]) for name in starts},
        coords={"chain": [0], "draw": [0], **coords},
    )
    stats = xr.Dataset({"lp": (("chain", "draw"), [[np.nanmax(log_densities)]])})
    history = xr.Dataset(
        {"lp": ("restart", log_densities), "converged": ("restart", converged)},
        attrs={"method": "map", "n_init": n_init, "optimizer": "L-BFGS-B", "backend": backend},
    )
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats, "fit_history": history})


def _start(info: ModelInfo, init: xr.Dataset | str, seed: int) -> tuple[xr.Dataset | None, str]:
    """The point estimate the chains start from (None: the sampler's own start) and its name."""
    if isinstance(init, xr.Dataset):
        return init, "given"
    if init == "prior" or info.is_network:
        return None, "prior"
    if info.is_regression:
        from bayesmix.models.mixreg import em_start

        return em_start(info, seed), "em"
    family = info.component_family
    seed = int(seed) % (2**31 - 10)
    data = info.data
    if data.n_obs > START_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(data.n_obs, size=START_ROWS, replace=False))
        data = dataclasses.replace(data, values=data.values[rows])
    with warnings.catch_warnings():
        # The factory has warned about constant features already; a degenerate solution is handled below.
        warnings.simplefilter("ignore", DegenerateSolutionWarning)
        warnings.simplefilter("ignore", DegenerateDataWarning)
        if info.is_dirichlet_process and getattr(family, "dedicated_model", False):
            # Most of the truncation's components end up nearly empty, which is no degeneracy here.
            solution = em(
                data.values,
                info.n_components,
                covariance=info.settings["covariance"],
                method="variational_dp",
                n_init=3,
                random_seed=seed,
            )
            return solution, "variational_dp"
        if info.is_dirichlet_process:
            # EM with a few components; the remaining sticks start nearly empty (_initial_values).
            n_components = min(info.n_components, DP_EM_START_COMPONENTS, data.n_obs)
            solution = family.em(data, n_components, covariance=info.settings["covariance"], n_init=3, seed=seed)
            return solution, "em"
        solution = family.em(data, info.n_components, covariance=info.settings["covariance"], n_init=10, seed=seed)
    if solution["degenerate"].any():
        return None, "prior (EM's solution is degenerate)"
    return solution, "em"


def _initial_values(info: ModelInfo, init: xr.Dataset) -> dict[str, np.ndarray]:
    """Initial values (constrained scale) of the free variables from an EM result."""
    if info.is_regression:
        from bayesmix.models.mixreg import initial_values

        return initial_values(info, init)
    family = info.component_family
    needed = {"weights", *family.parameters}
    if not isinstance(init, xr.Dataset) or not needed <= set(init):
        raise TypeError(
            f"Argument `init` must be an EM result from bayesmix.em (an xarray.Dataset with "
            f"{sorted(needed)}) but got {type(init).__name__}."
        )
    K = info.n_components
    n_given = init.sizes.get("component")
    fewer_sticks = info.is_dirichlet_process and n_given is not None and n_given < K
    if (n_given != K and not fewer_sticks) or init.sizes.get("feature") != info.data.n_features:
        raise ValueError(
            f"Argument `init` has {n_given} components and "
            f"{init.sizes.get('feature')} features but the model has {K} and "
            f"{info.data.n_features}; run bayesmix.em with the model's n_components."
        )
    init = init[["weights", *family.parameters]]
    if info.is_dirichlet_process:
        order = np.argsort(-init["weights"].values, kind="stable")  # stick-breaking favours decreasing weights
        # Sticks beyond the solution's components start as copies of its largest, nearly empty.
        order = np.concatenate([order, np.full(K - n_given, order[0])])
    elif info.settings.get("order_means"):
        order = np.argsort(init["means"].values[:, 0])
    else:
        order = np.arange(K)
    init = init.isel(component=order).assign_coords(component=np.arange(K))
    weights = np.clip(init["weights"].values, 1e-3, None)
    if fewer_sticks:
        weights[n_given:] = 1e-3
    weights = weights / weights.sum()
    init["weights"] = ("component", weights)
    values = family.initial_values(init, info.data, info.settings["covariance"])
    if K > 1:
        values["weights"] = weights
    if info.settings.get("order_means") and K > 1:
        means = values.pop("means")
        values["means_ordered"] = means[:, 0]
        if means.shape[1] > 1:
            values["means_other"] = means[:, 1:]
    return values
