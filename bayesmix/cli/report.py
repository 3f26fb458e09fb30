"""The posterior-diagnostics report of a run: one self-contained HTML file, figures embedded.

:func:`write_report` reads what :func:`bayesmix.cli.analysis.run_analysis` saved in
a folder (``run.json`` and the ``.nc`` results) and writes

* ``comparison.csv``: the PSIS-LOO table of :func:`bayesmix.compare`, one
  group per kind of likelihood (mixtures of x with continuous components;
  mixtures of discrete x: counts and answers; mixtures of regressions and MDNs of y given x);
* ``report.html``: the data and the EM model-selection table; per candidate
  the :func:`bayesmix.diagnose` verdict and tables, rank plots (or the ELBO
  for ADVI), the posterior against EM as the component family calls for
  (ellipses of the covariances or scale matrices in 2-D, densities in 1-D,
  observed count frequencies against replicated data for counts, the latent
  class profile of binary items), the
  posterior of shape parameters such as Student-t degrees of freedom, the
  cluster-count posterior of a Dirichlet process, the conditional density of
  an MDN, a mixture of regressions' fitted lines with their bands over its data
  (coloured by membership) and its gate; the LOO comparison with its plot and
  the Pareto k plot.

Figures are PNGs in ``data:`` URIs, so the page reads without Python or a
network. Both files are written to temporary names and renamed.
"""

from __future__ import annotations

import base64
import html
import io
import json
import warnings
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.patches import Ellipse

from bayesmix import persistence
from bayesmix._result import observed_data_of, settings_of
from bayesmix.cli import report_regression
from bayesmix.cli.analysis import RUN_FILE, baseline_path, result_path
from bayesmix.comparison import PARETO_K_THRESHOLD, comparison_table, computed_pareto_k, computed_rows, loo
from bayesmix.components.categorical import decode
from bayesmix.diagnostics.mixture_diagnostics import rank_test_draws, rank_test_level, rank_test_step
from bayesmix.models._base import FINITE, kind_of

__all__ = ["write_report"]

