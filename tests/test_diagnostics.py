import re
import warnings

import numpy as np
import pytest
import xarray as xr

import bayesmix as bm
from bayesmix._result import family_of
from bayesmix.diagnostics.dp_diagnostics import component_use


@pytest.fixture(scope="module")
def faithful_relabelled(faithful_fit, faithful_em):
    return bm.relabel(faithful_fit, reference=faithful_em)


def test_clean_fit_gets_a_clean_verdict(faithful_relabelled, faithful_em):
    diag = bm.diagnose(faithful_relabelled, baseline=faithful_em)
    assert diag.ok, diag.verdict
    assert diag.verdict[0].startswith("No problems: every R-hat <= 1.01")
    assert diag.notes == []
    assert diag.adjusted_rand_index == pytest.approx(1.0, abs=0.02)
    assert (diag.convergence["r_hat"] <= 1.01).all()
    assert {"mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk", "ess_tail", "mcse_mean"} <= set(diag.convergence)
    # The baseline table holds EM's own numbers beside the posterior's.
    assert diag.baseline.loc["means[0, waiting]", "em"] == pytest.approx(float(faithful_em["means"][0, 1]))
    assert diag.baseline["em_in_hdi"].all()
    # Symmetric covariances are reported once (lower triangle).
    assert "covariances[0, eruptions, waiting]" not in diag.convergence.index
    assert "covariances[0, waiting, eruptions]" in diag.convergence.index
    assert diag.log_likelihood["fraction_below_em"] > 0.95  # EM maximizes the likelihood


def test_unrelabelled_input_is_relabelled_and_said(faithful_fit, faithful_em):
    diag = bm.diagnose(faithful_fit, baseline=faithful_em)
    assert "relabelled it first" in diag.notes[0]
    assert diag.ok


def test_genuine_multimodality_is_reported_not_hidden(faithful_relabelled):
    """Chains 0 and 1 sit in another mode of means[1, waiting]: relabelling cannot fix that."""
    broken = faithful_relabelled.copy()
    post = broken["posterior"].to_dataset()
    shift = xr.zeros_like(post["means"])
    shift.loc[{"chain": [0, 1], "component": 1, "feature": "waiting"}] = 5.0
    post["means"] = post["means"] + shift
    broken["posterior"] = xr.DataTree(post)
    diag = bm.diagnose(broken)
    assert not diag.ok
    assert any(
        v.startswith("R-hat")
        and "on means[1, waiting]: 2 of 4 chains disagree after relabelling" in v
        and "multimodal beyond label switching" in v
        for v in diag.verdict
    ), diag.verdict


def test_divergences_and_em_disagreement_are_reported(faithful_relabelled, faithful_em):
    broken = faithful_relabelled.copy()
    stats = broken["sample_stats"].to_dataset()
    diverging = stats["diverging"].values.copy()
    diverging[0, :40] = True
    stats["diverging"] = (("chain", "draw"), diverging)
    broken["sample_stats"] = xr.DataTree(stats)
    moved_em = faithful_em.copy()
    moved_em["means"] = moved_em["means"] + xr.DataArray([[0.0, 10.0], [0.0, 0.0]], dims=("component", "feature"))
    diag = bm.diagnose(broken, baseline=moved_em)
    text = " ".join(diag.verdict)
    assert "40 divergent transitions (1.0% of draws)" in text
    assert "EM lies outside the 94% HDI for 1 of 12 parameters, worst means[0, waiting]" in text
    assert diag.sampler.loc[0, "divergences"] == 40


def test_text_and_html_reprs(faithful_relabelled, faithful_em):
    diag = bm.diagnose(faithful_relabelled, baseline=faithful_em)
    text = str(diag)
    assert text.startswith("Verdict:") and "Posterior against EM" in text and "Adjusted Rand index" in text
    page = diag._repr_html_()
    assert page.count("<table") == 3 and "Verdict" in page


def test_advi_results_are_diagnosed_honestly(faithful, faithful_em):
    result = bm.fit(
        bm.models.gmm(faithful, 2), method="advi", draws=300, n_steps=5000, random_seed=3, progressbar=False
    )
    diag = bm.diagnose(result, baseline=faithful_em)
    assert any("Variational fit" in v for v in diag.verdict)
    assert "r_hat" not in diag.convergence


def test_diagnose_bad_baseline(faithful_relabelled, faithful):
    with pytest.raises(TypeError, match="must be an EM result"):
        bm.diagnose(faithful_relabelled, baseline={"means": 1})
    with pytest.raises(ValueError, match="has 3 components but the result has 2"):
        bm.diagnose(faithful_relabelled, baseline=bm.em(faithful, 3, random_seed=0))
    with pytest.raises(TypeError, match=r"must be an xarray\.DataTree"):
        bm.diagnose(np.zeros(3))


