"""Evaluating a model's graph in tests: the mode to compile it in, and points on the samplers' scale."""

import pytensor.tensor as pt

# These checks test the model's graph, not compiled speed: PyTensor's Python linker runs it at
# once, where a numba compilation takes a minute or more per graph on a cold cache (as on CI).
GRAPH_CHECK_MODE = "FAST_COMPILE"


def unconstrained_point(model, values: dict) -> dict:
    """The value variables' values for constrained values of the named RVs, through the model's own transforms."""
    point = {}
    for name, value in values.items():
        rv = model[name]
        transform = model.rvs_to_transforms[rv]
        point[model.rvs_to_values[rv].name] = pt.as_tensor(transform.forward(value, *rv.owner.inputs)).eval()
    return point
