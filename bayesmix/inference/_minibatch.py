r"""Minibatch ADVI: the data's log-likelihood estimated from a random batch of rows.

For :math:`N` observations and a batch :math:`B` of :math:`b` rows drawn
afresh at every optimization step (uniformly, with replacement),

.. math::

    \log p(\theta) + \frac{N}{b} \sum_{i \in B} \log p(x_i \mid \theta)

is an unbiased estimate of the log posterior density up to its constant, so
the ELBO's stochastic gradient stays unbiased while each step costs
:math:`O(b)` instead of :math:`O(N)`. This is PyMC's own machinery
(``pm.Minibatch`` and the ``total_size`` rescaling); what PyMC lacks is a way
to apply it to a model already built, which :func:`minibatch_model` adds.
"""

from __future__ import annotations

import pymc as pm
import pytensor.tensor as pt
from pymc.model.fgraph import ModelObservedRV, fgraph_from_model, model_from_fgraph, model_observed_rv
from pymc.model.transform.optimization import freeze_dims_and_data
from pymc.variational.minibatch_rv import create_minibatch_rv
from pytensor.graph.fg import FunctionGraph


def minibatch_model(model: pm.Model, batch_size: int) -> pm.Model:
    """A copy of ``model`` whose observed variable's log-density comes from ``batch_size`` random rows.

    The copy has frozen dims and data (static shapes, as JAX needs), the same
    free variables, value variables, transforms, initial values and
    deterministics, and one observed variable, named as before, whose
    log-density is that of a fresh random batch scaled by ``n_obs /
    batch_size``. It is meant for ADVI only: its log-density is random.
    """
    # Freeze first: PyMC's rescaled variable cannot be rebuilt by the clone that
    # freezing does (its unset total size of the feature axis fails to re-validate).
    frozen = freeze_dims_and_data(model)
    initial_values = {rv.name: value for rv, value in frozen.rvs_to_initial_values.items() if value is not None}
    fgraph = _fgraph_without_initial_values(frozen)

    (observed_node,) = [node for node in fgraph.apply_nodes if isinstance(node.op, ModelObservedRV)]
    rv, data = observed_node.inputs
    rng, _size, *parameters = rv.owner.inputs
    n_obs = data.type.shape[0]
    batch = pm.Minibatch(data, batch_size=batch_size)
    batch_rv = rv.owner.op.make_node(rng, pt.as_tensor([batch_size]), *parameters).default_output()
    scaled = create_minibatch_rv(batch_rv, total_size=[n_obs] + [None] * (rv.ndim - 1))
    observed = model_observed_rv(scaled, batch, observed_node.op.name)  # no obs_id dim: b rows, not N

    # The batch has another static shape than the data, so the observed output is swapped
    # in a new graph rather than replaced in place (PyMC's remove_minibatched_nodes does the same).
    outputs = [observed if out is observed_node.outputs[0] else out for out in fgraph.outputs]
    batched = FunctionGraph(outputs=outputs, clone=False)
    batched._coords, batched._dim_lengths = fgraph._coords, fgraph._dim_lengths
    result = model_from_fgraph(batched, mutate_fgraph=True)
    for name, value in initial_values.items():
        result.set_initval(result[name], value)
    return result


def _fgraph_without_initial_values(model: pm.Model) -> FunctionGraph:
    """``model`` as a PyMC function graph; PyMC refuses models with initial values, so they are set aside."""
    saved = dict(model.rvs_to_initial_values)
    try:
        for rv in saved:
            model.rvs_to_initial_values[rv] = None
        fgraph, _ = fgraph_from_model(model, inlined_views=True)
    finally:
        model.rvs_to_initial_values.update(saved)
    return fgraph
