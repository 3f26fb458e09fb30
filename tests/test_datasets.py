import pandas as pd
import pytest

from bayesmix import datasets


def test_names_lists_shipped_sets():
    assert datasets.names() == [
        "biochemists",
        "faithful",
        "galaxies",
        "hbk",
        "low_dim_gauss_mix",
        "lsat6",
        "mcycle",
        "titanic",
    ]


@pytest.mark.parametrize(
    ("name", "shape", "columns"),
    [
        ("faithful", (272, 2), ["eruptions", "waiting"]),
        ("mcycle", (133, 2), ["times", "accel"]),
        ("galaxies", (82, 1), ["velocity"]),
        ("low_dim_gauss_mix", (1000, 1), ["y"]),
        ("lsat6", (1000, 5), ["Q1", "Q2", "Q3", "Q4", "Q5"]),
        ("titanic", (1309, 6), ["pclass", "survived", "sex", "age", "sibsp", "parch"]),
    ],
)
def test_load_returns_dataframe_without_rownames(name, shape, columns):
    df = datasets.load(name)
    assert isinstance(df, pd.DataFrame)
    assert df.shape == shape
    assert list(df.columns) == columns


def test_faithful_values_match_r():
    df = datasets.load("faithful")
    assert df.iloc[0].tolist() == [3.6, 79.0]
    assert df["waiting"].mean() == pytest.approx(70.8970588, abs=1e-6)


def test_galaxies_values_match_mass():
    velocity = datasets.load("galaxies")["velocity"]
    assert velocity.iloc[[0, 77, 81]].tolist() == [9172, 26690, 34279]
    # the sum checked against an independent copy of the MASS data
    assert velocity.is_monotonic_increasing and velocity.sum() == 1707910


def test_unknown_name_lists_the_names():
    with pytest.raises(
        ValueError,
        match=r"choose one of \['biochemists', 'faithful', 'galaxies', 'hbk', 'low_dim_gauss_mix', 'lsat6', 'mcycle', "
        r"'titanic'\]",
    ):
        datasets.load("iris")


def test_titanic_has_its_263_unknown_ages_and_no_other_gap():
    df = datasets.load("titanic")
    assert df.isna().sum().to_dict() == {"pclass": 0, "survived": 0, "sex": 0, "age": 263, "sibsp": 0, "parch": 0}
    assert sorted(df["pclass"].unique()) == ["1st", "2nd", "3rd"] and (df["sex"] == "male").sum() == 843
