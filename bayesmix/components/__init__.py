"""Component families: what each mixture component is.

One module per family; each defines a family object that answers the same
questions (see :class:`bayesmix.components._family.ComponentFamily`), and this
registry maps the family's name, as users pass it in ``component=``, to it.
Adding a family is one module and one line here. A mapping of columns to
family names (``component={"age": "gaussian", "sex": "bernoulli"}``) gives the
family of a mixture of columns of several families (:mod:`bayesmix.components.mixed`).
"""

from __future__ import annotations

from collections.abc import Mapping

from bayesmix._validation import check_choice
from bayesmix.components import bernoulli, categorical, gaussian, negative_binomial, poisson, student_t
from bayesmix.components._family import ComponentFamily

COMPONENTS: dict[str, ComponentFamily] = {
    family.name: family
    for family in (
        gaussian.FAMILY,
        student_t.FAMILY,
        poisson.FAMILY,
        negative_binomial.FAMILY,
        bernoulli.FAMILY,
        categorical.FAMILY,
    )
}


def get_component(name: object) -> ComponentFamily:
    """The component family called ``name`` (or, for a mapping of columns to family names, their mixed
    family); an unknown name is a ValueError that lists the choices."""
    if isinstance(name, Mapping):
        from bayesmix.components.mixed import MixedFamily

        return MixedFamily(name)
    if not isinstance(name, str):
        raise TypeError(
            f"Argument `component` must be a family name, one of {list(COMPONENTS)}, or a mapping of column "
            f"names to family names, but got {name!r}."
        )
    return COMPONENTS[check_choice(name, COMPONENTS, name="component")]


__all__ = ["COMPONENTS", "ComponentFamily", "get_component"]
