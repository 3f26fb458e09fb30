"""Former spellings of public arguments, kept working for one release with a DeprecationWarning."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable

# Warnings point at the user's line: the first frame outside this package.
PACKAGE_FRAMES = (os.path.dirname(__file__),)


def renamed_arguments(**new_names: str) -> Callable:
    """Accept each keyword ``old`` as ``new_names[old]``, warning that names the new spelling.

    Passing both spellings is an error, as passing one argument twice is.
    """

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in new_names.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"Pass `{new}` only: `{old}` is its former name (got both).")
                warn_renamed(f"Argument `{old}` of bayesmix.{func.__name__}", f"`{new}`")
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorate


def warn_renamed(what: str, replacement: str) -> None:
    """Say that ``what`` is deprecated and will go in the next release, naming its ``replacement``."""
    warn_deprecated(f"{what} is deprecated and will be removed in the next release; use {replacement} instead.")


def warn_deprecated(message: str) -> None:
    """A DeprecationWarning attributed to the caller's code outside bayesmix."""
    warnings.warn(message, DeprecationWarning, skip_file_prefixes=PACKAGE_FRAMES)
