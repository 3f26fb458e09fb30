"""Every notebook in notebooks/ runs from top to bottom without error (first half; see notebook_runner)."""

import pytest

from tests.notebook_runner import FIRST_HALF, NOTEBOOKS, SECOND_HALF, execute


@pytest.mark.slow
@pytest.mark.parametrize("stem", FIRST_HALF)
def test_notebook_executes(stem):
    assert not execute(stem)


def test_every_notebook_is_executed_exactly_once():
    assert sorted(FIRST_HALF + SECOND_HALF) == NOTEBOOKS
    assert NOTEBOOKS[:2] == ["01_finite_gmm", "02_label_switching"]
