"""Spec files: the shipped specs read into the documented plans; every bad spec is one line and exit code 2."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bayesmix.cli.app import app
from bayesmix.cli.spec import QUICK, SpecError, read_spec

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """
    title = "test"
    output = "results/test"
    [data]
    dataset = "faithful"
    [[candidates]]
    family = "gmm"
    n_components = [1, 2]
    covariance = "full"
    method = "nuts"
    draws = 50
    tune = 50
    chains = 2
"""

COUNTS = """
    [data]
    dataset = "biochemists"
    columns = ["art", "ment"]
    [[candidates]]
    family = "mixture"
    component = "poisson"
    n_components = 2
"""

ADVI = GOOD.replace(
    'method = "nuts"\n    draws = 50\n    tune = 50\n    chains = 2',
    'method = "advi"\n    steps = 100\n    batch_size = 100',
)


def test_faithful_spec_is_the_documented_demo():
    spec = read_spec(ROOT / "models" / "faithful.toml")
    names = [c.name for c in spec.candidates]
    assert names == [f"gmm_{cov}_k{k}" for k in (1, 2, 3, 4) for cov in ("full", "tied")] + ["dp_gmm_full_t20"]
    assert spec.baseline == {
        "n_components": [1, 2, 3, 4, 5, 6],
        "covariance": ["full", "tied", "diag", "spherical"],
        "component": "gaussian",
    }
    gmm = spec.candidates[2]
    assert gmm.family == "mixture"
    assert gmm.model_options == {"component": "gaussian", "n_components": 2, "covariance": "full"}
    assert gmm.init_from_em and gmm.fit_options == {
        "method": "nuts",
        "draws": 1000,
        "tune": 1000,
        "chains": 4,
        "sampler": "nutpie",
    }
    assert spec.data.columns == ["eruptions", "waiting"]


def test_an_advi_candidate_carries_its_batch_size(tmp_path):
    spec = read_spec(write(tmp_path, ADVI))
    assert spec.candidates[0].fit_options == {"method": "advi", "draws": 1000, "n_steps": 100, "batch_size": 100}


def test_a_candidate_starts_at_em_unless_it_asks_for_the_prior(tmp_path):
    assert read_spec(write(tmp_path, GOOD)).candidates[0].init_from_em
    prior = GOOD.replace("chains = 2", 'chains = 2\ninit = "prior"')
    assert not read_spec(write(tmp_path, prior)).candidates[0].init_from_em


def test_mcycle_spec_has_three_mdns():
    spec = read_spec(ROOT / "models" / "mcycle.toml")
    assert [c.name for c in spec.candidates] == ["mdn_k1_h8", "mdn_k2_h8", "mdn_k3_h8"]
    assert spec.data.x == ["times"] and spec.data.y == ["accel"]
    assert spec.candidates[2].fit_options == {"method": "advi", "draws": 1000, "n_steps": 10000}


def test_quick_shortens_every_chain_and_seeds_follow_names(tmp_path):
    spec = read_spec(write(tmp_path, GOOD.replace("draws = 50", "draws = 500")))
    quick = spec.quick()
    assert [c.fit_options["draws"] for c in quick.candidates] == [QUICK["draws"]] * 2
    assert quick.candidates[0].fit_options["chains"] == 2
    # A candidate's seed depends on its name, not on its position in the file.
    reordered = read_spec(write(tmp_path, GOOD.replace("[1, 2]", "[2, 1]"), "other.toml"))
    assert spec.seed_for(spec.candidates[1]) == reordered.seed_for(reordered.candidates[0])
    assert spec.seed_for(spec.candidates[0]) != spec.seed_for(spec.candidates[1])


def test_csv_data_relative_to_the_spec(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "points.csv").write_text("a,b,label\n" + "\n".join(f"{i},{i % 7},x" for i in range(30)))
    spec = read_spec(
        write(tmp_path, GOOD.replace('dataset = "faithful"', 'path = "data/points.csv"\ncolumns = ["a", "b"]'))
    )
    assert spec.data.frame().shape == (30, 3) and spec.data.columns == ["a", "b"]


def test_component_lists_expand_and_covariance_goes_only_where_it_applies(tmp_path):
    text = COUNTS.replace(
        'component = "poisson"', 'component = ["poisson", "student_t"]\ncovariance = ["full", "diag"]'
    )
    text = text.replace("n_components = 2", "n_components = [1, 2]")
    spec = read_spec(write(tmp_path, text))
    assert [c.name for c in spec.candidates] == [
        "poisson_k1",
        "poisson_k2",
        "student_t_full_k1",
        "student_t_diag_k1",
        "student_t_full_k2",
        "student_t_diag_k2",
    ]
    assert spec.candidates[1].model_options == {"component": "poisson", "n_components": 2}
    assert spec.candidates[3].model_options == {"component": "student_t", "n_components": 1, "covariance": "diag"}


def test_dp_mixture_candidates_and_a_count_baseline(tmp_path):
    text = COUNTS.replace('family = "mixture"', 'family = "dp_mixture"').replace("n_components = 2", "truncation = 6")
    text = text.replace(
        "[[candidates]]", '[baseline]\ncomponent = "negative_binomial"\nn_components = [1, 2]\n[[candidates]]'
    )
    spec = read_spec(write(tmp_path, text))
    (candidate,) = spec.candidates
    assert candidate.name == "dp_poisson_t6" and candidate.family == "dp_mixture"
    assert spec.baseline == {"n_components": [1, 2], "covariance": None, "component": "negative_binomial"}


@pytest.mark.parametrize(
    ("name", "components"),
    [("biochemists", {"poisson", "negative_binomial"}), ("hbk", {"gaussian", "student_t"}), ("lsat6", {"bernoulli"})],
)
def test_shipped_family_specs_read(name, components):
    spec = read_spec(ROOT / "models" / f"{name}.toml")
    assert {c.model_options["component"] for c in spec.candidates} == components


def test_mixreg_candidates_code_text_columns_and_name_the_gate():
    spec = read_spec(ROOT / "models" / "biochemists_regression.toml")
    names = [c.name for c in spec.candidates]
    assert names == [
        "mixreg_poisson_k1",
        "mixreg_poisson_k2",
        "mixreg_negative_binomial_k1",
        "mixreg_negative_binomial_k2",
        "mixreg_poisson_k2_gated",
    ]
    gated = spec.candidates[-1]
    model = gated.build(spec.data, spec.data.frame())
    assert list(model.coords["gating_feature"]) == ["fem=Women", "mar=Single"]
    assert list(model.coords["feature"]) == ["kid5", "phd", "ment"]
    assert gated.fit_options["method"] == "nuts"


MIXREG = """
[data]
dataset = "biochemists"
x = ["fem", "kid5", "ment"]
y = ["art"]
[[candidates]]
family = "mixreg"
component = "poisson"
n_components = 2
"""

BAD = [
    ("unknown top-level key", "colour = 'red'\n" + GOOD, r"top level: unknown key \['colour'\]"),
    ("unknown candidate key", GOOD.replace("chains = 2", "chains = 2\nwarmup = 3"), r"unknown key \['warmup'\]"),
    ("no candidates", GOOD.split("[[candidates]]")[0], r"the \[candidates\] section is missing"),
    ("missing file", GOOD.replace('dataset = "faithful"', 'path = "nope.csv"'), r"no such file .*nope\.csv"),
    ("unknown data set", GOOD.replace('"faithful"', '"geyser"'), r"unknown data set 'geyser'"),
    ("both data sources", GOOD.replace('dataset = "faithful"', 'dataset = "faithful"\npath = "x.csv"'), "exactly one"),
    ("unknown column", GOOD.replace('dataset = "faithful"', 'dataset = "faithful"\ncolumns = ["speed"]'), "speed"),
    ("K above n", GOOD.replace("[1, 2]", "[1, 500]"), r"gmm_full_k500.*n_components = 500, n_samples = 272"),
    ("K zero", GOOD.replace("[1, 2]", "[0, 2]"), r"n_components: must be an integer >= 1"),
    ("bad covariance", GOOD.replace('"full"', '"banded"'), r"'banded' is not one of"),
    ("bad method", GOOD.replace('"nuts"', '"gibbs"'), r"method: 'gibbs' is not one of"),
    ("map for a mixture", GOOD.replace('"nuts"', '"map"'), r"method: 'map' is not one of"),
    ("bad init", GOOD.replace("chains = 2", 'chains = 2\ninit = "kmeans"'), r"init: must be \"em\".*'kmeans'"),
    ("bad sampler", GOOD.replace("chains = 2", 'chains = 2\nsampler = "stan"'), r"sampler: 'stan'"),
    ("zero draws", GOOD.replace("draws = 50", "draws = 0"), r"draws: must be an integer >= 1"),
    ("bad target_accept", GOOD.replace("chains = 2", "chains = 2\ntarget_accept = 1.5"), "strictly between 0 and 1"),
    ("setting of another method", GOOD.replace("chains = 2", "chains = 2\nsteps = 100"), r"\['steps'\] do not apply"),
    ("batch_size for NUTS", GOOD.replace("chains = 2", "chains = 2\nbatch_size = 5"), r"\['batch_size'\] do not apply"),
    ("batch_size not below n", ADVI.replace("batch_size = 100", "batch_size = 272"), "smaller than the 272 obs"),
    ("batch_size zero", ADVI.replace("batch_size = 100", "batch_size = 0"), "batch_size: must be an integer >= 1"),
    ("bad family", GOOD.replace('"gmm"', '"hmm"'), r"family: must be one of"),
    ("mdn without x and y", GOOD.replace('"gmm"', '"mdn"').replace('covariance = "full"\n', ""), "needs \\[data\\] x"),
    (
        "bad prior",
        GOOD + "priors = { means = { distribution = 'Nope' } }\n",
        r"\(gmm_full_k1\): .*Nope",
    ),
    (
        "bad activation",
        GOOD.replace('"gmm"', '"mdn"')
        .replace('covariance = "full"\n', 'activation = "swish"\n')
        .replace('dataset = "faithful"', 'dataset = "mcycle"\nx = ["times"]\ny = ["accel"]'),
        "'swish' is not one of",
    ),
    (
        "batch_size for an mdn",
        ADVI.replace('"gmm"', '"mdn"')
        .replace('covariance = "full"\n', "")
        .replace('dataset = "faithful"', 'dataset = "mcycle"\nx = ["times"]\ny = ["accel"]'),
        "batch_size: applies to mixtures",
    ),
    ("unknown component", GOOD.replace('"gmm"', '"mixture"\ncomponent = "gamma"'), r"component: 'gamma' is not one of"),
    (
        "covariance for counts",
        COUNTS.replace("n_components = 2", 'n_components = 2\ncovariance = "full"'),
        r"covariance: does not apply to component 'poisson'",
    ),
    ("component for the gmm shortcut", GOOD.replace("chains = 2", 'chains = 2\ncomponent = "poisson"'), "component"),
    (
        "counts of continuous data",
        GOOD.replace('"gmm"', '"mixture"\ncomponent = "poisson"').replace('covariance = "full"\n', ""),
        r"poisson_k1\):.*integer",
    ),
    (
        "baseline covariance for counts",
        COUNTS.replace("[[candidates]]", '[baseline]\ncomponent = "poisson"\ncovariance = ["full"]\n[[candidates]]'),
        r"\[baseline\] covariance: does not apply",
    ),
    ("repeated candidates", GOOD.replace("[1, 2]", "[2, 2]"), r"\['gmm_full_k2'\] would be fitted twice"),
    ("bad TOML", GOOD + "this is not toml\n", "not valid TOML"),
    ("mixreg with two y", MIXREG.replace('y = ["art"]', 'y = ["art", "phd"]'), r"regresses one y, but \[data\] y"),
    (
        "mixreg without x and y",
        MIXREG.replace('x = ["fem", "kid5", "ment"]\n', ""),
        r"mixreg candidate needs \[data\] x",
    ),
    ("mixreg gate on a column not in x", MIXREG + 'gating = ["mar"]\n', r"`gating` names \['mar'\], which are not"),
    ("mixreg of counts as answers", MIXREG.replace('"poisson"', '"bernoulli"'), r"`y` must be 0/1 or boolean"),
    ("mixreg covariance", MIXREG + 'covariance = "full"\n', r"unknown key \['covariance'\]"),
    (
        "mdn bad covariance",
        MIXREG.replace('"mixreg"', '"mdn"').replace('component = "poisson"\n', 'covariance = "tied"\n'),
        r"covariance: 'tied' is not one of \['diag', 'full'\]",
    ),
    ("negative seed", "seed = -1\n" + GOOD, "seed: must be a non-negative integer"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_spec_is_refused_with_one_line(tmp_path, case, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SpecError, match=message) as info:
        read_spec(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("case", ["unknown candidate key", "K above n", "missing file"])
def test_cli_exits_2_and_writes_nothing(tmp_path, case):
    _, text, message = next(entry for entry in BAD if entry[0] == case)
    path = write(tmp_path, text)
    out = tmp_path / "out"
    outcome = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert outcome.exit_code == 2, outcome.output
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert re.search(message, outcome.stderr)
    assert not out.exists()


def test_missing_spec_file_exits_2(tmp_path):
    outcome = CliRunner().invoke(app, ["run", str(tmp_path / "absent.toml")])
    assert outcome.exit_code == 2 and "no such spec file" in outcome.stderr


def test_report_of_a_folder_that_is_not_a_run_exits_2(tmp_path):
    outcome = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert outcome.exit_code == 2 and "not a bayesmix run folder" in outcome.stderr


def test_datasets_lists_the_shipped_data():
    outcome = CliRunner().invoke(app, ["datasets"])
    assert outcome.exit_code == 0
    assert "faithful" in outcome.stdout and "mcycle" in outcome.stdout and "272" in outcome.stdout


def test_missing_cells_are_marginalized_only_when_the_spec_says_so(tmp_path):
    (tmp_path / "answers.csv").write_text("q1,q2,q3\n1,0,\n0,,1\n1,1,1\n0,0,0\n1,0,1\n")
    spec = """
        [data]
        path = "answers.csv"
        [[candidates]]
        family = "mixture"
        component = "bernoulli"
        n_components = 2
    """
    with pytest.raises(SpecError, match=r"NaN or infinite values in 2 row\(s\).*missing='marginalize'"):
        read_spec(write(tmp_path, spec))
    plan = read_spec(write(tmp_path, spec + '    missing = "marginalize"\n'))
    assert plan.candidates[0].model_options["missing"] == "marginalize"
    with pytest.raises(SpecError, match=r'missing: must be "marginalize".*got \'drop\''):
        read_spec(write(tmp_path, spec + '    missing = "drop"\n'))


def test_a_table_of_columns_makes_one_mixed_candidate(tmp_path):
    (tmp_path / "people.csv").write_text("age,smoker,visits\n31.5,1,2\n40.0,0,0\n,1,5\n22.0,0,1\n55.5,1,3\n")
    spec = """
        [data]
        path = "people.csv"
        [[candidates]]
        family = "mixture"
        component = { age = "gaussian", smoker = "bernoulli", visits = "poisson" }
        missing = "marginalize"
        n_components = [1, 2]
    """
    plan = read_spec(write(tmp_path, spec))
    assert [c.name for c in plan.candidates] == ["mixed_full_k1", "mixed_full_k2"]
    assert plan.candidates[0].model_options["component"] == {
        "age": "gaussian",
        "smoker": "bernoulli",
        "visits": "poisson",
    }
    with pytest.raises(SpecError, match=r"candidates\[0\] component: 'count' is not one of \['gaussian'"):
        read_spec(write(tmp_path, spec.replace('"poisson"', '"count"')))
    with pytest.raises(SpecError, match=r"`component` names column\(s\) \['weight'\] that `X` lacks"):
        read_spec(write(tmp_path, spec.replace("visits =", "weight =")))
