"""The EM (maximum-likelihood) baseline, in the posterior's names and dims.

:func:`em` and :func:`em_table` take any component family; Gaussian
components go to scikit-learn (:mod:`.gaussian`), the others to their own EM
(:mod:`._em`, with the M-step in the family's module).
"""

from bayesmix.baseline.gaussian import DegenerateSolutionWarning
from bayesmix.baseline.maximum_likelihood import em, em_table

__all__ = ["DegenerateSolutionWarning", "em", "em_table"]
