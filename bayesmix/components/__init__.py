"""Component families: what each mixture component is.

One module per family; each defines a family object that answers the same
questions (see :class:`bayesmix.components._family.ComponentFamily`), and this
registry maps the family's name, as users pass it in ``component=``, to it.
Adding a family is one module and one line here.
"""

from __future__ import annotations

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
    """The component family called ``name``; an unknown name is a ValueError that lists the choices."""
    return COMPONENTS[check_choice(name, COMPONENTS, name="component")]


__all__ = ["COMPONENTS", "ComponentFamily", "get_component"]
