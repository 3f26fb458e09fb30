"""The component-family benchmark: its data, and hand-written contenders with bayesmix's likelihood."""

import numpy as np
import pytensor.tensor as pt
import pytest

from bayesmix.bench.families import FamilyCase, _PymcContender, markdown, simulate
from bayesmix.components import get_component
from bayesmix.components._mixture_density import mixture_log_density


@pytest.mark.parametrize("component", ["student_t", "poisson", "negative_binomial", "bernoulli"])
def test_simulated_data_fit_the_family(component):
    X = simulate(component, 500)
    assert X.shape == (500, {"student_t": 2, "bernoulli": 20}.get(component, 1))
    get_component(component).check_data(X)  # counts are non-negative integers


POINTS = {
    "poisson": {"weights": [0.3, 0.7], "rates": [[1.5], [6.0]]},
    "negative_binomial": {"weights": [0.3, 0.7], "means": [[1.5], [6.0]], "dispersions": [[0.8], [4.0]]},
    "student_t": {
        "weights": [0.3, 0.7],
        "means": [[-1.0, 0.5], [2.0, 1.0]],
        "scale_matrices": [[[1.0, 0.3], [0.3, 2.0]], [[0.5, -0.1], [-0.1, 0.8]]],
        "degrees_of_freedom": [3.0, 12.0],
    },
    "bernoulli": {"weights": [0.2, 0.3, 0.5], "probabilities": np.linspace(0.05, 0.95, 60).reshape(3, 20)},
}


@pytest.mark.parametrize("component", list(POINTS))
def test_hand_written_pymc_likelihood_is_bayesmix_s(component):
    """The PyMC contender's pm.Mixture gives the observed data the family's log-density, at the same point."""
    case = FamilyCase(component, simulate(component, 50))
    model = _PymcContender(case)._model()
    point = {name: np.asarray(value) for name, value in POINTS[component].items()}
    family = get_component(component)
    want = mixture_log_density(family, case.X, point["weights"], *(point[n] for n in family.parameters)).sum()
    values = {"weights_simplex__": model.rvs_to_transforms[model["weights"]].forward(point["weights"]).eval()}
    if component == "poisson":
        values["rate_log__"] = np.log(point["rates"][:, 0])
    elif component == "bernoulli":
        values["probabilities_logodds__"] = np.log(point["probabilities"] / (1 - point["probabilities"]))
    elif component == "negative_binomial":
        values["mean_log__"] = np.log(point["means"][:, 0])
        values["dispersion_log__"] = np.log(point["dispersions"][:, 0])
    else:
        values["degrees_of_freedom_log__"] = np.log(point["degrees_of_freedom"])
        for k in range(2):
            values[f"mu{k}"] = point["means"][k]
            chol = np.linalg.cholesky(point["scale_matrices"][k])
            transform = model.rvs_to_transforms[model[f"chol{k}"]]
            values[f"chol{k}_cholesky-cov-packed__"] = transform.forward(pt.as_tensor(chol[np.tril_indices(2)])).eval()
    # PyMC has no multivariate Bernoulli to mix: its latent class likelihood is a Potential
    likelihood = model.potentiallogp if component == "bernoulli" else model.observedlogp
    got = model.compile_fn(likelihood, point_fn=True)(values)
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_markdown_gives_bayesmix_s_ratio_to_the_best_other():
    rows = [
        {
            "case": "poisson N=1e3",
            "contender": c,
            "draws": 10,
            "first_s": 2.0,
            "second_s": 1.0,
            "min_bulk_ess": e,
            "max_rhat": 1.0,
            "divergences": 0,
            "ess_per_s": e,
        }
        for c, e in (("bayesmix", 300.0), ("pymc", 150.0), ("numpyro", 100.0))
    ]
    table = markdown(rows, "cmd", ["negative_binomial N=1e5 numpyro: timed out"])
    assert "| poisson N=1e3 | bayesmix | 10 | 1.0 (2.0) | 300 | 1.000 | 0 | 300.0 | 2.00 |" in table
    assert "* not measured: negative_binomial N=1e5 numpyro: timed out" in table
