"""Executes a notebook from top to bottom; shared by the three notebook test modules.

The notebooks are split over three modules because `pytest -n 2 --dist loadfile` runs
each module on one worker: in one module they took 12 minutes on one worker while the
other sat idle, and in two the slower one (361 s of notebooks 08 and 09 alone) could
still start last.
"""

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(p.stem for p in FOLDER.glob("*.ipynb"))
# Their time in the suite (seconds, 2026-12-06): 03 50, 02 25, 01 and 05 under 20 each; 04 51, 07 64, 06
# under 20; 08 201, 09 118.
FIRST_PART = ["01_finite_gmm", "02_label_switching", "03_dirichlet_process", "05_model_comparison"]
SECOND_PART = ["04_bayesian_mdn", "06_using_a_fitted_mixture", "07_heavy_tails_and_counts"]
THIRD_PART = ["08_latent_class_and_mixed_data", "09_mixtures_of_regressions"]


# The figures each notebook's text (and the README, and the docs) state, read back from the outputs of the
# notebook as the suite executes it: a pattern whose group is the figure in the printed output, the value the
# text states, and how far the output may be from it (the text's rounding). The fits are seeded, and the same
# seed gives the same draws, so a figure moves only when the code does: then this fails and the text must be
# brought up to date with it.
STATED = {
    "01_finite_gmm": [
        (r"^20\s+tied\s+3\s+(-?\d+\.\d+)", -1126.3, 0.05),  # mclust's EEE, K = 3: log-likelihood
        (r"^20\s+tied\s+3\s+\S+\s+\d+\s+(\d+\.\d+)", 2314.3, 0.05),  # and BIC
    ],
    "02_label_switching": [
        (r"^1\s+(\d\.\d+)\s+\d\.\d+$", 4.29, 0.005),  # chain 1 in the other labelling
        (r"^weights\[0\]\s+(\d+\.\d+)", 7.0, 0.5),  # bulk ESS before relabelling (README)
        (r"^weights\[0\]\s+\S+\s+\S+\s+(\d+\.\d+)", 1.53, 0.005),  # R-hat before relabelling (README)
    ],
    "05_model_comparison": [
        (r"tied, K=3\s+is\s+\S+ below full, K=3 \(\s*(\d+\.\d+) standard errors", 0.2, 0.05),
        (r"full, K=2\s+is\s+\S+ below full, K=3 \(\s*(\d+\.\d+) standard errors", 1.0, 0.05),
        (r"K=1\s+is\s+\S+ below full, K=3 \(\s*(\d+\.\d+) standard errors", 11, 0.6),
        (r"^full, K=3\s+\S+ s\s+R-hat (\d\.\d+)", 1.06, 0.005),
    ],
    "06_using_a_fitted_mixture": [  # the README's figures
        (r"\(2\.9, 63\): P\(short\) (\d\.\d+)", 0.74, 0.005),
        (r"\(2\.9, 63\): .* HDI \[(\d\.\d+),", 0.32, 0.005),
        (r"\(2\.9, 63\): .* HDI \[\d\.\d+, (\d\.\d+)\]", 1.00, 0.005),
        (r"\(2\.9, 63\): .*log-density (-?\d+\.\d+)", -8.25, 0.005),
        (r"\(6\.5, 45\): .*log-density (-?\d+\.\d+)", -42.9, 0.05),
        (r"threshold (-?\d+\.\d+) nats", -7.9, 0.05),
    ],
    "07_heavy_tails_and_counts": [
        (r"^\s+Gaussian \[(\d\.\d+) \d\.\d+ \d\.\d+\]$", 0.93, 0.005),  # correlations, one component
        (r"^\s+Gaussian \[\d\.\d+ \d\.\d+ (\d\.\d+)\]$", 0.97, 0.005),
        (r"^\s+Student-t \[(\d\.\d+)\s+\d\.\d+\s+\d\.\d+\]\ndegrees", 0.38, 0.005),
        (r"^\s+Student-t \[\d\.\d+\s+\d\.\d+\s+(\d\.\d+)\]\ndegrees", 0.74, 0.005),
        (r"degrees of freedom: median (\d\.\d+)", 1.4, 0.05),
        (r"^mean (\d\.\d+), variance", 1.7, 0.05),
        (r"^mean \d\.\d+, variance (\d\.\d+)", 3.7, 0.05),
    ],
    "08_latent_class_and_mixed_data": [
        (r"^imputed answer right: (\d\.\d+)", 0.78, 0.005),
        (r"^K=5\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+$", None, None),  # the LOO table has its row
        (r"^K=4\s+\S+\s+\S+\s+\S+\s+(-\d+\.\d+)", -26, 1.0),  # five groups ahead by about 26
        (r"^K=4\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+\.\d+)", 10, 1.0),  # with a dse of about 10
    ],
    "09_mixtures_of_regressions": [
        (r"correlation within each component: \[(-\d\.\d+)", -0.7, 0.05),
    ],
}


def text_outputs(notebook) -> str:
    """Everything the notebook's code cells printed or displayed as text, one string."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def stated_figures_disagreeing(stem: str, notebook) -> list[str]:
    """The figures of STATED that the notebook's outputs do not give (empty when the text is true)."""
    text = text_outputs(notebook)
    wrong = []
    for pattern, stated, tolerance in STATED.get(stem, []):
        found = re.search(pattern, text, flags=re.MULTILINE)
        if found is None:
            wrong.append(f"{pattern!r}: not in the outputs")
        elif stated is not None and abs(float(found.group(1)) - stated) > tolerance:
            wrong.append(f"{pattern!r}: the output says {found.group(1)}, the text {stated}")
    return wrong


def execute(stem: str) -> list:
    """Run the notebook; return the error outputs of its cells and the figures its text states wrongly."""
    path = FOLDER / f"{stem}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    return errors + stated_figures_disagreeing(stem, notebook)
