"""scikit-learn estimators over the bayesmix workflow.

They are thin: ``fit`` builds the model with a factory from
:mod:`bayesmix.models`, starts the sampler at the EM (or variational-DP)
solution, fits with :func:`bayesmix.fit` and relabels against that solution;
every prediction is a function of :mod:`bayesmix.prediction.mixture` applied to the
fitted result. Fitted attributes hold posterior means; ``result_`` holds the
whole posterior as an ``xarray.DataTree``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from bayesmix import prediction
from bayesmix._deprecation import warn_renamed
from bayesmix._validation import check_choice, check_positive_int
from bayesmix.baseline.gaussian import em
from bayesmix.components._covariance import COVARIANCE_TYPES
from bayesmix.inference.fitting import fit
from bayesmix.models import dp_gmm, gmm
from bayesmix.relabel import relabel

# The default of a former parameter name, kept for one release: "not given".
DEPRECATED = "deprecated"


class _BayesianMixtureBase(DensityMixin, BaseEstimator):
    """Fitting, fitted attributes and predictions shared by both estimators."""

    # Former parameter names, kept for one release, and the current name of each.
    _former_names: ClassVar[dict[str, str]] = {"covariance": "covariance_type", "random_seed": "random_state"}

    def _settings(self) -> dict:
        """The parameters under their current names, former spellings applied with a DeprecationWarning."""
        settings = {new: getattr(self, new) for new in self._former_names.values()}
        for old, new in self._former_names.items():
            value = getattr(self, old)
            if isinstance(value, str) and value == DEPRECATED:
                continue
            warn_renamed(f"Parameter `{old}` of {type(self).__name__}", f"`{new}`")
            settings[new] = value
        settings["covariance_type"] = check_choice(
            settings["covariance_type"], COVARIANCE_TYPES, name="covariance_type"
        )
        settings["random_seed"] = _seed_of(settings.pop("random_state"))
        return settings

    def _build_model(self, X: Any, settings: dict) -> pm.Model:
        raise NotImplementedError

    def _baseline(self, X: Any, settings: dict) -> xr.Dataset:
        raise NotImplementedError

    def fit(self, X: Any, y: None = None) -> _BayesianMixtureBase:
        """Fit the mixture to ``X`` (n_samples, n_features); ``y`` is ignored."""
        settings = self._settings()
        values = self._validated(X, reset=True)
        data = self._as_frame(values)
        baseline = self._baseline(data, settings)
        self._random_seed = settings["random_seed"]
        result = fit(
            self._build_model(data, settings),
            method=self.method,
            draws=self.draws,
            tune=self.tune,
            chains=self.chains,
            sampler=self.sampler,
            init=baseline,
            random_seed=self._random_seed,
            progressbar=False,
            **(self.fit_kwargs or {}),
        )
        self.result_ = relabel(result, reference=baseline)
        self.baseline_ = baseline
        posterior = self.result_["posterior"]
        mean = {v: posterior[v].mean(("chain", "draw")).values for v in ("weights", "means", "covariances")}
        self.weights_, self.means_, self.covariances_ = mean["weights"], mean["means"], mean["covariances"]
        self.precisions_ = np.linalg.inv(self.covariances_)
        return self

    def _as_frame(self, values: np.ndarray) -> Any:
        """The validated array, with the DataFrame's column names when it had any."""
        if hasattr(self, "feature_names_in_"):
            return pd.DataFrame(values, columns=[str(c) for c in self.feature_names_in_])
        return values

    def _new_data(self, X: Any) -> Any:
        check_is_fitted(self, "result_")
        return self._validated(X, reset=False)

    def _validated(self, X: Any, *, reset: bool) -> np.ndarray:
        """scikit-learn's own validation (what its estimator checks expect), raised from here.

        The message is scikit-learn's, naming the argument; the traceback stops
        at this estimator instead of running through sklearn.utils.validation.
        """
        try:
            return validate_data(self, X, reset=reset, dtype=np.float64)
        except (ValueError, TypeError) as err:
            raise type(err)(f"Argument `X` of {type(self).__name__}: {err}") from None

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior-mean membership probabilities, shape (n_samples, n_components)."""
        X = self._new_data(X)
        return prediction.predict_proba(self.result_, X)["probability"].values

    def predict(self, X: Any) -> np.ndarray:
        """The component of highest posterior-mean membership probability, shape (n_samples,)."""
        X = self._new_data(X)
        return prediction.predict(self.result_, X)["component"].values

    def score_samples(self, X: Any) -> np.ndarray:
        """Posterior predictive log-density of each point, shape (n_samples,)."""
        X = self._new_data(X)
        return prediction.score_samples(self.result_, X)["log_density"].values

    def score(self, X: Any, y: None = None) -> float:
        """Mean posterior predictive log-density of ``X``."""
        return float(self.score_samples(X).mean())

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draws from the posterior predictive: points (n_samples, n_features) and their components."""
        check_is_fitted(self, "result_")
        n_samples = check_positive_int(n_samples, name="n_samples")
        draws = prediction.sample(self.result_, n_samples, random_seed=self._random_seed)
        return draws["X"].values, draws["component"].values

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None and (
            self.random_seed is None or self.random_seed == DEPRECATED
        )
        return tags