def test_a_tied_covariance_is_listed_once_and_one_component_has_nothing_to_relabel(faithful):
    """The report's tables: a covariance shared by the components is one parameter, not K copies of it."""
    tied = bm.fit(
        bm.models.gmm(faithful, 2, covariance="tied"), draws=200, tune=200, chains=2, random_seed=0, progressbar=False
    )
    diag = bm.diagnose(tied, baseline=bm.em(faithful, 2, covariance="tied", random_seed=0))
    for table in (diag.convergence, diag.baseline):
        covariances = [label for label in table.index if label.startswith("covariances")]
        assert covariances == [
            "covariances[0, eruptions, eruptions]",
            "covariances[0, waiting, eruptions]",
            "covariances[0, waiting, waiting]",
        ]
    single = bm.fit(bm.models.gmm(faithful, 1), draws=100, tune=100, chains=2, random_seed=0, progressbar=False)
    assert bm.diagnose(single).relabel_summary == "nothing to relabel: one component, 200 draws"


def test_the_verdict_includes_the_rank_plots_test_and_the_plots_flag_at_its_level(faithful_fit):
    """One chain's draws of one mean moved by 0.6 posterior sd: the rank test flags that parameter
    alone, in the verdict and in the rank plots, at one level (1% over the parameters judged)."""
    from bayesmix.cli.report import _convergence_figure
    from bayesmix.diagnostics.mixture_diagnostics import rank_test_level

    healthy = bm.relabel(faithful_fit)
    posterior = healthy["posterior"].to_dataset()
    shift = 0.6 * float(posterior["means"].sel(component=0, feature="waiting").std())
    moved = posterior.copy(deep=True)
    moved["means"].loc[{"chain": 0, "component": 0, "feature": "waiting"}] += shift
    shifted = healthy.copy()
    shifted["posterior"] = xr.DataTree(moved)
    diag = bm.diagnose(shifted)
    level = rank_test_level(len(diag.convergence))
    flagged = diag.convergence.index[diag.convergence["rank_p"] < level].tolist()
    assert flagged == ["means[0, waiting]"]
    assert any(line.startswith("The rank plots flag 1 parameter(s), worst means[0, waiting]") for line in diag.verdict)
    assert (bm.diagnose(healthy).convergence["rank_p"] >= level).all()

    figure, caption = _convergence_figure(shifted, len(diag.convergence))
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert "means[0, waiting]" in titles and not any("\n" in t for t in titles)  # one line: no overlap
    assert f"{level:.2g}" in caption


def _dp_fit(X, seed, **model_options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bm.models.dp_gmm(X, truncation=8, **model_options)
        return bm.fit(model, draws=300, tune=300, chains=2, random_seed=seed, progressbar=False)


def test_a_dp_fit_is_judged_on_label_invariant_quantities_not_on_empty_components(faithful):
    result = _dp_fit(faithful, 1)
    report = bm.diagnose(result)
    judged = {label.partition("[")[0] for label in report.convergence.index}
    assert judged == {"alpha", "log_likelihood", "occupied", "log_density"}
    assert report.convergence.loc["occupied", "mean"] >= 2
    # Components listed are those holding an observation in at least half of the drawn partitions.
    relabelled = bm.relabel(result)
    used = component_use(relabelled, family_of(relabelled)).mean(axis=(0, 1))
    listed = {int(label.split("[")[1].split(",")[0].rstrip("]")) for label in report.components.index}
    assert listed == set(np.flatnonzero(used >= 0.5)) and len(listed) < 8
    # the verdict names no empty component (a divergence is located among the components holding data)
    named = {
        int(k) for line in report.verdict for k in re.findall(r"(?:weights|means|covariances|scales)\[(\d+)", line)
    }
    assert named <= listed
    assert "Components holding data" in str(report) and "Components holding data" in report._repr_html_()


def test_a_dp_fit_whose_chains_disagree_on_the_partition_is_not_called_converged(faithful):
    """Two chains at a fixed concentration of 0.01 and two at 20: different numbers of occupied clusters."""
    few, many = _dp_fit(faithful, 2, alpha=0.01), _dp_fit(faithful, 3, alpha=20.0)
    assert "alpha" not in few["posterior"]
    groups = {}
    for group in ("posterior", "log_likelihood", "sample_stats"):
        a, b = few[group].to_dataset(), many[group].to_dataset()
        groups[group] = xr.concat([a, b.assign_coords(chain=b["chain"] + a.sizes["chain"])], dim="chain")
    mixed = xr.DataTree.from_dict({**{k: few[k].to_dataset() for k in few.children}, **groups})
    mixed.attrs = dict(few.attrs)
    report = bm.diagnose(mixed)
    assert not report.ok
    flagged = " ".join(report.verdict)
    assert "occupied" in flagged or "log_likelihood" in flagged
    assert "2 of 4 chains settled on another partition" in flagged
