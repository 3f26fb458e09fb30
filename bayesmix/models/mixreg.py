r"""Mixtures of regressions and mixtures of experts: a mixture over y whose components are GLMs in x."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayesmix._validation import Data, check_data, check_n_components, constant_features
from bayesmix.components import COMPONENTS, get_component
from bayesmix.mixing import finite
from bayesmix.mixing import gating as gate
from bayesmix.models._base import REGRESSION, ModelInfo, attach_info, get_info
from bayesmix.priors import Prior, Role, priors_from_json, resolve_priors

# What relabelling and the chains' common start match on: the linear predictors' intercepts and slopes.
LOCATIONS = ("centered_intercepts", "coefficients")
ROLES = {
    "intercepts": Role(
        "the prior of each component's linear predictor at the experts' mean", gate.SCALED_DISTRIBUTIONS
    ),
    "coefficients": Role("the prior of the slopes per standard deviation of a covariate", gate.SCALED_DISTRIBUTIONS),
    "weights": finite.ROLE,
    **gate.ROLES,
}


def mixreg(
    X: Any,
    y: Any,
    n_components: int,
    *,
    component: str = "gaussian",
    experts: Sequence[str] | None = None,
    gating: Sequence[str] | None = None,
    priors: Mapping[str, Any] | None = None,
) -> pm.Model:
    r"""Build a mixture of regressions (or, with ``gating``, a mixture of experts) of y on x.

    Each component is a generalized linear model of y on the expert columns
    :math:`x_i`, with the component family's likelihood :math:`f` and link
    :math:`g` (Gaussian identity with a scale :math:`\sigma_k` per component,
    Poisson and negative binomial log, the negative binomial with a dispersion
    :math:`\alpha_k`, Bernoulli logit):

    .. math::

        p(y_i \mid x_i, z_i) = \sum_{k=1}^K \pi_k(z_i)\, f\big(y_i \mid g^{-1}(\beta_{k0} + x_i^\top \beta_k),
            \theta_k\big),

    with constant weights :math:`\pi_k(z) = w_k`, :math:`w \sim
    \operatorname{Dirichlet}(\mathbf 1_K)` (flexmix's mixture of
    regressions), or a multinomial-logit gate on the covariates :math:`z_i`
    named in ``gating`` (flexmix's concomitant variables;
    :mod:`bayesmix.mixing.gating`). The labels are marginalized. Priors, on
    the link's scale with :math:`c` and :math:`s` the link's centre and spread
    for y (Gaussian: y's mean and sd; log link: the log of the mean count
    and 1; logit: the log-odds of y's share and 1):

    .. math::

        \beta_{k0} + \bar x^\top \beta_k \sim \mathcal N(c, (2.5 s)^2), \qquad
        \beta_{kj} \sim \mathcal N\big(0, (2.5 s / s_{x,j})^2\big),

    the first being the component's linear predictor at the experts' mean
    :math:`\bar x` (the free variable ``centered_intercepts``, which keeps
    intercepts and slopes nearly uncorrelated), the second a weakly
    informative prior per standard deviation :math:`s_{x,j}` of each expert
    column, as rstanarm scales its defaults. The family's own parameters get
    the priors its module states.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_obs, n_features)
        The covariates, numeric (dummy-code categorical ones first, e.g. with
        ``pandas.get_dummies(..., drop_first=True, dtype=float)``). Column
        names are what ``experts`` and ``gating`` refer to.
    y : array-like of shape (n_obs,), Series or one-column DataFrame
        The response: numbers (Gaussian), counts (Poisson, negative binomial)
        or 0/1 (Bernoulli).
    n_components : int
        Number of components K.
    component : {"gaussian", "poisson", "negative_binomial", "bernoulli"}, default "gaussian"
        The response family.
    experts : sequence of str, optional
        The columns of X each component regresses y on (default: all).
        Columns that are neither experts nor gating covariates are left out,
        so one X serves several models.
    gating : sequence of str, optional
        The columns of X the gate's weights depend on (default: constant weights).
    priors : dict, optional
        Overrides by role: ``"intercepts"`` (Normal, StudentT or Laplace: the
        linear predictor at the experts' mean), ``"coefficients"`` (the same
        families; its scale is per standard deviation of a covariate and is
        divided by it), the family's own (``"scales"``, ``"dispersions"``),
        ``"weights"`` (Dirichlet), ``"gating_intercepts"`` and
        ``"gating_coefficients"`` (see :mod:`bayesmix.mixing.gating`).

    Returns
    -------
    pymc.Model
        Data ``X`` (obs_id, column) and ``y_data`` (obs_id); free variables
        ``centered_intercepts`` (component), ``coefficients`` (component,
        feature), the family's ``scales`` or ``dispersions`` (component), and
        ``weights`` (component) or the gate's; deterministic ``intercepts``
        (component) at x = 0 and, with a gate, ``gating_intercepts``
        (component) and ``gating_coefficients`` (component, gating_feature),
        component 0 the reference. The EM baseline
        (``bayesmix.em(X, K, y=y, ...)``) returns the same names.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import bayesmix as bm
    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame({"dose": rng.uniform(0, 1, 200)})
    >>> y = np.where(rng.random(200) < 0.5, 1 + 2 * x["dose"], 3 - 2 * x["dose"]) + rng.normal(0, 0.1, 200)
    >>> model = bm.models.mixreg(x, y, 2)
    >>> sorted(model.named_vars_to_dims["coefficients"])
    ['component', 'feature']
    """
    problem = prepare(X, y, n_components, component=component, experts=experts, gating=gating)
    response = problem.response
    defaults = {
        "intercepts": Prior("Normal", mu=problem.center, sigma=2.5 * problem.spread),
        "coefficients": Prior("Normal", sigma=2.5 * problem.spread),
        "weights": finite.DEFAULT_PRIOR,
        **gate.DEFAULT_PRIORS,
        **response.default_priors(problem.y),
    }
    resolved = resolve_priors(priors, {**ROLES, **response.roles}, defaults)
    K = problem.n_components
    coords = {
        "obs_id": np.arange(problem.x.n_obs),
        "column": problem.x.feature_names,
        "feature": problem.experts,
        "component": np.arange(K),
    }
    if problem.gating:
        coords |= gate.gate_coords(K, problem.gating)
    with pm.Model(coords=coords) as model:
        X_shared = pm.Data("X", problem.x.values, dims=("obs_id", "column"))
        y_shared = pm.Data("y_data", problem.y, dims="obs_id")
        experts_x = X_shared[:, problem.expert_columns]
        x_mean = np.asarray(problem.settings["x_mean"])
        centered = resolved["intercepts"].create("centered_intercepts", dims="component")
        slopes = gate.scaled_prior(resolved["coefficients"], 1.0 / np.asarray(problem.settings["x_sd"]))
        coefficients = slopes.create("coefficients", dims=("component", "feature"))
        pm.Deterministic("intercepts", centered - pt.dot(coefficients, x_mean), dims="component")
        extras = [resolved[name].create(name, dims="component") for name in response.extras]
        if problem.gating:
            Z = X_shared[:, problem.gating_columns]
            z = problem.settings["z"]
            log_weights = gate.gate_log_weights(Z, np.asarray(z["mean"]), np.asarray(z["sd"]), resolved, K)
        else:
            log_weights = pt.log(finite.dirichlet_weights(resolved["weights"], K))[None, :]
        eta = centered[None, :] + pt.dot(experts_x - x_mean, coefficients.T)  # (n, K)
        component_logp = response.logp(y_shared[:, None], eta, *extras)
        pm.Potential("y", pt.logsumexp(log_weights + component_logp, axis=1).sum())

    info = ModelInfo(
        mixing=REGRESSION,
        settings=problem.settings,
        priors=resolved,
        data=problem.x,
        component=response.family,
        observed="y",
        extras={"y": Data(values=problem.y[:, None], feature_names=[problem.y_name])},
    )
    return attach_info(model, info)


class _Problem:
    """The validated inputs of a mixture of regressions, shared by the model and its EM."""

    def __init__(self, x: Data, y: np.ndarray, y_name: str, response, n_components, experts, gating) -> None:
        self.x, self.y, self.y_name, self.response = x, y, y_name, response
        self.n_components, self.experts, self.gating = n_components, experts, gating
        names = x.feature_names
        self.expert_columns = [names.index(c) for c in experts]
        self.gating_columns = [names.index(c) for c in gating]
        self.center, self.spread = response.center_and_scale(y)
        x_mean, x_sd = _mean_and_sd(x.values[:, self.expert_columns])
        self.settings = {
            "n_components": n_components,
            "x_columns": list(x.feature_names),
            "experts": list(experts),
            "gating": list(gating) or None,
            "x_mean": x_mean.tolist(),
            "x_sd": x_sd.tolist(),
            "output": y_name,
            "link_center": self.center,
            "link_spread": self.spread,
        }
        if gating:
            z_mean, z_sd = _mean_and_sd(x.values[:, self.gating_columns])
            self.settings["z"] = {"mean": z_mean.tolist(), "sd": z_sd.tolist()}

    @functools.cached_property
    def design(self) -> np.ndarray:
        """The experts' columns with an intercept column first: what each component's GLM regresses on."""
        return np.column_stack([np.ones(self.x.n_obs), self.x.values[:, self.expert_columns]])

    @property
    def covariates(self) -> np.ndarray:
        return self.x.values[:, self.gating_columns]


def prepare(X: Any, y: Any, n_components: Any, *, component: Any, experts: Any, gating: Any) -> _Problem:
    """Validate the arguments of :func:`mixreg` (and of its EM); every error names the argument."""
    x = check_data(X, name="X")
    y_values, y_name = _check_y(y, x.n_obs)
    family = get_component(component)
    response = getattr(family, "response", None)
    if response is None:
        choices = [name for name, f in COMPONENTS.items() if getattr(f, "response", None) is not None]
        raise ValueError(
            f"Argument `component` must be a family with a regression response, one of {choices}, "
            f"but got {component!r}."
        )
    response.check_y(y_values, name="y")
    K = check_n_components(n_components, x.n_obs)
    expert_names = _check_columns(experts, x, name="experts", default=x.feature_names)
    gating_names = _check_columns(gating, x, name="gating", default=[])
    if gating_names and K == 1:
        raise ValueError("Argument `gating` needs n_components >= 2: one component has weight 1 everywhere.")
    used = sorted({*expert_names, *gating_names}, key=x.feature_names.index)
    constant = [x.feature_names[j] for j in constant_features(x) if x.feature_names[j] in used]
    if constant:
        raise ValueError(
            f"Column(s) {constant} of `X` are constant: the intercepts already play their part, and their "
            "coefficients would not be identified. Drop them from X."
        )
    return _Problem(x, y_values, y_name, response, K, expert_names, gating_names)


def _check_y(y: Any, n_obs: int) -> tuple[np.ndarray, str]:
    name = "y"
    if isinstance(y, pd.Series) and y.name is not None:
        name = str(y.name)
    elif isinstance(y, pd.DataFrame) and y.shape[1] == 1:
        name = str(y.columns[0])
    data = check_data(y, name="y")
    if data.n_features != 1:
        raise ValueError(
            f"Argument `y` must be one response, a 1-D array or Series, but got {data.n_features} columns; "
            "fit one mixture of regressions per response (or an MDN for several outputs)."
        )
    if data.n_obs != n_obs:
        raise ValueError(f"Argument `y` has {data.n_obs} rows but `X` has {n_obs}; pass one y per row of X.")
    return data.values[:, 0], name


def _check_columns(columns: Any, x: Data, *, name: str, default: list[str]) -> list[str]:
    if columns is None:
        return list(default)
    if isinstance(columns, str) or not isinstance(columns, Sequence) or not columns:
        raise ValueError(
            f"Argument `{name}` must be a non-empty list of column names of X, e.g. [{x.feature_names[0]!r}], "
            f"or None, but got {columns!r}."
        )
    columns = [str(c) for c in columns]
    absent = [c for c in columns if c not in x.feature_names]
    if absent:
        raise ValueError(
            f"Argument `{name}` names {absent}, which are not columns of X {x.feature_names}; pass a DataFrame "
            "with those columns, or name its columns (an array's are x0, x1, ...)."
        )
    if len(set(columns)) != len(columns):
        raise ValueError(f"Argument `{name}` names a column twice: {columns}.")
    return columns


def _mean_and_sd(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return values.mean(axis=0), np.where(values.std(axis=0) > 0, values.std(axis=0), 1.0)


# ----------------------------------------------------------------------------------------------
# Evaluating the fitted mixture outside the model: many posterior draws at once.


def parameter_names(settings: dict, response) -> list[str]:
    """The posterior variables a mixture of regressions is evaluated from, in a fixed order."""
    gate = ["gating_intercepts", "gating_coefficients"] if settings.get("gating") else ["weights"]
    return ["intercepts", "coefficients", *response.extras, *gate]


def regression_info(model: object, *, name: str = "model") -> ModelInfo:
    """The :class:`ModelInfo` of a model built by :func:`mixreg`, or a clear error."""
    info = get_info(model) if isinstance(model, pm.Model) else None
    if info is None or info.mixing != REGRESSION:
        raise TypeError(
            f"Argument `{name}` must be the pymc.Model built by bayesmix.models.mixreg for this fit but got "
            f"{type(model).__name__}{'' if info is None else f' of family {info.family!r}'}."
        )
    return info


def info_from_result(result: xr.DataTree) -> ModelInfo:
    """Rebuild a mixture of regressions' :class:`ModelInfo` from a fit result (settings, priors, data)."""
    from bayesmix._result import conditional_data_of

    X, y = conditional_data_of(result)
    return ModelInfo(
        mixing=REGRESSION,
        settings=json.loads(result.attrs["bayesmix_settings"]),
        priors=priors_from_json(result.attrs["bayesmix_priors"]),
        data=X,
        component=result.attrs["bayesmix_component"],
        observed="y",
        extras={"y": y},
    )


