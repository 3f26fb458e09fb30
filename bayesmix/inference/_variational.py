"""Draws from a fitted ADVI approximation, and their log-density, compiled by one backend.

PyMC's ``Approximation.sample`` compiles two functions of its own in PyTensor's
default mode: the draws, for a number of draws left symbolic, and the point
function of its NDArray trace (unconstrained values to every variable). With
a symbolic size JAX cannot compile the first, so both went to numba or C,
which on an empty cache cost more than the fit itself: 36 s (numba) and 41 s
(C) for a Dirichlet-process mixture of truncation 10 on 2 cores, plus 67 s
of C for the log-density of the draws. Here the number of draws is a
constant, so all three compile with the backend that ran the optimization,
JAX by default, in about a second each.
"""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import xarray as xr
from pymc.pytensorf import compile as compile_pytensor
from pymc.variational.opvi import Approximation
from scipy.stats import multivariate_normal


def unconstrained_draws(approx: Approximation, draws: int, seed: int, mode: str) -> dict[str, np.ndarray]:
    """``draws`` draws of every value variable from ``approx``, each of shape (draws, *shape)."""
    names = [name for ordering in approx.collect("ordering") for name in ordering]
    sampled = approx.set_size_and_deterministic([approx.rslice(name) for name in names], draws, 0)
    with warnings.catch_warnings():
        # PyTensor's JAX linker says it compiles a copy of each random generator; the
        # copy is the one seeded here, so the draws follow ``seed``.
        warnings.filterwarnings("ignore", message="The RandomType SharedVariables")
        sample = compile_pytensor([], sampled, mode=mode, random_seed=seed)
    return {name: np.asarray(values) for name, values in zip(names, sample(), strict=True)}


def posterior_of_draws(model: pm.Model, unconstrained: dict[str, np.ndarray], mode: str) -> xr.Dataset:
    """Every named free variable and deterministic of ``model`` at each unconstrained draw.

    The draws become one chain, with the model's dims and coordinates.
    """
    outputs = [var for var in model.unobserved_value_vars if var.name in model.named_vars]
    point_function = model.compile_fn(outputs, inputs=model.value_vars, mode=mode, point_fn=False)
    names = [value.name for value in model.value_vars]
    n_draws = len(next(iter(unconstrained.values())))
    per_draw = [point_function(*(unconstrained[name][d] for name in names)) for d in range(n_draws)]
    coords = {name: np.asarray(values) for name, values in model.coords.items() if name != "obs_id"}
    variables = {}
    for i, var in enumerate(outputs):
        stacked = np.stack([np.asarray(values[i]) for values in per_draw])[None]
        dims = ("chain", "draw", *model.named_vars_to_dims.get(var.name, ()))
        dims += tuple(f"{var.name}_dim_{j}" for j in range(stacked.ndim - len(dims)))  # as PyMC names them
        variables[var.name] = (dims, stacked)
    posterior = xr.Dataset(variables, coords={"chain": [0], "draw": np.arange(n_draws)})
    return posterior.assign_coords({name: values for name, values in coords.items() if name in posterior.dims})


def log_density_of_draws(model: pm.Model, unconstrained: dict[str, np.ndarray], mode: str) -> np.ndarray:
    """Unnormalized log posterior density (constrained scale, no Jacobian) of every draw, shape (1, draws).

    Evaluated by the model's own compiled log-density on the unconstrained
    values (PyMC's compute_log_prior mis-names LKJCorr's value variable, so it
    cannot be used here).
    """
    logp = model.compile_logp(jacobian=False, mode=mode)
    names = [value.name for value in model.value_vars]
    n_draws = len(unconstrained[names[0]])
    return np.array([[logp({name: unconstrained[name][d] for name in names}) for d in range(n_draws)]])


def log_densities_of_draws(
    approx: Approximation, model: pm.Model, unconstrained: dict[str, np.ndarray], mode: str
) -> tuple[np.ndarray, np.ndarray]:
    """``log p`` and ``log q`` of every draw on the unconstrained scale, each of shape (1, draws).

    ``log p`` is the model's unnormalized log posterior density with the
    Jacobian of the transforms, ``log q`` the fitted Gaussian approximation's
    log-density, both at the same unconstrained draws: their difference is
    the importance ratio that corrects PSIS-LOO for draws from q rather than
    from the posterior (arviz-stats' ``loo_approximate_posterior``).
    """
    logp = model.compile_logp(jacobian=True, mode=mode)
    names = [value.name for value in model.value_vars]
    n_draws = len(unconstrained[names[0]])
    log_p = np.array([[logp({name: unconstrained[name][d] for name in names}) for d in range(n_draws)]])
    log_q = np.zeros((1, n_draws))
    for group in approx.groups:
        entries = sorted(group.ordering.values(), key=lambda entry: entry[1].start)
        flat = np.concatenate([unconstrained[name].reshape(n_draws, -1) for name, *_ in entries], axis=1)
        mean, cov = np.asarray(group.mean.eval(), float), np.asarray(group.cov.eval(), float)
        log_q[0] += multivariate_normal(mean, cov).logpdf(flat).reshape(n_draws)
    return log_p, log_q
