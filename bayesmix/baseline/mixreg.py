r"""The EM baseline of a mixture of regressions (and of experts): flexmix's algorithm.

E-step: memberships :math:`r_{ik} \propto \pi_k(z_i)\, f(y_i \mid x_i, \theta_k)`.
M-step: per component, the family's GLM fitted by statsmodels with each row's
log-likelihood weighted by :math:`r_{ik}` (the family's :meth:`m_step`,
:mod:`bayesmix.components._response`); the weights :math:`\pi_k = \bar r_{\cdot k}`,
or, with a gate, a multinomial logistic regression of the memberships on the
covariates (scikit-learn's ``LogisticRegression``, unpenalized, with the
memberships as sample weights over K copies of the rows), as flexmix's
``FLXPmultinom`` does. Each start is a random hard partition of the rows
(flexmix's default); the fit of highest likelihood is kept. With one component
the M-step is one GLM fit, so the result is statsmodels' maximum-likelihood fit.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from bayesmix.baseline._em import _logsumexp_rows, criteria

DEFAULT_TOL = 1e-8
DEFAULT_MAX_ITER = 500


def em_mixreg(problem, *, n_init: int, seed: int, tol: float = DEFAULT_TOL, max_iter: int = DEFAULT_MAX_ITER):
    """Fit ``problem`` (:func:`bayesmix.models.mixreg.prepare`) by EM from ``n_init`` random partitions (start
    ``i`` seeded ``seed + i``); the best fit as an ``xarray.Dataset`` in the posterior's names."""
    best = None
    for start in range(n_init):
        fit = _run(problem, np.random.default_rng(seed + start), tol, max_iter)
        if best is None or fit["log_likelihood"] > best["log_likelihood"]:
            best = fit
    return _dataset(
        problem, _ordered(best, np.asarray(problem.settings["x_mean"])), {"n_init": n_init, "random_seed": seed}
    )


def _run(problem, rng: np.random.Generator, tol: float, max_iter: int) -> dict:
    K, n = problem.n_components, problem.x.n_obs
    labels = rng.permutation(np.arange(n) % K)  # every component starts with rows
    resp = np.eye(K)[labels]
    design, y, response = problem.design, problem.y, problem.response
    components = [None] * K
    gate = None
    previous_ll, converged, iteration = -np.inf, False, 0
    while iteration < max_iter:
        iteration += 1
        components = [response.m_step(design, y, resp[:, k], components[k]) for k in range(K)]
        log_weights, gate = _mixing(problem, resp, gate)
        joint = log_weights + _component_log_density(problem, components)
        row_ll = _logsumexp_rows(joint)
        resp = np.exp(joint - row_ll[:, None])
        log_likelihood = float(row_ll.sum())
        if abs(log_likelihood - previous_ll) <= tol * max(abs(log_likelihood), 1.0):
            converged = True
            break
        previous_ll = log_likelihood
    return {
        "components": components,
        "gate": gate,
        "log_weights": log_weights,
        "responsibilities": resp,
        "log_likelihood": log_likelihood,
        "converged": converged,
        "n_iter": iteration,
    }


def _component_log_density(problem, components: list[dict]) -> np.ndarray:
    """log f(y_i | x_i, theta_k), (n, K)."""
    response = problem.response
    beta = np.stack([c["beta"] for c in components], axis=1)  # (P + 1, K)
    eta = problem.design @ beta
    extras = [np.array([c[name] for c in components], float) for name in response.extras]
    return response.log_pdf(problem.y[:, None], *response.natural_parameters(eta, *extras))