# Components whose posterior mean weight is below this are left out of a DP's pictures.
MIN_SHOWN_WEIGHT = 0.02
# Above this many points a scatter becomes a density (hexagonal bins): a million dots make a large,
# slow figure that shows less than their density does.
MAX_SCATTER_POINTS = 20_000
# The EM table (every K and covariance type, ten starts each) runs on at most this many rows drawn at
# random: on 2e5 rows it took 70 s of a 137 s report. Each candidate's own EM baseline uses every row.
EM_TABLE_ROWS = 100_000
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: .85em; margin: .6em 0; }
th, td { border: 1px solid #d0d7de; padding: .2em .5em; text-align: right; }
th { background: #f6f8fa; } img { max-width: 100%; display: block; margin: .6em 0; }
.ok { color: #1a7f37; } .warn { color: #b35900; } .fail { color: #cf222e; }
details { margin: .5em 0; } summary { cursor: pointer; font-weight: 600; }
nav a { margin-right: .8em; }
"""


def write_report(out: str | Path) -> Path:
    """Write ``comparison.csv`` and ``report.html`` for the results saved in ``out``.

    Parameters
    ----------
    out : str or path-like
        A folder written by :func:`bayesmix.cli.analysis.run_analysis`.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.
    """
    import bayesmix as bm

    out = Path(out)
    if not (out / RUN_FILE).is_file():
        raise FileNotFoundError(f"Argument `out`: {str(out)!r} has no {RUN_FILE}; it is not a bayesmix run folder.")
    plan = json.loads((out / RUN_FILE).read_text())
    saved = [c["name"] for c in plan["candidates"] if result_path(out, c["name"]).exists()]
    results = {name: _load_saved(result_path(out, name)) for name in saved}
    sections = [f"<h1>{html.escape(plan['title'])}</h1>", _run_summary(plan, results)]
    density = {n: r for n, r in results.items() if not kind_of(r.attrs).is_conditional}
    conditional = {n: r for n, r in results.items() if n not in density}
    regressions = {n: r for n, r in conditional.items() if kind_of(r.attrs).is_regression}
    networks = {n: r for n, r in conditional.items() if n not in regressions}
    em_baselines = {}
    if density:
        X = _frame(observed_data_of(next(iter(density.values()))))
        sections.append(_data_section(X, "Data"))
        if plan.get("baseline"):
            sections.append(_em_table_section(X, plan["baseline"], plan["seed"]))
        em_baselines = _em_baselines(X, density, plan)
    if conditional:
        sections.append(_conditional_data_section(next(iter(conditional.values()))))
    seeds = {c["name"]: c["seed"] for c in plan["candidates"]}
    for name, result in regressions.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            em_baselines[name] = report_regression.em_baseline(result, seeds.get(name))

    # LOO compares like with like: densities of x, probabilities of discrete x, densities of y given x.
    discrete = {n: r for n, r in density.items() if kind_of(r.attrs).component_family.discrete}
    continuous = {n: r for n, r in density.items() if n not in discrete}
    groups = (
        ("Mixtures of x", continuous),
        ("Mixtures of discrete x (counts, answers)", discrete),
        ("Mixtures of regressions, y given x", regressions),
        ("Mixture density networks, y given x", networks),
    )
    tables = []
    for label, group in groups:
        if len(group) >= 2:
            section, table = _comparison_section(label, group)
            sections.append(section)
            tables.append(table.assign(group=label))
    for name, result in results.items():
        baseline = em_baselines.get(name)
        if name in networks and baseline_path(out, name).exists():
            baseline = bm.load(baseline_path(out, name))
        sections.append(_candidate_section(name, result, baseline))

    if tables:
        csv = pd.concat(tables).to_csv(float_format="%.6g")
        persistence.write_text_atomic(out / "comparison.csv", csv)
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(plan['title'])}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )
    return persistence.write_text_atomic(out / "report.html", page)


def _png(fig: plt.Figure, alt: str) -> str:
    """The figure as an embedded PNG ``<img>``; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{encoded}'>"


def _table(df: pd.DataFrame, digits: int = 4, **kwargs: Any) -> str:
    return df.to_html(float_format=lambda x: f"{x:.{digits}g}", border=0, **kwargs)


def _frame(data) -> pd.DataFrame:
    """The data as the user gave them: categorical codes back to their labels (missing cells stay NaN)."""
    frame = pd.DataFrame(data.values, columns=data.feature_names)
    if data.categories is None:
        return frame
    coded = [name for name, labels in zip(data.feature_names, data.categories, strict=True) if labels]
    decoded = decode(data.values, data.categories)
    return frame.assign(**{name: decoded[:, data.feature_names.index(name)] for name in coded})


def _run_summary(plan: dict, results: dict) -> str:
    failed = plan.get("failed", {})
    rows = "".join(
        f"<li><a href='#{html.escape(c['name'])}'>{html.escape(c['name'])}</a>"
        f" ({_family_label(c)}, {c['fit_options']['method']})"
        + (f" <span class='fail'>failed: {html.escape(failed[c['name']])}</span>" if c["name"] in failed else "")
        + ("" if c["name"] in results or c["name"] in failed else " <span class='warn'>not fitted yet</span>")
        + "</li>"
        for c in plan["candidates"]
    )
    quick = " <b class='warn'>Quick run: short chains, for a smoke test only.</b>" if plan.get("quick") else ""
    description = html.escape(plan["data"]["description"].rstrip("."))
    return (
        f"<p>Spec <code>{html.escape(plan['spec'])}</code>, data: {description}, "
        f"seed {plan['seed']}, bayesmix {html.escape(plan['bayesmix_version'])}.{quick}</p>"
        f"<p>Candidates:</p><ul>{rows}</ul>"
    )


def _family_label(candidate: dict) -> str:
    component = candidate["model_options"].get("component")
    return f"{candidate['family']} of {_component_label(component)}" if component else candidate["family"]


def _component_label(component: str | dict) -> str:
    """``"poisson"``, or for a mixture of columns of several families ``"columns (age: gaussian, ...)"``."""
    if isinstance(component, dict):
        return "columns (" + ", ".join(f"{column}: {family}" for column, family in component.items()) + ")"
    return component


def _data_section(X: pd.DataFrame, heading: str) -> str:
    fig = _data_figure(X)
    return f"<h2>{heading}</h2>" + _table(X.describe().T, digits=4) + _png(fig, "the data")


def _data_figure(X: pd.DataFrame) -> plt.Figure:
    if not all(pd.api.types.is_numeric_dtype(X[c]) for c in X.columns):  # categorical items: answer shares
        shown = list(X.columns[:4])
        measured = [c for c in shown if pd.api.types.is_numeric_dtype(X[c]) and X[c].nunique() > 20]
        fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3), squeeze=False, sharey=not measured)
        for ax, column in zip(axes[0], shown, strict=True):
            if column in measured:  # a measurement beside the answers: its histogram
                ax.hist(X[column].dropna(), bins=30, density=True, color="0.6")
                ax.set(xlabel=column)
                continue
            shares = X[column].value_counts(normalize=True, sort=False)
            ax.bar(np.arange(len(shares)), shares.to_numpy(), color="0.6")
            ax.set(xticks=np.arange(len(shares)), xlabel=column, ylim=(0, 1))
            ax.set_xticklabels([str(v) for v in shares.index], rotation=45 if len(shares) > 6 else 0)
        axes[0, 0].set_ylabel("share of answers")
        fig.tight_layout()
    elif X.dropna().isin([0, 1]).all().all():  # binary items: how often each is answered 1
        fig, ax = plt.subplots(figsize=(max(4.5, 0.45 * X.shape[1] + 2), 3))
        ax.bar(np.arange(X.shape[1]), X.mean().to_numpy(), color="0.6")
        ax.set(xticks=np.arange(X.shape[1]), ylim=(0, 1), ylabel="share answering 1")
        ax.set_xticklabels(X.columns, rotation=45 if X.shape[1] > 8 else 0)
    elif X.shape[1] == 1:
        fig, ax = plt.subplots(figsize=(5, 3))
        x = X.iloc[:, 0].to_numpy()
        integers = np.all(x == np.round(x)) and np.ptp(x) <= 100
        bins = np.arange(x.min(), x.max() + 2) - 0.5 if integers else 30  # one bar per count
        ax.hist(x, bins=bins, color="0.6")
        ax.set(xlabel=X.columns[0], ylabel="count")
    else:
        fig, ax = plt.subplots(figsize=(5, 4))
        _points(ax, X.iloc[:, 0].to_numpy(), X.iloc[:, 1].to_numpy(), s=6, color="0.3")
        ax.set(xlabel=X.columns[0], ylabel=X.columns[1])
    return fig


def _conditional_data_section(result: xr.DataTree) -> str:
    X, y = result["constant_data"]["X"], result["observed_data"]["y"]
    frame = pd.DataFrame(
        np.column_stack([X.values, y.values]), columns=[*map(str, X["feature"].values), *map(str, y["output"].values)]
    )
    fig, ax = plt.subplots(figsize=(5, 3.5))
    _points(ax, X.values[:, 0], y.values[:, 0], s=6, color="0.3")
    ax.set(xlabel=frame.columns[0], ylabel=str(y["output"].values[0]))
    return "<h2>Data (y given x)</h2>" + _table(frame.describe().T) + _png(fig, "y against x")


def _em_table_section(X: pd.DataFrame, settings: dict, seed: int) -> str:
    import bayesmix as bm

    component = settings.get("component", "gaussian")
    rows = ""
    if len(X) > EM_TABLE_ROWS:
        rows = f" On {EM_TABLE_ROWS:,} of the {len(X):,} rows, drawn at random."
        X = X.sample(n=EM_TABLE_ROWS, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collapsed solutions are flagged in the table itself
        missing = "marginalize" if X.isna().any().any() else None  # NaN cells only a marginalizing family takes
        table = bm.em_table(
            X, settings["n_components"], settings["covariance"], component=component, random_seed=seed, missing=missing
        )
    best = table.attrs["best"]
    covariance = f"{best['covariance']} covariance, " if best["covariance"] else ""
    return (
        f"<h2>EM model selection</h2><p>Maximum-likelihood fits of {html.escape(_component_label(component))} "
        "mixtures for every K"
        f"{' and covariance type' if best['covariance'] else ''}, as R's mclust tabulates them; lower BIC, AIC "
        f"and ICL is better. BIC-best: <b>{covariance}K = {best['n_components']}</b>.{rows}</p>"
        + _table(table, digits=6, index=False)
    )


def _em_baselines(X: pd.DataFrame, results: dict, plan: dict) -> dict[str, xr.Dataset]:
    """The EM fit of each finite mixture's family, K and covariance, seeded as the run seeded it."""
    import bayesmix as bm

    seeds = {c["name"]: c["seed"] for c in plan["candidates"]}
    baselines = {}
    for name, result in results.items():
        kind = kind_of(result.attrs)
        if kind.mixing == FINITE:
            s = settings_of(result)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                baselines[name] = bm.em(
                    X,
                    s["n_components"],
                    component=kind.component_argument,
                    covariance=s.get("covariance") or "full",
                    random_seed=seeds.get(name),
                    missing=s.get("missing"),
                )
    return baselines


def _comparison_section(label: str, group: dict[str, xr.DataTree]) -> tuple[str, pd.DataFrame]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        elpd = loo(group)
        table = comparison_table(elpd, group)
    notes = "".join(f"<p class='warn'>{html.escape(str(w.message))}</p>" for w in caught if "Pareto" in str(w.message))
    best = table.index[0]
    second = table.iloc[1]
    verdict = (
        f"<p>Best by PSIS-LOO: <b>{html.escape(best)}</b>; the next, {html.escape(table.index[1])}, is "
        f"{-second['elpd_diff']:.1f} lower (dse {second['dse']:.1f}, "
        f"{'more' if -second['elpd_diff'] > 2 * second['dse'] else 'less'} than 2 standard errors).</p>"
    )
    section = (
        f"<h2>Comparison by PSIS-LOO: {html.escape(label)}</h2>{verdict}{notes}"
        + _table(table.assign(weight=table["weight"].round(3)), digits=5)
        + _png(_comparison_figure(table), "LOO comparison")
        + _png(_pareto_k_figure(elpd), "Pareto k per observation")
    )
    return section, table


def _comparison_figure(table: pd.DataFrame) -> plt.Figure:
    order = table.index[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(table) + 1.2))
    y = np.arange(len(order))
    ax.errorbar(table.loc[order, "elpd_loo"], y, xerr=table.loc[order, "se"], fmt="o", color="k", label="elpd_loo ± se")
    best = table["elpd_loo"].iloc[0]
    ax.errorbar(
        best + table.loc[order, "elpd_diff"],
        y - 0.2,
        xerr=table.loc[order, "dse"],
        fmt="^",
        color="0.5",
        label="difference to the best ± dse",
    )
    ax.axvline(best, color="0.7", ls="--", lw=0.8)
    ax.set(yticks=y, yticklabels=order, xlabel="elpd_loo (higher is better)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _pareto_k_figure(elpd: dict) -> plt.Figure:
    n = len(elpd)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.4 * rows), squeeze=False, sharey=True)
    for ax, (name, e) in zip(axes.ravel(), elpd.items(), strict=False):
        rows, k = computed_rows(e), computed_pareto_k(e)  # a failed tail fit counts as unreliable
        bad = k > PARETO_K_THRESHOLD
        _points(ax, rows[~bad], k[~bad], s=4, color="0.3")
        ax.scatter(rows[bad], np.minimum(k[bad], 2.0), s=10, color="C3")
        ax.axhline(PARETO_K_THRESHOLD, color="C3", lw=0.8, ls="--")
        subsampled = f" of {rows.size} subsampled" if rows.size < e.n_data_points else ""
        ax.set_title(f"{name}: {bad.sum()}{subsampled} above {PARETO_K_THRESHOLD}", fontsize=9)
        ax.set_xlabel("observation", fontsize=8)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("Pareto k")
    fig.tight_layout()
    return fig


