"""Executes a notebook from top to bottom; shared by the two notebook test modules.

The notebooks are split over two modules because `pytest -n 2 --dist loadfile` runs
each module on one worker: in one module they took 12 minutes on one worker while the
other sat idle.
"""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(p.stem for p in FOLDER.glob("*.ipynb"))
# Balanced by their time in the suite (seconds, last CI run; 09 timed here): 187 + 245 + 73 + 33 = 538
# and 115 + 70 + 65 + 150 + 111 = 511.
FIRST_HALF = ["01_finite_gmm", "02_label_switching", "03_dirichlet_process", "05_model_comparison"]
SECOND_HALF = [
    "04_bayesian_mdn",
    "06_using_a_fitted_mixture",
    "07_heavy_tails_and_counts",
    "08_latent_class_and_mixed_data",
    "09_mixtures_of_regressions",
]


def execute(stem: str) -> list:
    """Run the notebook; return the error outputs of its cells."""
    path = FOLDER / f"{stem}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