def stacked(
    posterior: xr.Dataset | Mapping, settings: dict, response, max_draws: int | None = None
) -> dict[str, np.ndarray]:
    """The parameters of :func:`parameter_names` with chain and draw stacked into one leading axis, thinned
    evenly to at most ``max_draws``; an EM solution (no chain or draw) becomes a single draw."""
    from bayesmix._result import thinning_step

    out = {}
    for name in parameter_names(settings, response):
        da = posterior[name]
        if "chain" in da.dims:
            da = da.transpose("chain", "draw", ...)
            out[name] = np.asarray(da.values, float).reshape(-1, *da.shape[2:])
        else:
            out[name] = np.asarray(da.values, float)[None]
    step = thinning_step(out["intercepts"].shape[0], max_draws)
    return {name: value[::step] for name, value in out.items()}


def linear_predictors(settings: dict, params: Mapping[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, ...]:
    """Log-weights and linear predictors (S, n, K) of draws ``params`` (:func:`stacked`) at raw inputs X, whose
    columns are the training X's."""
    experts = _columns(settings, X, settings["experts"])
    eta = params["intercepts"][:, None, :] + np.einsum("nf,skf->snk", experts, params["coefficients"])
    if settings.get("gating"):
        Z = _columns(settings, X, settings["gating"])
        log_weights = gate.log_weights_of_draws(params["gating_intercepts"], params["gating_coefficients"], Z)
    else:
        with np.errstate(divide="ignore"):
            log_weights = np.broadcast_to(np.log(params["weights"])[:, None, :], eta.shape)
    return log_weights, eta


def _columns(settings: dict, X: np.ndarray, names: list[str]) -> np.ndarray:
    """The columns ``names`` of raw inputs X laid out as the training X."""
    columns = list(settings["x_columns"])
    return X[:, [columns.index(c) for c in names]]


def component_log_density(settings: dict, response, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray):
    """log pi_k(x_i) + log f(y_i | x_i, theta_k) for every draw: (S, n, K)."""
    log_weights, eta = linear_predictors(settings, params, X)
    natural = response.natural_parameters(eta, *(params[name] for name in response.extras))
    return log_weights + response.log_pdf(y[None, :, None], *natural)


def pointwise_log_likelihood(info: ModelInfo, posterior: xr.Dataset, chunk_size: int = 200) -> np.ndarray:
    """log p(y_i | x_i, theta_s) for every draw s (chain-major) and training row i, shape (S, n)."""
    from scipy.special import logsumexp

    response = info.component_family.response
    settings = info.settings
    params = stacked(posterior, settings, response)
    n_draws = params["intercepts"].shape[0]
    y = info.extras["y"].values[:, 0]
    out = np.empty((n_draws, info.data.n_obs))
    for start in range(0, n_draws, chunk_size):
        chunk = slice(start, min(start + chunk_size, n_draws))
        joint = component_log_density(settings, response, {k: v[chunk] for k, v in params.items()}, info.data.values, y)
        out[chunk] = logsumexp(joint, axis=-1)
    return out


def problem_of(info: ModelInfo) -> _Problem:
    """The validated problem behind a model or a fit (for its EM)."""
    X = pd.DataFrame(info.data.values, columns=info.data.feature_names)
    settings = info.settings
    y = pd.Series(info.extras["y"].values[:, 0], name=settings["output"])
    return prepare(
        X,
        y,
        settings["n_components"],
        component=info.component,
        experts=settings["experts"],
        gating=settings["gating"],
    )


def em_start(info: ModelInfo, seed: int) -> xr.Dataset:
    """The EM solution the chains start from (all in its labelling)."""
    from bayesmix.baseline.mixreg import em_mixreg

    return em_mixreg(problem_of(info), n_init=5, seed=int(seed) % (2**31 - 10))


def check_solution(info: ModelInfo, solution: Any, *, name: str) -> None:
    """A clear error unless ``solution`` is an EM result of this mixture of regressions."""
    settings, response = info.settings, info.component_family.response
    needed = set(parameter_names(settings, response)) - {"weights"}
    if not isinstance(solution, xr.Dataset) or not needed <= set(solution):
        raise TypeError(
            f"Argument `{name}` must be the EM result of this mixture of regressions (bayesmix.em(X, K, y=y, ...)) "
            f"with {sorted(needed)}, but got {type(solution).__name__}."
        )
    if solution.sizes.get("component") != info.n_components or list(solution["feature"].values) != list(
        settings["experts"]
    ):
        raise ValueError(
            f"Argument `{name}` has {solution.sizes.get('component')} components and experts "
            f"{list(solution['feature'].values)} but the model has {info.n_components} and {settings['experts']}; "
            "run bayesmix.em with the model's arguments."
        )


def initial_values(info: ModelInfo, solution: xr.Dataset) -> dict[str, np.ndarray]:
    """The model's free variables (constrained scale) from an EM solution of :func:`bayesmix.em` with ``y``."""
    settings, response = info.settings, info.component_family.response
    check_solution(info, solution, name="init")
    coefficients = solution["coefficients"].values
    values = {
        "centered_intercepts": solution["intercepts"].values + coefficients @ np.asarray(settings["x_mean"]),
        "coefficients": coefficients,
    }
    for name in response.extras:
        values[name] = np.clip(solution[name].values, 1e-3, 1e3) if name == "dispersions" else solution[name].values
    if settings.get("gating"):
        values |= gate.initial_values(
            solution["gating_intercepts"].values,
            solution["gating_coefficients"].values,
            np.asarray(settings["z"]["mean"]),
        )
    elif info.n_components > 1:
        weights = np.clip(solution["weights"].values, 1e-3, None)
        values["weights"] = weights / weights.sum()
    return values


def matching_features(settings: dict, params: Mapping[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, ...]:
    """What relabelling matches on, per draw of ``params`` (:func:`stacked`): the components' weights (S, K),
    their mean gate probability over the training rows with a gate, and their linear predictors' locations
    (S, K, 1 + P): the value at the experts' mean and the slope per standard deviation of each expert,
    both in units of the link's spread for y."""
    coefficients = params["coefficients"]
    centered = params["intercepts"] + coefficients @ np.asarray(settings["x_mean"])
    slopes = coefficients * np.asarray(settings["x_sd"])
    locations = np.concatenate([centered[..., None], slopes], axis=-1) / settings["link_spread"]
    return mean_gate_weights(settings, params, X), locations


def mean_gate_weights(settings: dict, params: Mapping[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Each draw's weights averaged over the rows of X, (S, K): the weights themselves without a gate."""
    if not settings.get("gating"):
        return params["weights"]
    return np.exp(linear_predictors(settings, params, X)[0]).mean(axis=1)


def rebase_gate(posterior: xr.Dataset, settings: dict) -> xr.Dataset:
    """After a relabelling, the gate expressed again against component 0 (softmax is unchanged by subtracting
    one component's logits from all), its free variables too."""
    if not settings.get("gating"):
        return posterior
    out = posterior.copy()
    intercepts = posterior["gating_intercepts"] - posterior["gating_intercepts"].isel(component=0)
    coefficients = posterior["gating_coefficients"] - posterior["gating_coefficients"].isel(component=0)
    out["gating_intercepts"], out["gating_coefficients"] = intercepts, coefficients
    z_mean = xr.DataArray(np.asarray(settings["z"]["mean"]), dims="gating_feature")
    rest = {"component": slice(1, None)}
    centered = (intercepts + (coefficients * z_mean).sum("gating_feature")).isel(rest)
    out["gating_centered_intercepts"] = centered.rename(component="gate_component").drop_vars("gate_component")
    free = coefficients.isel(rest).rename(component="gate_component").drop_vars("gate_component")
    out["gating_free_coefficients"] = free.transpose(*posterior["gating_free_coefficients"].dims)
    return out
