"""Model factories: each builds and returns a ``pymc.Model`` and never samples."""

from bayesmix.models.gmm import gmm

__all__ = ["gmm"]
