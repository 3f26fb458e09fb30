"""Analysis specs: a TOML file in ``models/`` that says what to fit, read into a checked plan.

A spec names the data, the candidate models and where the results go::

    title = "Old Faithful: how many kinds of eruption?"   # optional
    seed = 2026                                           # optional, default 0
    output = "results/faithful"                           # optional, default results/<spec name>

    [data]
    dataset = "faithful"            # a shipped data set (bayesmix datasets), or
    # path = "my_data.csv"          # a CSV file, relative to the spec file
    # columns = ["a", "b"]          # mixtures: the features (default: every column)
    # x = ["times"]; y = ["accel"]  # MDNs and mixtures of regressions: the inputs and the outputs

    [baseline]                      # optional: the EM model-selection table (mixtures)
    n_components = [1, 2, 3, 4, 5, 6]
    covariance = ["full", "tied", "diag", "spherical"]
    # component = "poisson"         # the family of the EM fits (default "gaussian")

    [[candidates]]
    family = "mixture"              # mixture, dp_mixture, mixreg or mdn
    component = "gaussian"          # gaussian, student_t, poisson, negative_binomial (or a list)
    n_components = [1, 2, 3, 4]     # an int or a list: one candidate per value
    covariance = ["full", "tied"]   # likewise (the families that have a covariance)
    method = "nuts"                 # nuts, advi, fullrank_advi (and map for an MDN)
    draws = 1000
    tune = 1000
    chains = 4

Candidate keys by family (besides ``family`` and ``priors``, a table of
prior overrides as :class:`bayesmix.Prior` mappings, ``{distribution =
"Normal", sigma = 5}``, or numbers):

* every family: ``method``, ``draws``, ``tune``, ``chains``, ``sampler``,
  ``target_accept`` (NUTS), ``steps`` (ADVI optimization steps) and
  ``batch_size`` (minibatch ADVI, mixtures only: rows per step);
* ``mixture``: ``component``, ``n_components``, ``covariance`` (Gaussian and
  Student-t components), ``init = "em"`` (the default: start every chain at
  the family's EM solution) or ``init = "prior"`` (the sampler's own start,
  see :func:`bayesmix.fit`), ``missing = "marginalize"`` (let empty cells in,
  see :func:`bayesmix.models.mixture`);
* ``dp_mixture``: ``component``, ``truncation``, ``covariance``, ``alpha``,
  ``missing``;
* ``mixreg``: ``component`` (gaussian, poisson, negative_binomial,
  bernoulli), ``n_components``, ``experts`` and ``gating`` (columns of
  ``x``; see :func:`bayesmix.models.mixreg`). Text, categorical and
  boolean columns of ``x`` are coded as indicators of every level but the
  first (``fem=Women``); ``experts`` and ``gating`` name the original columns;
* ``mdn``: ``n_components``, ``hidden`` (a list of layer widths),
  ``activation``, ``covariance`` (``"diag"`` or ``"full"``).

``component``, ``n_components`` and ``covariance`` (mixtures) take a list, expanded into
one candidate per combination. ``family = "gmm"`` and ``"dp_gmm"`` are kept as
the Gaussian shortcuts of ``mixture`` and ``dp_mixture``.

:func:`read_spec` checks everything before anything is fitted (it even builds
every candidate's PyMC model) and raises :class:`SpecError` with a one-line
message naming the file and the offending key.
"""

from __future__ import annotations

import itertools
import tomllib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pymc as pm

from bayesmix import datasets, models
from bayesmix.components import COMPONENTS, get_component
from bayesmix.components._covariance import COVARIANCE_TYPES
from bayesmix.inference.fitting import METHODS, SAMPLERS
from bayesmix.mixing.network import ACTIVATIONS
from bayesmix.priors import Prior

__all__ = ["Candidate", "DataSpec", "Spec", "SpecError", "read_spec"]

FAMILIES = ("mixture", "dp_mixture", "mixreg", "mdn")
CONDITIONAL = ("mixreg", "mdn")
# The Gaussian shortcuts, as the factories bm.models.gmm and dp_gmm are.
GAUSSIAN_SHORTCUTS = {"gmm": "mixture", "dp_gmm": "dp_mixture"}
TOP_KEYS = {"title", "seed", "output", "data", "baseline", "candidates"}
DATA_KEYS = {"dataset", "path", "columns", "x", "y"}
BASELINE_KEYS = {"n_components", "covariance", "component"}
FIT_KEYS = {"method", "draws", "tune", "chains", "sampler", "target_accept", "steps", "batch_size"}
FAMILY_KEYS = {
    "mixture": {"component", "n_components", "covariance", "init", "priors", "missing"},
    "dp_mixture": {"component", "truncation", "covariance", "alpha", "priors", "missing"},
    "mixreg": {"component", "n_components", "experts", "gating", "priors"},
    "mdn": {"n_components", "hidden", "activation", "covariance", "priors"},
}
# Keys whose list value expands into one candidate per element.
GRID_KEYS = ("component", "n_components", "covariance")
# Settings of `--quick`: a smoke run that exercises every step in a minute or two.
QUICK = {"draws": 100, "tune": 100, "chains": 2, "steps": 2000}
DEFAULT_ADVI_STEPS = 20000


