r"""Missing cells filled in from the posterior predictive: :func:`impute`.

For a row with observed cells :math:`x_{\mathrm{obs}}` and a missing cell
:math:`x_d`, the posterior predictive is

.. math::

    p(x_d \mid x_{\mathrm{obs}}, \mathcal D)
      = \frac1S \sum_s \sum_k p(z = k \mid x_{\mathrm{obs}}, \theta^{(s)})\,
        f_d(x_d \mid x_{\mathrm{obs}}, \theta^{(s)}_{k}),

the memberships computed from the observed cells only, and
:math:`f_d(x_d \mid \theta_{kd})` the component's density of the cell, given
the row's observed cells where features are dependent within a component
(Gaussian: the conditional normal). :func:`impute` draws from it once per
posterior draw: a component from the memberships, then the cell from that
component.
"""

from __future__ import annotations

import functools

import arviz_stats as azs
import numpy as np
import pandas as pd

from bayesmix._deprecation import renamed_arguments
from bayesmix._validation import check_positive_int
from bayesmix.components._mixture_density import chunked_over_draws, membership_probabilities
from bayesmix.components.categorical import decode
from bayesmix.prediction.mixture import (
    DEFAULT_CI_PROB,
    DEFAULT_MAX_DRAWS,
    _check_probability,
    _fitted_mixture,
    check_new_data,
)


@renamed_arguments(hdi_prob="ci_prob")
def impute(
    result,
    X,
    *,
    ci_prob: float = DEFAULT_CI_PROB,
    max_draws: int = DEFAULT_MAX_DRAWS,
    random_seed: int | None = None,
) -> pd.DataFrame:
    """Every missing cell of ``X`` filled in from the posterior predictive, with its uncertainty.

    Parameters
    ----------
    result : xarray.DataTree
        A fit of a mixture built with ``missing="marginalize"``.
    X : array-like or DataFrame
        Rows with NaN (or pandas NA) cells, the features of the fit; often the
        training data themselves.
    ci_prob : float, default 0.94
    max_draws : int, default 1000
        Posterior draws used (thinned evenly); one predictive draw each.
    random_seed : int, optional

    Returns
    -------
    pandas.DataFrame
        One row per missing cell: ``obs_id``, ``feature`` and, for
        measurements and counts, ``mean``, ``hdi_lower``, ``hdi_upper`` of the
        predictive draws; for Bernoulli and categorical items, the modal
        answer ``value`` (a category label for categorical items) and its
        predictive ``probability``. A mixture of columns of several families
        has both sets of columns, each filled for its own cells.

    Examples
    --------
    >>> import numpy as np, bayesmix as bm
    >>> X = bm.datasets.load("lsat6").astype(float).mask(np.random.default_rng(0).random((1000, 5)) < 0.1)
    >>> fit = bm.fit(bm.models.mixture(X, 2, component="bernoulli", missing="marginalize"))  # doctest: +SKIP
    >>> bm.impute(fit, X).head()  # doctest: +SKIP
    """
    fitted = _fitted_mixture(result)
    if not fitted.missing:
        raise ValueError(
            "Argument `result` was fitted without missing='marginalize'; build the model with "
            "missing='marginalize' to impute missing cells."
        )
    data = check_new_data(X, fitted.training, name="X", family=fitted.family, missing=True)
    ci_prob = _check_probability(ci_prob, name="ci_prob")
    weights, *params = fitted.parameters(check_positive_int(max_draws, name="max_draws"))
    rows, columns = np.nonzero(np.isnan(data.values))
    if rows.size == 0:
        return pd.DataFrame({"obs_id": [], "feature": []})
    needed = np.unique(rows)
    memberships = chunked_over_draws(
        functools.partial(membership_probabilities, fitted.family), data.values[needed], weights, *params
    )  # (S, rows, K)
    rng = np.random.default_rng(random_seed)
    S = memberships.shape[0]
    cumulative = np.cumsum(memberships, axis=-1)
    u = rng.random((*cumulative.shape[:2], 1)) * cumulative[..., -1:]
    component = np.minimum((u > cumulative).sum(-1), cumulative.shape[-1] - 1)  # (S, rows)
    draw = np.arange(S)[:, None]
    picked = [p[draw, component] for p in params]  # each draw's component per row
    sample_given = getattr(fitted.family, "sample_given", None)
    if sample_given is None:  # features independent within a component: the observed cells do not matter
        drawn = fitted.family.sample(rng, *picked)  # (S, rows, D)
    else:
        drawn = sample_given(rng, data.values[needed], *picked)
    where = np.searchsorted(needed, rows)
    cells = drawn[:, where, columns]  # (S, cells)
    table = pd.DataFrame({"obs_id": rows, "feature": [data.feature_names[j] for j in columns]})
    answer_columns = _answer_columns(fitted.family, data.n_features)
    answers = answer_columns[columns]
    if answer_columns.any():  # answers: the modal one and how probable it is
        table["value"], table["probability"] = pd.Series(dtype=object), np.nan
        if answers.any():
            values = np.unique(cells[:, answers])
            shares = (cells[None, :, answers] == values[:, None, None]).mean(axis=1)  # (values, cells)
            modal = values[shares.argmax(axis=0)]
            if data.categories is not None:
                modal = decode(modal, data.categories, features=columns[answers])
            table.loc[answers, "value"] = pd.Series(modal, index=table.index[answers], dtype=object)
            table.loc[answers, "probability"] = shares.max(axis=0)
    if not answer_columns.all():  # measurements and counts: the predictive mean and interval
        table["mean"] = table["hdi_lower"] = table["hdi_upper"] = np.nan
        if (~answers).any():
            interval = azs.hdi(cells[:, ~answers], prob=ci_prob, axis=0)
            table.loc[~answers, "mean"] = cells[:, ~answers].mean(axis=0)
            table.loc[~answers, "hdi_lower"], table.loc[~answers, "hdi_upper"] = interval[..., 0], interval[..., 1]
    return table


def _answer_columns(family, n_features: int) -> np.ndarray:
    """Which features are answered items (Bernoulli, categorical): their cells are imputed by the modal answer."""
    answer_columns = getattr(family, "answer_columns", None)
    if answer_columns is not None:
        return answer_columns()
    return np.full(n_features, family.profile is not None)
