"""The model's likelihood at a point, for tests that compare it with the numpy density there."""

import numpy as np


def likelihood_at_a_random_point(model, family, rng: np.random.Generator) -> tuple[float, list[np.ndarray]]:
    """The log-likelihood of the observed ``X`` at a random point near the model's initial one, and the
    weights and the family's parameters at that point (to evaluate the numpy density at the same point)."""
    point = {name: value + rng.normal(scale=0.3, size=value.shape) for name, value in model.initial_point().items()}
    logp_X = model.compile_logp(vars=[model["X"]])(point)
    outputs = model.replace_rvs_by_values([model[n] for n in ("weights", *family.parameters)])
    values = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")(point)
    return logp_X, values