def _seed_of(random_state: Any) -> int | None:
    """An int seed for bayesmix from scikit-learn's ``random_state`` (None, an int or a RandomState)."""
    if random_state is None or (isinstance(random_state, int | np.integer) and not isinstance(random_state, bool)):
        return None if random_state is None else int(random_state)
    try:
        return int(check_random_state(random_state).randint(2**31 - 1))
    except ValueError:
        raise ValueError(
            f"Parameter `random_state` must be None, an int or a numpy.random.RandomState but got {random_state!r}."
        ) from None


class PosteriorGaussianMixture(_BayesianMixtureBase):
    """A finite Gaussian mixture fitted by NUTS or ADVI, as a scikit-learn estimator.

    The model is :func:`bayesmix.models.gmm`; see it for the likelihood and priors.
    Unlike :class:`sklearn.mixture.BayesianGaussianMixture` (a variational
    approximation), the fitted state is the whole posterior (``result_``),
    sampled by NUTS unless ``method`` says otherwise.

    Parameters
    ----------
    n_components : int, default 2
        Number of mixture components.
    covariance_type : {"full", "diag", "spherical", "tied"}, default "full"
        Covariance structure of the components.
    method : {"nuts", "advi", "fullrank_advi"}, default "nuts"
        Inference method (see :func:`bayesmix.fit`).
    priors : dict, optional
        Prior overrides (see :func:`bayesmix.models.gmm`).
    draws, tune, chains : int
        Sampler settings (see :func:`bayesmix.fit`).
    sampler : {"nutpie", "pymc", "numpyro"}, default "nutpie"
        NUTS implementation.
    random_state : int, numpy.random.RandomState or None, default None
        Seed for the EM starts, the sampler and :meth:`sample` (a RandomState
        gives one seed drawn from it).
    fit_kwargs : dict, optional
        Further keyword arguments of :func:`bayesmix.fit` (for example
        ``{"target_accept": 0.95}`` or ADVI's ``{"n_steps": 30000}``). A dict
        rather than ``**kwargs`` so that :func:`sklearn.base.clone` keeps it.
    covariance, random_seed
        Deprecated spellings of ``covariance_type`` and ``random_state``.

    Attributes
    ----------
    weights_ : ndarray, shape (n_components,)
    means_ : ndarray, shape (n_components, n_features)
    covariances_ : ndarray, shape (n_components, n_features, n_features)
    precisions_ : ndarray, shape (n_components, n_features, n_features)
        Posterior means (precisions: the inverse of the mean covariances), on
        components relabelled to the EM solution.
    result_ : xarray.DataTree
        The relabelled fit result.
    baseline_ : xarray.Dataset
        The EM solution the sampler started from.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Present when ``X`` was a DataFrame.
    """

    def __init__(
        self,
        n_components: int = 2,
        *,
        covariance_type: str = "full",
        method: str = "nuts",
        priors: dict | None = None,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        sampler: str = "nutpie",
        random_state: Any = None,
        fit_kwargs: dict | None = None,
        covariance: str = DEPRECATED,
        random_seed: Any = DEPRECATED,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.method = method
        self.priors = priors
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.sampler = sampler
        self.random_state = random_state
        self.fit_kwargs = fit_kwargs
        self.covariance = covariance
        self.random_seed = random_seed

    def _build_model(self, X: Any, settings: dict) -> pm.Model:
        return gmm(X, self.n_components, covariance=settings["covariance_type"], priors=self.priors)

    def _baseline(self, X: Any, settings: dict) -> xr.Dataset:
        return em(X, self.n_components, covariance=settings["covariance_type"], random_seed=settings["random_seed"])


class DirichletProcessGaussianMixture(_BayesianMixtureBase):
    """A truncated Dirichlet-process Gaussian mixture fitted by NUTS or ADVI, as a scikit-learn estimator.

    The model is :func:`bayesmix.models.dp_gmm`; the sampler starts from
    scikit-learn's variational DP solution and the draws are relabelled to it.

    Parameters
    ----------
    n_components : int, default 20
        The truncation: the number of stick-breaking components, an upper
        bound on the clusters the data may occupy (as ``n_components`` of
        scikit-learn's Dirichlet-process ``BayesianGaussianMixture``).
    covariance_type : {"full", "diag", "spherical", "tied"}, default "full"
    alpha : float, optional
        Fixed DP concentration; by default it gets a Gamma(1, 1) prior.
    method, priors, draws, tune, chains, sampler, random_state, fit_kwargs
        As for :class:`PosteriorGaussianMixture`.
    truncation, covariance, random_seed
        Deprecated spellings of ``n_components``, ``covariance_type`` and ``random_state``.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, result_, baseline_, n_features_in_, feature_names_in_
        As for :class:`PosteriorGaussianMixture`, with ``n_components`` components.
    """

    def __init__(
        self,
        n_components: int = 20,
        *,
        covariance_type: str = "full",
        alpha: float | None = None,
        method: str = "nuts",
        priors: dict | None = None,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        sampler: str = "nutpie",
        random_state: Any = None,
        fit_kwargs: dict | None = None,
        truncation: Any = DEPRECATED,
        covariance: str = DEPRECATED,
        random_seed: Any = DEPRECATED,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.alpha = alpha
        self.method = method
        self.priors = priors
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.sampler = sampler
        self.random_state = random_state
        self.fit_kwargs = fit_kwargs
        self.truncation = truncation
        self.covariance = covariance
        self.random_seed = random_seed

    _former_names: ClassVar[dict[str, str]] = _BayesianMixtureBase._former_names | {"truncation": "n_components"}

    def _settings(self) -> dict:
        settings = super()._settings()
        n_components = check_positive_int(settings["n_components"], name="n_components")
        if n_components < 2:
            raise ValueError(
                f"Parameter `n_components` of {type(self).__name__} is the truncation and must be >= 2 "
                f"(one component has no stick to break) but got {n_components}; for a single Gaussian use "
                "PosteriorGaussianMixture(1)."
            )
        return settings

    def _build_model(self, X: Any, settings: dict) -> pm.Model:
        return dp_gmm(
            X,
            truncation=settings["n_components"],
            covariance=settings["covariance_type"],
            alpha=self.alpha,
            priors=self.priors,
        )

    def _baseline(self, X: Any, settings: dict) -> xr.Dataset:
        baseline = em(
            X,
            settings["n_components"],
            covariance=settings["covariance_type"],
            method="variational_dp",
            n_init=3,
            random_seed=settings["random_seed"],
        )
        # Stick-breaking order: component 0 is the largest, as the sampler's start has it.
        order = np.argsort(-baseline["weights"].values, kind="stable")
        return baseline.isel(component=order).assign_coords(component=np.arange(order.size))


def __getattr__(name: str) -> Any:
    if name == "BayesianGaussianMixture":  # the former name, which shadowed scikit-learn's variational estimator
        warn_renamed("bayesmix.BayesianGaussianMixture", "bayesmix.PosteriorGaussianMixture")
        return PosteriorGaussianMixture
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