def _candidate_section(name: str, result: xr.DataTree, baseline: Any) -> str:
    import bayesmix as bm

    family, method = result.attrs["bayesmix_family"], result.attrs.get("method", "")
    kind = kind_of(result.attrs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = bm.diagnose(result, baseline=baseline)
    state = "ok" if report.ok else "warn"
    figures = [_convergence_figure(result, len(report.convergence), report.functionals)]
    if kind.is_dirichlet_process:
        figures.append(_cluster_count_figure(result))
    if kind.is_regression:
        figures.append(report_regression.regression_figure(result, baseline))
        figures.append(report_regression.gate_figure(result))
    elif kind.is_network:
        figures.append(_conditional_density_figure(result, baseline))
    else:
        figures.append(_posterior_vs_em_figure(result, baseline))
        figures.append(_shape_parameters_figure(result, baseline))
    shown = "".join(_png(fig, f"{name}: {alt}") for fig, alt in figures if fig is not None)
    seconds = result.attrs.get("wall_time_s", float("nan"))
    return (
        f"<h2 id='{html.escape(name)}'>{html.escape(name)} <small class='{state}'>"
        f"{'no problems' if report.ok else 'see the verdict'}</small></h2>"
        f"<p>{family}, {html.escape(str(settings_summary(result)))}; {method} "
        f"({html.escape(str(result.attrs.get('sampler', '')))}), {float(seconds):.1f} s.</p>"
        f"{shown}<details open><summary>Diagnostics</summary>{report._repr_html_()}</details>"
    )


def settings_summary(result: xr.DataTree) -> str:
    s = settings_of(result)
    keys = ("n_components", "truncation", "covariance", "hidden", "activation", "experts", "gating")
    return ", ".join(f"{k} {s[k]}" for k in keys if k in s)


def _convergence_figure(
    result: xr.DataTree, n_judged: int, functionals: xr.Dataset | None = None
) -> tuple[plt.Figure | None, str]:
    """Rank plots of the weights and means (NUTS, several chains), or the ELBO trace (ADVI).

    The plots flag a parameter at the level the verdict uses (1% over the ``n_judged`` parameters that
    diagnose judges), so that a red panel and the verdict say the same thing. A Dirichlet-process fit,
    judged on label-invariant quantities (``functionals``), gets their rank plots instead.
    """

    if "fit_history" in result.children and "elbo" in result["fit_history"].data_vars:
        elbo = result["fit_history"]["elbo"].values
        fig, ax = plt.subplots(figsize=(6, 2.6))
        ax.plot(elbo, lw=0.5)
        tail = elbo[len(elbo) // 2 :]
        ax.set(xlabel="step", ylabel="ELBO", ylim=(np.percentile(tail, 1) - 3 * tail.std(), elbo.max() + tail.std()))
        return fig, "ELBO history"
    posterior = result["posterior"]
    kind = kind_of(result.attrs)
    if posterior.sizes["chain"] < 2 or kind.is_network:
        return None, ""
    if kind.is_regression:
        names = ["intercepts", "coefficients"]
        coords = {"feature": posterior["feature"].values[:3]} if posterior.sizes["feature"] > 3 else {}
        return _rank_plots(result, names, coords, n_judged)
    if functionals is not None:
        names = [name for name in ("alpha", "log_likelihood", "occupied") if name in functionals]
        return _rank_plots(result, names, {}, n_judged, functionals)
    coords = {}
    location = kind.component_family.location
    names = ["weights", location] if posterior.sizes["component"] > 1 else [location]
    if kind.is_dirichlet_process:
        mean_weights = posterior["weights"].mean(("chain", "draw")).values
        coords = {"component": posterior["component"].values[np.argsort(mean_weights)[::-1][:3]]}
    # at most 4 features (and, for categorical items, the first item's own categories) keep the grid readable
    if posterior.sizes.get("feature", 0) > 4:
        coords["feature"] = posterior["feature"].values[:4]
    if "category" in posterior[location].dims:
        coords["category"] = list(observed_data_of(result).categories[0])
    return _rank_plots(result, names, coords, n_judged)


def _rank_plots(
    result: xr.DataTree, names: list[str], coords: dict, n_judged: int, draws: xr.Dataset | None = None
) -> tuple[plt.Figure, str]:
    """ArviZ's rank plots with one-line titles (two-line ones ran into the axes above), of the posterior's
    variables or of ``draws``."""
    import arviz_plots as azp

    level = rank_test_level(n_judged)
    relabelled = draws is None
    thinned = xr.DataTree.from_dict(
        {"posterior": rank_test_draws(result["posterior"].to_dataset() if relabelled else draws)}
    )
    pc = azp.plot_rank(
        thinned,
        var_names=names,
        coords=coords,
        envelope_prob=1 - level,
        backend="matplotlib",
    )
    fig = pc.viz["figure"].item()
    for ax in fig.axes:
        name, _, index = ax.get_title().partition("\n")
        if name:
            ax.set_title(f"{name}[{index}]" if index else name, fontsize=9)
        for text in ax.texts:  # "p=0.18(α=0.00)": the level rounds to zero at two decimals
            if text.get_text().startswith("p="):
                text.set_text(text.get_text().partition("(")[0].replace("p=", "p = "))
    fig.set_layout_engine("constrained")
    step = rank_test_step(result["posterior"].sizes["draw"])
    every = f"one draw in {step}, " if step > 1 else ""
    what = "after relabelling" if relabelled else "of label-invariant quantities"
    return fig, f"rank plots {what} ({every}a panel flagged at p < {level:.2g}, the verdict's level)"


def _cluster_count_figure(result: xr.DataTree) -> tuple[plt.Figure, str]:
    import bayesmix as bm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counts = bm.cluster_count(result, random_seed=0)
    shown = counts["probability"].sel(n_clusters=slice(1, 10))
    fig, ax = plt.subplots(figsize=(4.5, 2.8))
    ax.bar(shown["n_clusters"], shown, color="C0")
    ax.set(
        xlabel="occupied clusters",
        ylabel="posterior probability",
        title=f"mode {counts.attrs['mode']}, 90% interval {counts.attrs['interval_90']}",
    )
    return fig, "number of occupied clusters"


def _points(ax, x: np.ndarray, y: np.ndarray, **scatter: Any) -> None:
    """A scatter of the points, or their density in hexagonal bins (log counts) above MAX_SCATTER_POINTS."""
    if len(x) <= MAX_SCATTER_POINTS:
        ax.scatter(x, y, **scatter)
        return
    light = scatter.get("color") == "white"
    ax.hexbin(x, y, gridsize=80, bins="log", mincnt=1, cmap="Greys_r" if light else "Greys", alpha=0.6 if light else 1)


def _posterior_vs_em_figure(result: xr.DataTree, baseline: xr.Dataset | None) -> tuple[plt.Figure | None, str]:
    """What the component family calls for: count frequencies, a 1-D density, or 2-sd ellipses."""
    family = kind_of(result.attrs).component_family
    data = observed_data_of(result)
    if family.profile is not None:
        return _profile_figure(result, baseline, family.profile), "latent class profile, posterior against EM"
    if family.discrete:
        return _count_frequencies(result, data, baseline), "observed count frequencies against the posterior predictive"
    if data.n_features == 1:
        return _density_1d(result, data, baseline, family), "posterior predictive density against EM"
    if family.ellipse is None:
        return None, ""
    posterior = result["posterior"].to_dataset()
    mean_weights = posterior["weights"].mean(("chain", "draw")).values
    shown = np.flatnonzero(mean_weights >= MIN_SHOWN_WEIGHT) if len(mean_weights) > 1 else np.array([0])
    matrix = family.ellipse
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    _points(ax, data.values[:, 0], data.values[:, 1], s=5, color="0.6")
    flat = posterior.stack(sample=("chain", "draw"))
    draws = np.linspace(0, flat.sizes["sample"] - 1, 20).astype(int)
    for k in shown:
        colour = f"C{k % 10}"
        for s in draws:
            _ellipse(
                ax,
                flat["means"].isel(sample=s, component=k).values[:2],
                flat[matrix].isel(sample=s, component=k).values[:2, :2],
                colour,
                lw=0.4,
                alpha=0.35,
            )
        mean = posterior["means"].isel(component=k).mean(("chain", "draw")).values
        shape = posterior[matrix].isel(component=k).mean(("chain", "draw")).values
        _ellipse(ax, mean[:2], shape[:2, :2], colour, lw=1.6, label=f"component {k}: weight {mean_weights[k]:.2f}")
    if baseline is not None:
        for k in range(baseline.sizes["component"]):
            _ellipse(
                ax,
                baseline["means"].values[k, :2],
                baseline[matrix].values[k, :2, :2],
                "k",
                lw=1.2,
                ls="--",
                label="EM" if k == 0 else None,
            )
    what = matrix.replace("_", " ")
    ax.set(
        xlabel=data.feature_names[0],
        ylabel=data.feature_names[1],
        title=f"2-sd ellipses of the {what}: posterior mean (bold), 20 draws (thin)",
    )
    ax.legend(fontsize=7)
    return fig, f"ellipses of the {what}, posterior against EM"


def _profile_figure(result: xr.DataTree, baseline: xr.Dataset | None, name: str) -> plt.Figure:
    """The latent class profile (poLCA's and StepMix's picture): per class, the probability of each item's
    answer, posterior median with its 90% interval, EM's estimate as a dash. Binary items share one panel
    (the probability of answering 1); an item of several categories gets a panel of its own (up to 6)."""
    posterior = result["posterior"].to_dataset()
    mean_weights = posterior["weights"].mean(("chain", "draw")).values
    shown = np.flatnonzero(mean_weights >= MIN_SHOWN_WEIGHT) if len(mean_weights) > 1 else np.array([0])
    da = posterior[name]
    low, median, high = (da.quantile(q, ("chain", "draw")).values for q in (0.05, 0.5, 0.95))
    em = None if baseline is None else baseline[name].values
    feature = da.dims[3]  # (chain, draw, component, feature[, category]); a mixed table's is prefixed
    if "category" not in da.dims:
        features = [str(f) for f in da[feature].values]
        panels = [(None, features, slice(None), "probability of answering 1")]
    else:
        # the categorical items' own labels (a mixed table's other columns have none)
        categories = [labels for labels in observed_data_of(result).categories if labels]
        union = [str(c) for c in da["category"].values]
        panels = [
            (d, list(labels), [union.index(label) for label in labels], f"{da[feature].values[d]}: probability")
            for d, labels in enumerate(categories[:6])
        ]
    width = sum(max(2.6, 0.45 * len(labels) + 1.2) for _, labels, _, _ in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5.5, width), 3.6), squeeze=False, sharey=True)
    offsets = np.linspace(-0.2, 0.2, len(shown)) if len(shown) > 1 else [0.0]
    for ax, (d, labels, columns, ylabel) in zip(axes[0], panels, strict=True):
        x = np.arange(len(labels))
        for k, dx in zip(shown, offsets, strict=True):
            pick = (k, columns) if d is None else (k, d, columns)
            ax.errorbar(
                x + dx,
                median[pick],
                yerr=[median[pick] - low[pick], high[pick] - median[pick]],
                fmt="o-",
                ms=4,
                lw=1,
                color=f"C{k % 10}",
                label=f"class {k}: weight {mean_weights[k]:.2f}",
            )
            if em is not None and k < em.shape[0]:
                ax.plot(x + dx, em[pick], "_", color="k", ms=10, mew=1.5, label="EM" if k == shown[0] else None)
        rotate = len(labels) > 8
        ax.set(xticks=x, ylim=(-0.02, 1.02), ylabel=ylabel)
        ax.set_xticklabels(labels, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("latent class profile: posterior median and 90% interval", fontsize=9)
    fig.tight_layout()
    return fig


def _count_frequencies(result: xr.DataTree, data, baseline: xr.Dataset | None, n_replicates: int = 100) -> plt.Figure:
    """Per feature: the observed frequency of each count against replicated data sets of the same size.

    Each replicate draws the data set's size from the mixture at one posterior
    draw (a posterior predictive check, as bayesplot's ``ppc_bars``); the
    figure shows their median and 90% interval per count, and EM's
    probabilities where a baseline is given.
    """
    from bayesmix._result import mixture_parameters
    from bayesmix.components._mixture_density import mixture_log_density

    family = kind_of(result.attrs).component_family
    weights, *params = mixture_parameters(result["posterior"].to_dataset(), family)
    rng = np.random.default_rng(0)
    chosen = np.linspace(0, weights.shape[0] - 1, min(n_replicates, weights.shape[0])).astype(int)
    observed = data.values.astype(int)
    top = np.quantile(observed, 0.99, axis=0).astype(int) + 1  # counts above are pooled in the last bar
    replicated = []
    for s in chosen:
        component = rng.choice(weights.shape[1], size=data.n_obs, p=weights[s] / weights[s].sum())
        replicated.append(family.sample(rng, *(p[s, component] for p in params)).astype(int))
    shown = data.feature_names[:4]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3), squeeze=False)
    for j, (ax, feature) in enumerate(zip(axes[0], shown, strict=False)):
        values = np.arange(top[j] + 1)

        def frequencies(x, j=j, values=values):
            pooled = np.minimum(x[:, j], top[j])
            return np.bincount(pooled, minlength=len(values))[: len(values)] / len(x)

        ax.bar(values, frequencies(observed), color="0.8", label="observed")
        rep = np.array([frequencies(x) for x in replicated])
        low, median, high = np.quantile(rep, [0.05, 0.5, 0.95], axis=0)
        ax.errorbar(
            values,
            median,
            yerr=[median - low, high - median],
            fmt="o",
            ms=3,
            color="C0",
            label="posterior predictive (90%)",
        )
        if baseline is not None:
            em_params = [baseline[name].values for name in family.parameters]
            # The families with discrete data have independent features: the marginal of feature j
            # is the mixture of its own parameters, so the other columns are left out.
            marginal = [p[:, j : j + 1] for p in em_params]
            em_pmf = np.exp(
                mixture_log_density(family, values[:, None].astype(float), baseline["weights"].values, *marginal)
            )
            em_pmf[-1] = max(0.0, 1 - em_pmf[:-1].sum())  # the last bar pools the tail
            ax.plot(values, em_pmf, "k_", ms=12, mew=1.5, label="EM")
        ax.set(xlabel=f"{feature} (last bar: {top[j]} or more)", ylabel="frequency")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _shape_parameters_figure(result: xr.DataTree, baseline: xr.Dataset | None) -> tuple[plt.Figure | None, str]:
    """Posterior densities of the parameters that are neither location nor ellipse (degrees of freedom,
    dispersions), per component, with EM's estimates."""
    family = kind_of(result.attrs).component_family
    names = [n for n in family.parameters if n not in (family.location, family.ellipse)]
    if not names:
        return None, ""
    posterior = result["posterior"].to_dataset()
    mean_weights = posterior["weights"].mean(("chain", "draw")).values
    shown = np.flatnonzero(mean_weights >= MIN_SHOWN_WEIGHT) if len(mean_weights) > 1 else np.array([0])
    panels = []
    for name in names:
        extra = [d for d in posterior[name].dims if d not in ("chain", "draw", "component")]
        if len(extra) > 1:  # matrices and answer tables are drawn elsewhere (or not at all)
            continue
        labels = posterior[extra[0]].values[:3] if extra else [None]
        panels.extend((name, label) for label in labels)
    if not panels:
        return None, ""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 2.8), squeeze=False)
    for ax, (name, label) in zip(axes[0], panels, strict=True):
        da = posterior[name]
        if label is not None:
            da = da.sel({da.dims[-1]: label})
        for k in shown:
            values = da.isel(component=k).values.ravel()
            ax.hist(
                np.log10(values), bins=40, density=True, histtype="step", color=f"C{k % 10}", label=f"component {k}"
            )
            if baseline is not None and k < baseline.sizes["component"]:
                em_value = baseline[name].isel(component=k)
                em_value = em_value.sel({em_value.dims[-1]: label}) if label is not None else em_value
                ax.axvline(np.log10(float(em_value)), color=f"C{k % 10}", ls="--", lw=1)
        ax.set(
            xlabel=f"log10 {name.replace('_', ' ')}" + (f" ({label})" if label is not None else ""), ylabel="density"
        )
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        "posterior per component (dashed: EM)" if baseline is not None else "posterior per component", fontsize=9
    )
    fig.tight_layout()
    return fig, "posterior of the components' shape parameters"


