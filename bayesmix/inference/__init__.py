"""Fitting: NUTS (nutpie, PyMC, numpyro), ADVI and the MDN's MAP, to an ``xarray.DataTree``.

:mod:`~bayesmix.inference.fitting` holds :func:`fit`; the private modules are
its engines: the hand-written Gaussian-mixture kernel and its nutpie glue,
minibatch ADVI, and the compilation settings.
"""

from bayesmix.inference.fitting import fit

__all__ = ["fit"]
