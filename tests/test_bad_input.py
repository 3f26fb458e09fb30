"""One table of bad input for every public function.

Each call must fail at once with ValueError or TypeError whose message names
the argument (or the offending rows) and says what to do, and the exception
must be raised by bayesmix itself, never from inside PyTensor, PyMC, nutpie
or scikit-learn.
"""

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesmix as bm
from bayesmix.sbc import simulation_based_calibration

NAN_ROWS = np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 4.0], [5.0, np.nan], [0.0, 1.0]])
INF_ROW = np.array([[1.0, 2.0], [3.0, 4.0], [np.inf, 1.0], [5.0, 6.0]])
EMPTY = np.empty((0, 2))
TEXT = pd.DataFrame({"a": [1.0, 2.0, 3.0], "colour": ["red", "green", "blue"]})
CUBE = np.zeros((4, 2, 2))
TWO_POINTS = np.array([[0.0, 1.0], [1.0, 0.0]])
NOT_COUNTS = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 2.5], [4.0, 1.0]])
NO_FEATURES = np.zeros((5, 0))

BAD_DATA = {
    "NaN": (NAN_ROWS, ValueError, r"NaN or infinite values in 2 row\(s\) \(positions 1, 3\)|contains NaN"),
    "inf": (INF_ROW, ValueError, r"NaN or infinite values in 1 row\(s\) \(positions 2\)|contains infinity"),
    "empty": (EMPTY, ValueError, r"is empty|0 sample"),
    "non-numeric": (TEXT, (TypeError, ValueError), r"non-numeric columns \['colour'\]|could not convert string"),
    "3-D": (CUBE, ValueError, r"3 dimensions|Found array with dim 3"),
}

# Every public function that takes data, called with that data and otherwise valid arguments.
DATA_TAKERS = {
    "em": lambda fitted, X: bm.em(X, 2),
    "em_table": lambda fitted, X: bm.em_table(X, [1, 2]),
    "models.gmm": lambda fitted, X: bm.models.gmm(X, 2),
    "models.dp_gmm": lambda fitted, X: bm.models.dp_gmm(X, truncation=2),
    "models.mixture, student_t": lambda fitted, X: bm.models.mixture(X, 2, component="student_t"),
    "models.mixture, poisson": lambda fitted, X: bm.models.mixture(X, 2, component="poisson"),
    "models.dp_mixture, negative_binomial": lambda fitted, X: bm.models.dp_mixture(
        X, truncation=2, component="negative_binomial"
    ),
    "em, poisson": lambda fitted, X: bm.em(X, 2, component="poisson"),
    "models.mixture, bernoulli": lambda fitted, X: bm.models.mixture(X, 2, component="bernoulli"),
    "em, bernoulli": lambda fitted, X: bm.em(X, 2, component="bernoulli"),
    "em_table, negative_binomial": lambda fitted, X: bm.em_table(X, [1, 2], component="negative_binomial"),
    "predict_proba": lambda fitted, X: bm.predict_proba(fitted, X),
    "predict": lambda fitted, X: bm.predict(fitted, X),
    "score_samples": lambda fitted, X: bm.score_samples(fitted, X),
    "anomaly_scores": lambda fitted, X: bm.anomaly_scores(fitted, X),
    "PosteriorGaussianMixture.fit": lambda fitted, X: bm.PosteriorGaussianMixture(2).fit(X),
    "DirichletProcessGaussianMixture.fit": lambda fitted, X: bm.DirichletProcessGaussianMixture(2).fit(X),
    "models.mdn, X": lambda fitted, X: bm.models.mdn(X, np.arange(len(X), dtype=float)),
    "models.mdn, y": lambda fitted, X: bm.models.mdn(np.arange(len(X), dtype=float), X),
    "models.mixreg, X": lambda fitted, X: bm.models.mixreg(X, np.arange(len(X), dtype=float), 1),
    "em, mixreg": lambda fitted, X: bm.em(X, 1, y=np.arange(len(X), dtype=float)),
    "predict_density": lambda fitted, X: bm.predict_density(_mdn_fit()[0], X, [0.0]),
    "sample_predictive": lambda fitted, X: bm.sample_predictive(_mdn_fit()[0], X),
    "predict_components": lambda fitted, X: bm.predict_components(_mdn_fit()[0], X),
}


