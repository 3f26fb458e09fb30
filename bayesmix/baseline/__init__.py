"""The EM (maximum-likelihood) baseline, in the posterior's names and dims."""

from bayesmix.baseline.gaussian import DegenerateSolutionWarning, em, em_table

__all__ = ["DegenerateSolutionWarning", "em", "em_table"]
