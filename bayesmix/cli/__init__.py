"""The application on top of the library: spec files, the Dask runner, the HTML report and the command line."""

from bayesmix.cli.app import main

__all__ = ["main"]