class SpecError(ValueError):
    """A spec file that cannot be run; the message names the file and the key."""


@dataclass(frozen=True)
class DataSpec:
    """Where the data come from and which columns play which part."""

    dataset: str | None = None
    path: Path | None = None
    columns: list[str] | None = None
    x: list[str] | None = None
    y: list[str] | None = None

    def frame(self) -> pd.DataFrame:
        """The data as a DataFrame (the shipped data set, or the CSV file)."""
        return datasets.load(self.dataset) if self.dataset else pd.read_csv(self.path)

    def describe(self) -> str:
        return datasets.describe(self.dataset) if self.dataset else f"{self.path.name} (CSV)"


@dataclass(frozen=True)
class Candidate:
    """One model to fit: its family, the factory's arguments and :func:`bayesmix.fit`'s."""

    name: str
    family: str
    model_options: dict[str, Any]
    fit_options: dict[str, Any]
    init_from_em: bool = True
    priors: dict[str, Any] = field(default_factory=dict)

    def build(self, data: DataSpec, frame: pd.DataFrame) -> pm.Model:
        """The PyMC model of this candidate for the spec's data."""
        priors = {k: Prior.from_dict(v) if isinstance(v, Mapping) else v for k, v in self.priors.items()}
        if self.family == "mdn":
            return models.mdn(frame[data.x], frame[data.y], priors=priors, **self.model_options)
        if self.family == "mixreg":
            X, columns_of = design_frame(frame[data.x])
            options = dict(self.model_options)
            for key in ("experts", "gating"):
                if options.get(key):
                    options[key] = [column for name in options[key] for column in columns_of.get(name, [name])]
            return models.mixreg(X, frame[data.y[0]], priors=priors, **options)
        factory = models.mixture if self.family == "mixture" else models.dp_mixture
        return factory(frame[data.columns], priors=priors, **self.model_options)


@dataclass(frozen=True)
class Spec:
    """A checked analysis plan."""

    source: Path
    title: str
    seed: int
    output: Path
    data: DataSpec
    baseline: dict[str, list] | None
    candidates: list[Candidate]

    def quick(self) -> Spec:
        """The same plan with the short chains of ``--quick``."""
        shortened = []
        for c in self.candidates:
            options = dict(c.fit_options)
            for key in ("draws", "tune", "chains"):
                if key in options:
                    options[key] = min(options[key], QUICK[key])
            if "n_steps" in options:
                options["n_steps"] = min(options["n_steps"], QUICK["steps"])
            shortened.append(replace(c, fit_options=options))
        return replace(self, candidates=shortened)

    def seed_for(self, candidate: Candidate) -> int:
        """A seed per candidate, fixed by the spec's seed and the candidate's name (not its position)."""
        return (self.seed * 1_000_003 + zlib.crc32(candidate.name.encode())) % 2**31


def design_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The covariates of a mixture of regressions as numbers: each text, categorical or boolean column becomes
    indicator columns ``name=level`` for every level but the first (the reference), numeric columns stay.
    Returns the frame and, per original column, the columns that now carry it."""
    columns, columns_of = [], {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            columns.append(column.astype(float))
            columns_of[str(name)] = [str(name)]
            continue
        levels = sorted(column.dropna().unique(), key=str)
        indicators = pd.DataFrame(
            {f"{name}={level}": (column == level).astype(float) for level in levels[1:]}, index=frame.index
        )
        columns.append(indicators)
        columns_of[str(name)] = list(indicators.columns)
    return pd.concat(columns, axis=1), columns_of


def read_spec(path: str | Path) -> Spec:
    """Read and check a spec file completely.

    Parameters
    ----------
    path : str or path-like
        A TOML spec (see the module docstring for its keys).

    Returns
    -------
    Spec
        The plan: data, EM-table settings and the expanded list of candidates.

    Raises
    ------
    SpecError
        For anything that would stop the run later: a missing file, bad TOML,
        an unknown key, a wrong type, an impossible number of components, bad
        sampler settings or a prior the model refuses. The message is one line.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file.")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: not valid TOML ({err}).") from None
    where = _Where(path)
    _check_keys(raw, TOP_KEYS, where("top level"))
    for key in ("data", "candidates"):
        if key not in raw:
            raise SpecError(where("top level", f"the [{key}] section is missing"))
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise SpecError(where("seed", f"must be a non-negative integer, got {seed!r}"))
    title = _string(raw.get("title", path.stem), where("title"))
    output = Path(_string(raw.get("output", f"results/{path.stem}"), where("output")))
    data, frame = _read_data(raw["data"], path, where)
    baseline = _read_baseline(raw.get("baseline"), data, frame, where)
    candidates = _read_candidates(raw["candidates"], data, frame, where)
    return Spec(path, title, seed, output, data, baseline, candidates)