def _ellipse(ax, mean, cov, colour, **kwargs) -> None:
    values, vectors = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    width, height = 4 * np.sqrt(np.maximum(values[::-1], 0))
    ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False, color=colour, **kwargs))


def _density_1d(result: xr.DataTree, data, baseline: xr.Dataset | None, family) -> plt.Figure:
    import bayesmix as bm
    from bayesmix.components._mixture_density import mixture_log_density

    x = data.values[:, 0]
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 300)
    frame = pd.DataFrame({data.feature_names[0]: grid})
    scores = bm.score_samples(result, frame)
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.hist(x, bins=30, density=True, color="0.85")
    ax.plot(grid, np.exp(scores["log_density"]), color="C0", label="posterior predictive")
    ax.fill_between(
        grid,
        np.exp(scores["log_density_hdi"].sel(ci_bound="lower")),
        np.exp(scores["log_density_hdi"].sel(ci_bound="upper")),
        color="C0",
        alpha=0.25,
    )
    if baseline is not None:
        em_params = [baseline[name].values for name in family.parameters]
        em_density = np.exp(mixture_log_density(family, grid[:, None], baseline["weights"].values, *em_params))
        ax.plot(grid, em_density, "k--", lw=1, label="EM")
    ax.set(xlabel=data.feature_names[0], ylabel="density")
    ax.legend(fontsize=8)
    return fig


