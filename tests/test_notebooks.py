"""Every notebook in notebooks/ runs from top to bottom without error (first part; see notebook_runner)."""

import pytest

from tests.notebook_runner import FIRST_PART, NOTEBOOKS, SECOND_PART, THIRD_PART, execute


@pytest.mark.slow
@pytest.mark.parametrize("stem", FIRST_PART)
def test_notebook_executes(stem):
    assert not execute(stem)


def test_every_notebook_is_executed_exactly_once():
    assert sorted(FIRST_PART + SECOND_PART + THIRD_PART) == NOTEBOOKS
    assert NOTEBOOKS[:2] == ["01_finite_gmm", "02_label_switching"]