class _Where:
    """Formats one-line errors: '<file>: <key>: <problem>'."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, key: str, problem: str | None = None) -> str:
        return f"{self.path}: {key}" if problem is None else f"{self.path}: {key}: {problem}."


def _check_keys(table: object, allowed: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise SpecError(f"{where}: must be a table, got {type(table).__name__}.")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {unknown}; allowed: {sorted(allowed)}.")


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where}: must be a non-empty string, got {value!r}.")
    return value


def _string_list(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: must be a list of column names, got {value!r}.")
    return value


def _int_list(value: object, where: str, *, minimum: int) -> list[int]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values):
        raise SpecError(f"{where}: must be an integer >= {minimum} or a list of them, got {value!r}.")
    return values


def _read_data(table: object, path: Path, where: _Where) -> tuple[DataSpec, pd.DataFrame]:
    _check_keys(table, DATA_KEYS, where("[data]"))
    if ("dataset" in table) == ("path" in table):
        raise SpecError(where("[data]", "give exactly one of `dataset` (a shipped data set) or `path` (a CSV file)"))
    if "dataset" in table:
        name = table["dataset"]
        if name not in datasets.names():
            raise SpecError(where("[data] dataset", f"unknown data set {name!r}; shipped: {datasets.names()}"))
        data = DataSpec(dataset=name)
    else:
        csv = path.parent / _string(table["path"], where("[data] path"))
        if not csv.is_file():
            raise SpecError(where("[data] path", f"no such file {str(csv)!r} (paths are relative to the spec)"))
        data = DataSpec(path=csv.resolve())
    try:
        frame = data.frame()
    except Exception as err:  # pandas raises many types for a file that is not a table
        raise SpecError(where("[data] path", f"could not be read as CSV ({type(err).__name__}: {err})")) from None
    roles = {key: _string_list(table[key], where(f"[data] {key}")) for key in ("columns", "x", "y") if key in table}
    for key, names in roles.items():
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise SpecError(where(f"[data] {key}", f"no column {missing} in the data; it has {list(frame.columns)}"))
    columns = roles.get("columns", [str(c) for c in frame.columns])
    return replace(data, columns=columns, x=roles.get("x"), y=roles.get("y")), frame


def _read_baseline(table: object, data: DataSpec, frame: pd.DataFrame, where: _Where) -> dict[str, Any] | None:
    if table is None:
        return None
    _check_keys(table, BASELINE_KEYS, where("[baseline]"))
    ks = _int_list(table.get("n_components", list(range(1, 7))), where("[baseline] n_components"), minimum=1)
    if max(ks) > len(frame):
        raise SpecError(where("[baseline] n_components", f"K = {max(ks)} exceeds the {len(frame)} observations"))
    component = table.get("component", "gaussian")
    _check_component(component, where("[baseline] component"))
    family = get_component(component)
    if family.covariance_types:
        covariances = _string_list(
            table.get("covariance", list(family.covariance_types)), where("[baseline] covariance")
        )
        _check_in(covariances, family.covariance_types, where("[baseline] covariance"))
    elif "covariance" in table:
        raise SpecError(where("[baseline] covariance", f"does not apply to component {component!r}; remove it"))
    else:
        covariances = None
    try:
        # the report's EM table marginalizes NaN cells where the family can
        options = {"missing": True} if getattr(family, "marginalizes_missing", False) else {}
        family.check_data(frame[data.columns], name="[data] columns", **options)
    except (TypeError, ValueError) as err:
        raise SpecError(where("[baseline] component", str(err).splitlines()[0].rstrip("."))) from None
    return {"n_components": ks, "covariance": covariances, "component": component}


def _check_component(component: object, where: str) -> None:
    """A family name, or a table of column = family name (a mixture of columns of several families)."""
    if isinstance(component, dict):
        if not component:
            raise SpecError(f"{where}: a table of column = family name must not be empty.")
        _check_in(list(component.values()), COMPONENTS, where)
    elif not isinstance(component, str):
        raise SpecError(f"{where}: must be a family name or a table of column = family name, got {component!r}.")
    else:
        _check_in([component], COMPONENTS, where)


def _check_in(values: list, allowed, where: str) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise SpecError(f"{where}: {bad[0]!r} is not one of {list(allowed)}.")


def _read_candidates(entries: object, data: DataSpec, frame: pd.DataFrame, where: _Where) -> list[Candidate]:
    if not isinstance(entries, list) or not entries:
        raise SpecError(where("candidates", "must be a non-empty array of tables, [[candidates]]"))
    candidates = []
    for i, entry in enumerate(entries):
        label = f"candidates[{i}]"
        if not isinstance(entry, dict) or entry.get("family") not in (*FAMILIES, *GAUSSIAN_SHORTCUTS):
            got = entry.get("family") if isinstance(entry, dict) else entry
            raise SpecError(where(f"{label} family", f"must be one of {list(FAMILIES)}, got {got!r}"))
        family = GAUSSIAN_SHORTCUTS.get(entry["family"], entry["family"])
        allowed = FAMILY_KEYS[family] - ({"component"} if entry["family"] in GAUSSIAN_SHORTCUTS else set())
        _check_keys(entry, {"family"} | FIT_KEYS | allowed, where(f"{label} ({entry['family']})"))
        if family in CONDITIONAL and not (data.x and data.y):
            raise SpecError(where(label, f"a {family} candidate needs [data] x and y (the input and output columns)"))
        if family == "mixreg" and len(data.y) != 1:
            raise SpecError(where(label, f"a mixreg candidate regresses one y, but [data] y names {data.y}"))
        fit_options = _fit_options(entry, family, where(label), n_obs=len(frame))
        for options in _grid(entry, family, where(label)):
            candidate = _candidate(family, options, fit_options, entry, where(label))
            try:
                candidate.build(data, frame)
            except Exception as err:  # the factories' own checks, reported against the spec
                message = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise SpecError(where(f"{label} ({candidate.name})", message.rstrip("."))) from None
            candidates.append(candidate)
    names = [c.name for c in candidates]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SpecError(where("candidates", f"{duplicated} would be fitted twice; remove the repeated entries"))
    return candidates


def _grid(entry: dict, family: str, where: str) -> list[dict[str, Any]]:
    """One options dict per combination of the list-valued keys (a covariance only for the components that have one)."""
    if family == "mdn":
        return [
            {"n_components": k} for k in _int_list(entry.get("n_components", 3), f"{where} n_components", minimum=1)
        ]
    if family == "mixreg":
        components = _string_list(entry.get("component", "gaussian"), f"{where} component")
        _check_in(components, COMPONENTS, f"{where} component")
        ks = _int_list(entry.get("n_components", 2), f"{where} n_components", minimum=1)
        return [{"component": c, "n_components": k} for c, k in itertools.product(components, ks)]
    component = entry.get("component", "gaussian")
    # a table maps columns to families: one mixed candidate; a list expands into one candidate per family
    components = [component] if isinstance(component, dict) else _string_list(component, f"{where} component")
    for one in components:
        _check_component(one, f"{where} component")
    ks = _int_list(entry.get("n_components", 2), f"{where} n_components", minimum=1) if family == "mixture" else [None]
    covariances = _string_list(entry.get("covariance", "full"), f"{where} covariance")
    _check_in(covariances, COVARIANCE_TYPES, f"{where} covariance")
    if "covariance" in entry and not any(get_component(c).covariance_types for c in components):
        raise SpecError(f"{where} covariance: does not apply to component {components[0]!r}; remove it.")
    grid = []
    for component, k in itertools.product(components, ks):
        options: dict[str, Any] = {"component": component} | ({"n_components": k} if k is not None else {})
        types = [c for c in covariances if c in get_component(component).covariance_types] or [None]
        grid.extend(options | ({"covariance": c} if c else {}) for c in types)
    return grid


def _candidate(family: str, options: dict, fit_options: dict, entry: dict, where: str) -> Candidate:
    options = dict(options)
    if "missing" in entry:
        if entry["missing"] != "marginalize":
            raise SpecError(
                f'{where} missing: must be "marginalize" (leave NaN cells out of the likelihood), '
                f"got {entry['missing']!r}; leave it out to refuse rows with NaN."
            )
        options["missing"] = "marginalize"
    if family == "dp_mixture":
        options["truncation"] = _int_list(entry.get("truncation", 20), f"{where} truncation", minimum=2)[0]
        if "alpha" in entry:
            if not isinstance(entry["alpha"], int | float) or entry["alpha"] <= 0:
                raise SpecError(f"{where} alpha: must be a positive number, got {entry['alpha']!r}.")
            options["alpha"] = float(entry["alpha"])
        name = f"dp_{_component_label(options)}_t{options['truncation']}"
    elif family == "mixreg":
        for key in ("experts", "gating"):
            if key in entry:
                options[key] = _string_list(entry[key], f"{where} {key}")
        gated = "_gated" if options.get("gating") else ""
        name = f"mixreg_{_component_label(options)}_k{options['n_components']}{gated}"
    elif family == "mdn":
        hidden = entry.get("hidden", [8])
        options["hidden"] = tuple(_int_list(hidden, f"{where} hidden", minimum=1))
        activation = entry.get("activation", "tanh")
        _check_in([activation], ACTIVATIONS, f"{where} activation")
        options["activation"] = activation
        covariance = entry.get("covariance", "diag")
        _check_in([covariance], ("diag", "full"), f"{where} covariance")
        options["covariance"] = covariance
        full = "_full" if covariance == "full" else ""
        name = f"mdn_k{options['n_components']}_h{'x'.join(map(str, options['hidden']))}{full}"
    else:
        name = f"{_component_label(options)}_k{options['n_components']}"
    init = entry.get("init")
    if init not in (None, "em", "prior"):
        raise SpecError(
            f'{where} init: must be "em" (start the chains at the EM solution, the default) or "prior" '
            f"(the sampler's own start), got {init!r}."
        )
    priors = entry.get("priors", {})
    if not isinstance(priors, dict):
        raise SpecError(f"{where} priors: must be a table of role = prior, got {priors!r}.")
    return Candidate(name, family, options, fit_options, init_from_em=init != "prior", priors=priors)


def _component_label(options: dict) -> str:
    """gmm_full, student_t_tied, poisson: the part of a candidate's name its component gives."""
    component = options["component"]
    component = "gmm" if component == "gaussian" else "mixed" if isinstance(component, dict) else component
    return f"{component}_{options['covariance']}" if "covariance" in options else component


