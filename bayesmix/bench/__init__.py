"""Benchmarks: bayesmix against the same mixture written by hand in PyMC and numpyro, and EM against scikit-learn.

Run ``python -m bayesmix.bench`` (``--help`` for the options). For every case
(posteriordb's low_dim_gauss_mix; faithful with K = 2 and 3; synthetic 2-D data
with K = 3 and N = 1e3, 1e4, 1e5) and every contender, a fresh Python process
fits the model twice; the wall time of each fit, the smallest bulk ESS and the
largest R-hat after relabelling to EM go into ``benchmark.md`` and
``benchmark.json``, and ``ess_per_second.png`` plots ESS/s against N. All
ratios are between measurements of the same run, since shared machines are
noisy.
"""
