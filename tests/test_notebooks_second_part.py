"""Every notebook in notebooks/ runs from top to bottom without error (second part; see notebook_runner)."""

import pytest

from tests.notebook_runner import SECOND_PART, execute


@pytest.mark.slow
@pytest.mark.parametrize("stem", SECOND_PART)
def test_notebook_executes(stem):
    assert not execute(stem)
