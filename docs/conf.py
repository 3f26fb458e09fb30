"""Sphinx configuration of bayesmix's documentation: ``make docs`` builds it into docs/_build/html."""

from __future__ import annotations

import shutil
from pathlib import Path

import bayesmix

ROOT = Path(__file__).resolve().parent.parent

project = "bayesmix"
author = "The bayesmix developers"
copyright = "2026, the bayesmix developers"
version = release = bayesmix.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

# The notebooks are rendered from their stored outputs: the test suite executes them.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
# .rst first: autosummary writes its generated pages with the first suffix, in reStructuredText.
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# No intersphinx: the build must work offline (CI), with warnings as errors.
suppress_warnings = ["config.cache"]

html_theme = "pydata_sphinx_theme"
html_title = "bayesmix"
html_theme_options = {
    "github_url": "https://github.com/bayesmix/bayesmix",
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
templates_path = []
exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute"]


def _copy_notebooks(app) -> None:
    """Copy notebooks/ into docs/examples/ (ignored by git) so that Sphinx renders them as they are stored."""
    target = Path(app.srcdir) / "examples"
    target.mkdir(exist_ok=True)
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        destination = target / notebook.name
        if not destination.exists() or destination.read_bytes() != notebook.read_bytes():
            shutil.copyfile(notebook, destination)


def setup(app) -> None:
    app.connect("builder-inited", _copy_notebooks)