def _load_saved(path: Path) -> xr.DataTree:
    """A saved result, or an error that names the file and what to do about it."""
    import bayesmix as bm

    try:
        return bm.load(path)
    except (ValueError, OSError) as err:
        raise ValueError(
            f"{path} cannot be read ({err}); run `bayesmix run SPEC --out {path.parent}` again: it moves the "
            "file aside (as .nc.unreadable) and fits that candidate afresh."
        ) from None


def _conditional_density_figure(result: xr.DataTree, baseline: xr.DataTree | None) -> tuple[plt.Figure | None, str]:
    import bayesmix as bm
    from bayesmix.models.mdn import info_from_result

    info = info_from_result(result)
    y = info.extras["y"]
    if info.data.n_features != 1 or y.n_features != 1:
        return None, ""
    x, t = info.data.values[:, 0], y.values[:, 0]
    x_grid = np.linspace(x.min(), x.max(), 100)
    y_grid = np.linspace(t.min() - 0.15 * np.ptp(t), t.max() + 0.15 * np.ptp(t), 120)
    density = bm.predict_density(result, x_grid, y_grid, max_draws=200)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.pcolormesh(
        x_grid, y_grid, density.values.T, cmap="viridis", shading="auto", vmax=float(np.quantile(density.values, 0.995))
    )
    _points(ax, x, t, s=4, color="white", alpha=0.7)
    if baseline is not None:
        moments = bm.predict_components(baseline, x_grid)
        for k in moments["component"].values:
            ax.plot(x_grid, moments["means"].sel(component=k).values[:, 0], "w--", lw=0.8)
    ax.set(
        xlabel=info.data.feature_names[0],
        ylabel=y.feature_names[0],
        title="posterior predictive density of y given x" + (" (dashed: MAP means)" if baseline else ""),
    )
    return fig, "conditional density heat map"