def _fit_options(entry: dict, family: str, where: str, *, n_obs: int) -> dict[str, Any]:
    method = entry.get("method", "advi" if family == "mdn" else "nuts")
    allowed = METHODS if family == "mdn" else tuple(m for m in METHODS if m != "map")
    _check_in([method], allowed, f"{where} method")
    options: dict[str, Any] = {"method": method}
    if method == "nuts":
        for key, default in (("draws", 1000), ("tune", 1000), ("chains", 4)):
            options[key] = _int_list(entry.get(key, default), f"{where} {key}", minimum=1)[0]
        sampler = entry.get("sampler", "nutpie")
        _check_in([sampler], SAMPLERS, f"{where} sampler")
        options["sampler"] = sampler
        if "target_accept" in entry:
            value = entry["target_accept"]
            if not isinstance(value, float) or not 0 < value < 1:
                raise SpecError(f"{where} target_accept: must be a number strictly between 0 and 1, got {value!r}.")
            options["target_accept"] = value
    elif method in ("advi", "fullrank_advi"):
        options["draws"] = _int_list(entry.get("draws", 1000), f"{where} draws", minimum=1)[0]
        options["n_steps"] = _int_list(entry.get("steps", DEFAULT_ADVI_STEPS), f"{where} steps", minimum=1)[0]
        if "batch_size" in entry:
            if family == "mdn":
                raise SpecError(f"{where} batch_size: applies to mixtures; an mdn is fitted on the whole data.")
            batch_size = _int_list(entry["batch_size"], f"{where} batch_size", minimum=1)[0]
            if batch_size >= n_obs:
                raise SpecError(
                    f"{where} batch_size: must be smaller than the {n_obs} observations, got {batch_size}; "
                    "remove it to use every observation at each step."
                )
            options["batch_size"] = batch_size
    ignored = sorted(k for k in FIT_KEYS & set(entry) if k != "method" and _unused(k, method))
    if ignored:
        raise SpecError(f"{where}: {ignored} do not apply to method {method!r}; remove them.")
    return options


def _unused(key: str, method: str) -> bool:
    used = {
        "nuts": {"draws", "tune", "chains", "sampler", "target_accept"},
        "advi": {"draws", "steps", "batch_size"},
        "fullrank_advi": {"draws", "steps", "batch_size"},
        "map": set(),
    }
    return key not in used[method]
