"""The documentation site's API reference names every public name (``make docs`` builds the pages)."""

import re
from pathlib import Path

import numpy as np

import bayesmix as bm

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _documented() -> set[str]:
    """The fully qualified names listed in the API page's autosummary blocks."""
    names, module = set(), None
    for line in API_PAGE.read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: ([\w.]+)", line.strip()):
            module = match.group(1)
        elif re.fullmatch(r"   [A-Za-z_]\w*", line):
            names.add(f"{module}.{line.strip()}")
    return names


def test_every_public_name_has_its_api_page():
    public = {f"bayesmix.{n}" for n in bm.__all__ if n not in ("datasets", "models", "__version__")}
    public |= {f"bayesmix.models.{n}" for n in bm.models.__all__}
    public |= {f"bayesmix.datasets.{n}" for n in bm.datasets.__all__}
    documented = _documented()
    assert public - documented == set(), "public names without an API page (add them to docs/api.md)"
    assert documented - public == set(), "docs/api.md lists names that are not public"


def test_the_count_of_bad_input_cases_the_validation_page_states_is_true():
    from tests import test_bad_input

    stated = int(re.search(r"over (\d+) cases", (API_PAGE.parent / "validation.md").read_text()).group(1))
    cases = len(test_bad_input.BAD_DATA) * len(test_bad_input.DATA_TAKERS) + len(test_bad_input.OTHER_CASES)
    assert cases > stated


def test_the_readme_demo_table_is_the_demo_specs_and_adds_up():
    """The README's table of `make demo` lists the spec's candidates, sorted by elpd, with elpd_diff the
    distance from the best and stacking weights that sum to one (the figures themselves vary by seed)."""
    from bayesmix.cli.spec import read_spec

    root = API_PAGE.parent.parent
    rows = [
        line.strip("|").split("|")
        for line in (root / "README.md").read_text().splitlines()
        if re.match(r"\| (gmm|dp_gmm)_\w+ \|", line)
    ]
    names = [row[0].strip() for row in rows]
    assert sorted(names) == sorted(c.name for c in read_spec(root / "models" / "faithful.toml").candidates)
    elpd, diff, weight = (np.array([float(row[i]) for row in rows]) for i in (1, 4, 6))
    assert (np.diff(elpd) <= 0).all()
    np.testing.assert_allclose(diff, elpd - elpd[0], atol=0.15)
    assert abs(weight.sum() - 1.0) <= 0.02
