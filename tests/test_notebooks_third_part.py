"""Every notebook in notebooks/ runs from top to bottom without error (third part; see notebook_runner)."""

import pytest

from tests.notebook_runner import THIRD_PART, execute


@pytest.mark.slow
@pytest.mark.parametrize("stem", THIRD_PART)
def test_notebook_executes(stem):
    assert not execute(stem)
