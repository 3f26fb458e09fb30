r"""What a component family answers to be the response of a mixture of regressions.

In :func:`bayesmix.models.mixreg` each component is a generalized linear model:
the linear predictor :math:`\eta_{ik} = \beta_{k0} + x_i^\top \beta_k` reaches
the family's mean through its link, and the family may add a parameter of its
own per component (a Gaussian's scale, a negative binomial's dispersion). A
family that can be a response has a ``response`` attribute with the members
of :class:`Response`; its module holds it beside the family, so a new family
stays one module.

Every numpy function here broadcasts over leading (draw) axes: ``eta`` is
(..., n, K) and a component parameter (..., K).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from bayesmix.priors import Role


class Response(Protocol):
    """The questions a regression response answers.

    Attributes
    ----------
    family : str
        The component family's name, as users pass it in ``component=``.
    link : {"identity", "log", "logit"}
        How the linear predictor reaches the mean.
    extras : tuple of str
        The family's own per-component parameters beside the coefficients
        (``("scales",)``, ``("dispersions",)`` or none).
    natural : tuple of str
        The names of the component distribution's parameters at each x, as
        :meth:`natural_parameters` gives them and the predictions report them.
    discrete : bool
        Whether y is a count or a binary answer (predictive densities are then probabilities).
    roles : mapping
        The prior roles of :attr:`extras`.
    """

    family: str
    link: str
    extras: tuple[str, ...]
    natural: tuple[str, ...]
    discrete: bool
    roles: Mapping[str, Role]

    def check_y(self, y: np.ndarray, *, name: str = "y") -> None:
        """Raise a ValueError naming the first bad value of y (1-D floats) for this family."""

    def center_and_scale(self, y: np.ndarray) -> tuple[float, float]:
        """Where the linear predictor sits for these data and its typical spread (link scale): they centre
        the intercepts' prior and scale the coefficients' priors and relabelling."""

    def default_priors(self, y: np.ndarray) -> dict[str, Any]:
        """Priors of :attr:`extras`, scaled to y."""

    def logp(self, y, eta, *extras):
        """PyTensor: log-density of y (N, 1) under every component's linear predictor eta (N, K); (N, K)."""

    def natural_parameters(self, eta: np.ndarray, *extras: np.ndarray) -> tuple[np.ndarray, ...]:
        """numpy: the parameters :attr:`natural` of each component at each x, each shaped like eta."""

    def log_pdf(self, y: np.ndarray, *natural: np.ndarray) -> np.ndarray:
        """numpy: the log-density (or log-probability) of y, elementwise against the natural parameters."""

    def draw(self, rng: np.random.Generator, *natural: np.ndarray) -> np.ndarray:
        """numpy: one draw of y per element of the natural parameters."""

    def m_step(
        self, design: np.ndarray, y: np.ndarray, weights: np.ndarray, previous: dict | None
    ) -> dict[str, np.ndarray]:
        """One component's weighted maximum-likelihood fit: ``{"beta": (P + 1,), **extras}``."""


def fit_weighted_glm(design: np.ndarray, y: np.ndarray, weights: np.ndarray, family, start: np.ndarray | None):
    """statsmodels' GLM of y on ``design`` (intercept column first) with each row's log-likelihood weighted
    by ``weights`` (``var_weights``: fractional memberships, not replicated rows), by IRLS from ``start``.
    Returns the coefficients and the fitted means."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    model = sm.GLM(y, design, family=family, var_weights=np.maximum(weights, 1e-12))
    with warnings.catch_warnings():
        # A component that holds few rows can separate a binary y or leave IRLS short of its tolerance;
        # the EM's next iteration starts from here, and its likelihood is what the driver checks.
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        fitted = model.fit(start_params=start, maxiter=100)
    return np.asarray(fitted.params, float), np.asarray(fitted.fittedvalues, float)


def first_bad(y: np.ndarray, bad: np.ndarray) -> str:
    """'k row(s), e.g. v in row i' for the error messages of :meth:`Response.check_y`."""
    rows = np.flatnonzero(bad)
    return f"{rows.size} row(s) do not, e.g. {y[rows[0]]:g} in row {rows[0]}"