@functools.cache
def _mdn_fit():
    """A small MDN and its MAP fit (one restart), built once: (result, model)."""
    x = np.linspace(0.0, 1.0, 40)
    model = bm.models.mdn(np.c_[x, x**2], np.sin(6 * x), n_components=2, hidden=(3,))
    return bm.fit(model, method="map", n_init=1, random_seed=0, progressbar=False), model


DOSES = pd.DataFrame({"dose": np.linspace(0.0, 1.0, 12), "age": np.tile([30.0, 50.0, 70.0], 4)})
COUNTS = np.array([0, 1, 3, 2, 5, 4, 6, 8, 7, 9, 12, 10], dtype=float)


@functools.cache
def _mixreg_fit():
    """A short fit of a two-component Poisson mixture of regressions, and its model."""
    model = bm.models.mixreg(DOSES, COUNTS, 2, component="poisson", experts=["dose"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bm.fit(model, draws=20, tune=20, chains=1, random_seed=0, progressbar=False), model


ISLANDS = pd.DataFrame({"island": ["Biscoe", "Dream", "Biscoe", "Torgersen"] * 5, "smoker": ["no", "yes"] * 10})


@functools.cache
def _categorical_fit():
    """A short fit of a categorical mixture, built once."""
    model = bm.models.mixture(ISLANDS, 2, component="categorical")
    return bm.fit(model, draws=20, tune=20, chains=1, random_seed=0, progressbar=False)


def _model(fitted):
    return bm.models.gmm(np.random.default_rng(0).normal(size=(30, 2)), 2, covariance="diag")


# Everything else: (function, call, error, what the message must say).
OTHER_CASES = {
    "n_components > n_obs, em": (lambda f: bm.em(TWO_POINTS, 3), ValueError, "n_components = 3, n_samples = 2"),
    "n_components > n_obs, gmm": (
        lambda f: bm.models.gmm(TWO_POINTS, 3),
        ValueError,
        "Expected n_samples >= n_components",
    ),
    "n_components > n_obs, em_table": (lambda f: bm.em_table(TWO_POINTS, [1, 3]), ValueError, "n_components = 3"),
    "n_components > n_obs, estimator": (
        lambda f: bm.PosteriorGaussianMixture(3).fit(TWO_POINTS),
        ValueError,
        "n_components = 3, n_samples = 2",
    ),
    "n_components = 0": (lambda f: bm.models.gmm(TWO_POINTS, 0), ValueError, "`n_components` >= 1"),
    "n_components not an int": (lambda f: bm.em(TWO_POINTS, 1.5), TypeError, "`n_components` must be a positive"),
    "truncation > n_obs": (
        lambda f: bm.models.dp_gmm(TWO_POINTS, truncation=5),
        ValueError,
        "Expected n_samples >= truncation but got truncation = 5, n_samples = 2",
    ),
    "draws = 0": (lambda f: bm.fit(_model(f), draws=0), ValueError, "`draws` must be >= 1"),
    "draws < 0": (lambda f: bm.fit(_model(f), draws=-5), ValueError, "`draws` must be >= 1"),
    "chains = 0": (lambda f: bm.fit(_model(f), chains=0), ValueError, "`chains` must be >= 1"),
    "tune < 0": (lambda f: bm.fit(_model(f), tune=-1), ValueError, "`tune` must be >= 0"),
    "draws not an int": (lambda f: bm.fit(_model(f), draws=10.5), TypeError, "`draws` must be an integer"),
    "estimator draws = 0": (
        lambda f: bm.PosteriorGaussianMixture(2, draws=0).fit(TWO_POINTS),
        ValueError,
        "`draws` must be >= 1",
    ),
    "unknown covariance, gmm": (lambda f: bm.models.gmm(TWO_POINTS, 1, covariance="banded"), ValueError, "banded"),
    "unknown covariance, dp_gmm": (
        lambda f: bm.models.dp_gmm(TWO_POINTS, truncation=2, covariance="banded"),
        ValueError,
        "Unknown covariance 'banded'; choose one of",
    ),
    "unknown covariance, em": (lambda f: bm.em(TWO_POINTS, 1, covariance="banded"), ValueError, "Unknown covariance"),
    "unknown covariance, em_table": (
        lambda f: bm.em_table(TWO_POINTS, [1], ["banded"]),
        ValueError,
        "Unknown covariance",
    ),
    "unknown covariance, estimator": (
        lambda f: bm.PosteriorGaussianMixture(1, covariance="banded").fit(TWO_POINTS),
        ValueError,
        "Unknown covariance",
    ),
    "unknown method, fit": (lambda f: bm.fit(_model(f), method="gibbs"), ValueError, "Unknown method 'gibbs'"),
    "unknown method, em": (lambda f: bm.em(TWO_POINTS, 1, method="kmeans"), ValueError, "Unknown method"),
    "unknown method, relabel": (lambda f: bm.relabel(f, method="magic"), ValueError, "Unknown method"),
    "unknown sampler": (lambda f: bm.fit(_model(f), sampler="stan"), ValueError, "Unknown sampler 'stan'"),
    "unknown sampler, estimator": (
        lambda f: bm.PosteriorGaussianMixture(1, sampler="stan").fit(TWO_POINTS),
        ValueError,
        "Unknown sampler",
    ),
    "unknown loss, point_partition": (lambda f: bm.point_partition(f, loss="hinge"), ValueError, "loss"),
    "not a model, fit": (lambda f: bm.fit("model"), TypeError, "`model` must be a pymc.Model"),
    "not a result, relabel": (lambda f: bm.relabel({"posterior": 1}), TypeError, "`result`"),
    "not a result, diagnose": (lambda f: bm.diagnose(np.zeros(3)), TypeError, "`result`"),
    "not a result, predict_proba": (lambda f: bm.predict_proba(None, TWO_POINTS), TypeError, "`result`"),
    "not a result, save": (lambda f: bm.save("result", "out.nc"), TypeError, "`result`"),
    "max_draws = 0, cluster_count": (lambda f: bm.cluster_count(f, max_draws=0), ValueError, "`max_draws`"),
    "not an EM result, diagnose": (lambda f: bm.diagnose(f, baseline="em"), TypeError, "`baseline`"),
    "wrong number of features": (lambda f: bm.predict(f, np.zeros((3, 5))), ValueError, "5 features"),
    "sample n = 0": (lambda f: bm.sample(f, 0), ValueError, "`n` must be >= 1"),
    "ci_prob > 1": (lambda f: bm.predict_proba(f, TWO_POINTS, ci_prob=1.5), ValueError, "`ci_prob`"),
    "save to an unknown format": (lambda f: bm.save(f, "result.csv"), ValueError, ".nc"),
    "load a missing file": (lambda f: bm.load("no/such/file.nc"), FileNotFoundError, "no/such/file.nc"),
    "unknown data set": (lambda f: bm.datasets.load("iris"), ValueError, "iris"),
    "unknown prior key": (
        lambda f: bm.models.gmm(TWO_POINTS, 1, priors={"mean": bm.Prior("Normal")}),
        ValueError,
        "Unknown prior key",
    ),
    "prior distribution for the wrong role": (
        lambda f: bm.models.gmm(TWO_POINTS, 1, priors={"scales": bm.Prior("Normal", sigma=1.0)}),
        ValueError,
        "cannot serve",
    ),
    "y rows differ from X rows, mdn": (
        lambda f: bm.models.mdn(np.zeros((5, 1)), np.zeros(3)),
        ValueError,
        "`y` has 3 rows but `X` has 5",
    ),
    "hidden not a list of widths, mdn": (
        lambda f: bm.models.mdn(TWO_POINTS, [0.0, 1.0], n_components=1, hidden=(0,)),
        ValueError,
        "`hidden` must be a non-empty sequence",
    ),
    "unknown activation, mdn": (
        lambda f: bm.models.mdn(TWO_POINTS, [0.0, 1.0], n_components=1, activation="swish"),
        ValueError,
        "Unknown activation 'swish'",
    ),
    "constant y, mdn": (
        lambda f: bm.models.mdn(TWO_POINTS, [1.0, 1.0], n_components=1),
        ValueError,
        "`y` has constant column",
    ),
    "prior for the wrong role, mdn": (
        lambda f: bm.models.mdn(TWO_POINTS, [0.0, 1.0], n_components=1, priors={"weights": bm.Prior("HalfNormal")}),
        ValueError,
        "cannot serve",
    ),
    "method map for a mixture": (lambda f: bm.fit(_model(f), method="map"), ValueError, "method='map'"),
    "init for an mdn": (lambda f: bm.fit(_mdn_fit()[1], init=bm.em(TWO_POINTS, 1)), ValueError, "`init`"),
    "unknown init": (lambda f: bm.fit(_model(f), init="em"), ValueError, "`init` must be 'auto'"),
    "init None": (lambda f: bm.fit(_model(f), init=None), ValueError, "`init` must be 'auto'"),
    "n_init = 0, map": (lambda f: bm.fit(_mdn_fit()[1], method="map", n_init=0), ValueError, "`n_init`"),
    "log_likelihood not a bool": (
        lambda f: bm.fit(_model(f), log_likelihood="yes"),
        TypeError,
        "`log_likelihood` must be True, False or None",
    ),
    "temperature = 0": (
        lambda f: bm.sample_predictive(_mdn_fit()[0], [[0.5, 0.25]], temperature=0),
        ValueError,
        "`temperature`",
    ),
    "y_grid of the wrong shape": (
        lambda f: bm.predict_density(_mdn_fit()[0], [[0.5, 0.25]], np.zeros((3, 2))),
        ValueError,
        "`y_grid`",
    ),
    "not an mdn model, predict_density (the deprecated model argument)": (
        lambda f: bm.predict_density(_mdn_fit()[0], _model(f), [[0.5, 0.25]], [0.0]),
        TypeError,
        "`model` must be the pymc.Model built by bayesmix.models.mdn",
    ),
    "a mixture fit, predict_density": (
        lambda f: bm.predict_density(f, [[0.5, 0.25]], [0.0]),
        ValueError,
        "`result` is a 'mixture' fit",
    ),
    "an mdn fit, predict_proba": (lambda f: bm.predict_proba(_mdn_fit()[0], [[0.5, 0.25]]), ValueError, "'mdn' fit"),
    "not a MAP fit, diagnose an mdn": (
        lambda f: bm.diagnose(_mdn_fit()[0], baseline=bm.em(TWO_POINTS, 1)),
        TypeError,
        "`baseline` of an MDN fit must be its MAP fit",
    ),
    "negative and fractional counts, mixture": (
        lambda f: bm.models.mixture(NOT_COUNTS, 2, component="poisson"),
        ValueError,
        r"must hold counts \(non-negative integers\) for component='poisson', but 2 row\(s\) \(positions 1, 2\) "
        r"in column\(s\) \['x1'\]",
    ),
    "negative counts, dp_mixture": (
        lambda f: bm.models.dp_mixture(NOT_COUNTS, truncation=2, component="negative_binomial"),
        ValueError,
        r"e\.g\. -1 in row 1, column 'x1'",
    ),
    "fractional counts, em": (
        lambda f: bm.em(NOT_COUNTS[[0, 2, 3]], 1, component="poisson"),
        ValueError,
        r"1 row\(s\) \(positions 1\).*2\.5",
    ),
    "answers other than 0/1, bernoulli": (
        lambda f: bm.models.mixture(pd.DataFrame({"q1": [0, 1, 1], "q2": [1, 0, 3]}), 2, component="bernoulli"),
        ValueError,
        r"must hold 0/1 or boolean answers for component='bernoulli', but column\(s\) \['q2'\] do not, e\.g\. 3 "
        r"in row 2, column 'q2'",
    ),
    "an answer training never saw, predict_proba": (
        lambda f: bm.predict_proba(_categorical_fit(), ISLANDS.assign(island=["Fernandina"] + ["Dream"] * 19)),
        ValueError,
        r"`X_new`: column 'island' has value\(s\) \['Fernandina'\] that the model was not fitted on; its "
        r"categories are \['Biscoe', 'Dream', 'Torgersen'\]",
    ),
    "measurements as categories, categorical": (
        lambda f: bm.models.mixture(NOT_COUNTS, 2, component="categorical"),
        ValueError,
        r"column 'x1' holds numbers that are not category codes, e\.g\. 2\.5.*component='gaussian'",
    ),
    "infinite code, categorical em": (
        lambda f: bm.em(INF_ROW, 2, component="categorical"),
        ValueError,
        r"column 'x0' holds numbers that are not category codes, e\.g\. inf",
    ),
    "missing answers, categorical": (
        lambda f: bm.models.dp_mixture(ISLANDS.mask(ISLANDS == "Dream"), truncation=3, component="categorical"),
        ValueError,
        r"`X` contains NaN or missing values in 5 row\(s\) \(positions 1, 5, 9, 13, 17\)",
    ),
    "no features, student_t": (
        lambda f: bm.models.mixture(NO_FEATURES, 1, component="student_t"),
        ValueError,
        r"`X` is empty \(shape \(5, 0\)\); pass at least one observation of at least one feature",
    ),
    "unknown component, mixture": (
        lambda f: bm.models.mixture(TWO_POINTS, 1, component="gamma"),
        ValueError,
        r"Unknown component 'gamma'; choose one of \['gaussian', 'student_t', 'poisson', 'negative_binomial'",
    ),
    "unknown component, dp_mixture": (
        lambda f: bm.models.dp_mixture(TWO_POINTS, truncation=2, component=None),
        TypeError,
        r"`component` must be a family name, one of \['gaussian', .*or a mapping of column names to family names",
    ),
    "mapping names a column the data lacks": (
        lambda f: bm.models.mixture(
            pd.DataFrame({"age": [20.0, 30.0, 40.0], "smoker": [0.0, 1.0, 1.0]}),
            1,
            component={"age": "gaussian", "smoker": "bernoulli", "visits": "poisson"},
        ),
        ValueError,
        r"`component` names column\(s\) \['visits'\] that `X` lacks; its columns are \['age', 'smoker'\]",
    ),
    "mapping leaves a column out": (
        lambda f: bm.em(pd.DataFrame({"age": [20.0, 30.0], "smoker": [0.0, 1.0]}), 1, component={"age": "gaussian"}),
        ValueError,
        r"`X` has column\(s\) \['smoker'\] that `component` does not map to a family",
    ),
    "unknown component, em": (lambda f: bm.em(TWO_POINTS, 1, component="t"), ValueError, "Unknown component 't'"),
    "unknown component, em_table": (
        lambda f: bm.em_table(TWO_POINTS, [1], component="gamma"),
        ValueError,
        "Unknown component 'gamma'",
    ),
    "covariances for counts, em_table": (
        lambda f: bm.em_table(NOT_COUNTS.clip(0).round(), [1], ["full"], component="poisson"),
        ValueError,
        r"`covariances` does not apply to component='poisson'",
    ),
    "y rows differ from X rows, mixreg": (
        lambda f: bm.models.mixreg(DOSES, COUNTS[:5], 2),
        ValueError,
        r"`y` has 5 rows but `X` has 12; pass one y per row of X",
    ),
    "negative counts, mixreg": (
        lambda f: bm.models.mixreg(DOSES, COUNTS - 1, 2, component="poisson"),
        ValueError,
        r"`y` must hold counts \(non-negative integers\) for component='poisson', but 1 row\(s\) do not, e\.g\. -1 in "
        r"row 0",
    ),
    "y not binary, mixreg bernoulli": (
        lambda f: bm.em(DOSES, 1, y=COUNTS, component="bernoulli"),
        ValueError,
        r"`y` must be 0/1 or boolean for component='bernoulli', but 10 row\(s\) do not, e\.g\. 3 in row 2",
    ),
    "y with two columns, mixreg": (
        lambda f: bm.models.mixreg(DOSES, np.c_[COUNTS, COUNTS], 2),
        ValueError,
        r"`y` must be one response, a 1-D array or Series, but got 2 columns",
    ),
    "gating column not in X, mixreg": (
        lambda f: bm.models.mixreg(DOSES, COUNTS, 2, gating=["income"]),
        ValueError,
        r"`gating` names \['income'\], which are not columns of X \['dose', 'age'\]",
    ),
    "expert column not in X, em": (
        lambda f: bm.em(DOSES, 2, y=COUNTS, experts=["dose", "weight"]),
        ValueError,
        r"`experts` names \['weight'\], which are not columns of X",
    ),
    "experts as one string, mixreg": (
        lambda f: bm.models.mixreg(DOSES, COUNTS, 2, experts="dose"),
        ValueError,
        r"`experts` must be a non-empty list of column names of X, e\.g\. \['dose'\]",
    ),
    "more components than observations, mixreg": (
        lambda f: bm.models.mixreg(DOSES, COUNTS, 13),
        ValueError,
        r"Expected n_samples >= n_components but got n_components = 13, n_samples = 12",
    ),
    "a gate with one component, mixreg": (
        lambda f: bm.models.mixreg(DOSES, COUNTS, 1, gating=["age"]),
        ValueError,
        r"`gating` needs n_components >= 2",
    ),
    "a family without a response, mixreg": (
        lambda f: bm.models.mixreg(DOSES, COUNTS, 2, component="student_t"),
        ValueError,
        r"`component` must be a family with a regression response, one of \['gaussian', 'poisson', "
        r"'negative_binomial', 'bernoulli'\], but got 'student_t'",
    ),
    "experts without y, em": (
        lambda f: bm.em(DOSES, 2, experts=["dose"]),
        ValueError,
        r"`experts` and `gating` belong to a mixture of regressions; pass its response as `y`",
    ),
    "membership without y, mixreg": (
        lambda f: bm.predict_proba(_mixreg_fit()[0], DOSES),
        ValueError,
        r"`y` is required for a mixture of regressions",
    ),
    "y for a mixture of x, predict_proba": (
        lambda f: bm.predict_proba(f, TWO_POINTS, [1.0, 2.0]),
        ValueError,
        r"`y` applies to a mixture of regressions",
    ),
    "temperature for counts, sample_predictive": (
        lambda f: bm.sample_predictive(_mixreg_fit()[0], DOSES, temperature=0.5),
        ValueError,
        r"`temperature` applies to Gaussian components; leave it at 1 for 'poisson' components",
    ),
    "stephens for a mixture of regressions": (
        lambda f: bm.relabel(_mixreg_fit()[0], method="stephens"),
        ValueError,
        r"method='stephens' applies to mixtures of x",
    ),
    "an EM of x as the reference, relabel a mixreg fit": (
        lambda f: bm.relabel(_mixreg_fit()[0], reference=bm.em(TWO_POINTS, 2)),
        TypeError,
        r"`reference` must be the EM result of this mixture of regressions",
    ),
    "an mdn fit, cluster_count": (
        lambda f: bm.cluster_count(_mdn_fit()[0]),
        ValueError,
        r"`result` is an MDN fit; partitions of the training rows need a mixture of x or a mixture of regressions",
    ),
    "inverse problem n = 0": (lambda f: bm.datasets.inverse_problem(0), ValueError, "`n`"),
    "sbc replicates = 0": (lambda f: simulation_based_calibration(0), ValueError, "`n_replicates` must be >= 1"),
}


@pytest.fixture(scope="module")
def fitted():
    X = np.r_[np.random.default_rng(0).normal(-3, 1, (40, 2)), np.random.default_rng(1).normal(3, 1, (40, 2))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bm.fit(bm.models.gmm(X, 2, covariance="diag"), draws=50, tune=50, chains=2, random_seed=0)


def _assert_raised_by_bayesmix(excinfo):
    origin = Path(str(excinfo.traceback[-1].path))
    assert "bayesmix" in origin.parts and "site-packages" not in origin.parts, (
        f"raised from {origin}:{excinfo.traceback[-1].lineno}: {excinfo.value}"
    )


@pytest.mark.parametrize("data", list(BAD_DATA), ids=str)
@pytest.mark.parametrize("function", list(DATA_TAKERS), ids=str)
def test_bad_data(fitted, function, data):
    X, error, message = BAD_DATA[data]
    with pytest.raises(error, match=message) as excinfo, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        DATA_TAKERS[function](fitted, X)
    _assert_raised_by_bayesmix(excinfo)
    assert "`X" in str(excinfo.value) or "Argument" in str(excinfo.value)


@pytest.mark.parametrize("component", ["poisson", "negative_binomial"])
def test_an_all_zero_count_column_warns_like_a_constant_feature(component):
    X = np.c_[np.zeros(20), np.arange(20) % 5]
    with pytest.warns(bm.DegenerateDataWarning, match=r"Column\(s\) \['x0'\] are zero in every row.*Drop the column"):
        bm.models.mixture(X, 2, component=component)
    with pytest.warns(bm.DegenerateDataWarning, match=r"\['x0'\] are zero in every row"):
        bm.em(X, 2, component=component, n_init=1)


@pytest.mark.parametrize("case", list(OTHER_CASES), ids=str)
def test_bad_arguments(fitted, case):
    call, error, message = OTHER_CASES[case]
    with pytest.raises(error, match=message) as excinfo, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(fitted)
    _assert_raised_by_bayesmix(excinfo)