def _mixing(problem, resp: np.ndarray, previous_gate: dict | None) -> tuple[np.ndarray, dict | None]:
    """The M-step of the weights: log pi_k(z_i) (n, K), and the gate's coefficients when there is one."""
    K = problem.n_components
    if not problem.gating:
        with np.errstate(divide="ignore"):
            return np.broadcast_to(np.log(resp.mean(axis=0)), resp.shape), None
    Z = problem.covariates
    mean, sd = np.asarray(problem.settings["z"]["mean"]), np.asarray(problem.settings["z"]["sd"])
    standardized = (Z - mean) / sd
    n = Z.shape[0]
    classifier = LogisticRegression(C=np.inf, max_iter=1000, tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(np.tile(standardized, (K, 1)), np.repeat(np.arange(K), n), sample_weight=resp.T.ravel())
    slopes, intercepts = classifier.coef_, classifier.intercept_
    if K == 2:  # scikit-learn's binary model: the log-odds of the second class against the first
        slopes, intercepts = np.vstack([np.zeros_like(slopes), slopes]), np.concatenate([[0.0], intercepts])
    slopes, intercepts = slopes - slopes[0], intercepts - intercepts[0]
    coefficients = slopes / sd
    gate = {"gating_intercepts": intercepts - coefficients @ mean, "gating_coefficients": coefficients}
    logits = gate["gating_intercepts"] + Z @ coefficients.T
    return logits - _logsumexp_rows(logits)[:, None], gate


def _ordered(fit: dict, x_mean: np.ndarray) -> dict:
    """Components sorted by their linear predictor at the experts' mean (the gate rebased onto the new first)."""
    order = np.argsort([c["beta"][0] + c["beta"][1:] @ x_mean for c in fit["components"]], kind="stable")
    fit = {**fit, "components": [fit["components"][k] for k in order]}
    fit["responsibilities"] = fit["responsibilities"][:, order]
    fit["log_weights"] = fit["log_weights"][:, order]
    if fit["gate"] is not None:
        intercepts, coefficients = fit["gate"]["gating_intercepts"][order], fit["gate"]["gating_coefficients"][order]
        fit["gate"] = {
            "gating_intercepts": intercepts - intercepts[0],
            "gating_coefficients": coefficients - coefficients[0],
        }
    return fit


def _dataset(problem, fit: dict, attrs: dict) -> xr.Dataset:
    K, response = problem.n_components, problem.response
    n_experts = len(problem.experts)
    beta = np.stack([c["beta"] for c in fit["components"]])  # (K, P + 1)
    # The design's experts are raw, so beta[:, 0] is the intercept at x = 0; the model's free intercept is
    # the linear predictor at the experts' mean.
    n_gate = (K - 1) * (len(problem.gating) + 1) if problem.gating else K - 1
    n_parameters = K * (n_experts + 1 + len(response.extras)) + n_gate
    scores = criteria(fit["log_likelihood"], fit["responsibilities"], n_parameters, problem.x.n_obs)
    weights = np.exp(fit["log_weights"]).mean(axis=0)
    variables = {
        "weights": ("component", weights),
        "intercepts": ("component", beta[:, 0]),
        "coefficients": (("component", "feature"), beta[:, 1:]),
        **{name: ("component", np.array([c[name] for c in fit["components"]], float)) for name in response.extras},
        "responsibilities": (("obs_id", "component"), fit["responsibilities"]),
        "degenerate": ("component", fit["responsibilities"].sum(axis=0) < n_experts + 2),
        "log_likelihood": ((), fit["log_likelihood"]),
        "n_parameters": ((), n_parameters),
        **{name: ((), value) for name, value in scores.items()},
        "converged": ((), fit["converged"]),
        "n_iter": ((), fit["n_iter"]),
    }
    coords = {"component": np.arange(K), "feature": problem.experts, "obs_id": np.arange(problem.x.n_obs)}
    if fit["gate"] is not None:
        variables["gating_intercepts"] = ("component", fit["gate"]["gating_intercepts"])
        variables["gating_coefficients"] = (("component", "gating_feature"), fit["gate"]["gating_coefficients"])
        coords["gating_feature"] = problem.gating
    return xr.Dataset(
        variables,
        coords=coords,
        attrs={"bayesmix_baseline": "em", "component": response.family, "n_components": K, "model": "mixreg", **attrs},
    )
