"""The report: nine sections from a run folder, summary.json, figures as PNG and SVG, a real
browser that loads every figure with nothing running off the page, and missing pieces named."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from cxr_isi.cli.main import app  # noqa: E402
from cxr_isi.errors import CxrIsiError  # noqa: E402
from cxr_isi.report.browser import check_page, find_chromium, screenshot  # noqa: E402
from cxr_isi.report.html import SECTIONS  # noqa: E402
from cxr_isi.report.html import write_report as render_report  # noqa: E402
from cxr_isi.study.runner import run_experiment  # noqa: E402
from cxr_isi.study.summary import write_summary  # noqa: E402
from cxr_isi.verdict.dataset import (  # noqa: E402
    CHANCE_AUC,
    KINDS,
    NONE,
    PARTIAL,
    SHORTCUT,
    SHORTCUT_AUC,
    verdict_for,
)
from tests.grids import tiny, write_config  # noqa: E402


def write_report(run_dir, **kwargs) -> dict:
    """What ``cxr-isi report`` does: decide the verdicts (``summary.json``), then render."""
    write_summary(run_dir)
    return render_report(run_dir, **kwargs)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    cfg = tiny(explain={"enabled": True, "methods": ["gradcam", "lime"], "n_images": 4, "lime_images": 2,
                        "lime_samples": 60})
    cfg["cross"] = [{"train": "isi", "test": "bal"}, {"train": "bal", "test": "isi"}]
    cfg["fixed_box"] = {"enabled": True, "variants": ["lungs_boxed_out"]}
    cfg["probes"] = {"enabled": True, "swap_pairs": 6, "acquisition_block": 8}
    run_experiment(write_config(root / "tiny.yaml", cfg), root / "run", progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def report(run_dir):
    return write_report(run_dir)


def test_report_has_every_section_and_embeds_its_figures(run_dir, report):
    page = Path(report["report"]).read_text()
    for i, title in enumerate(SECTIONS):
        assert f'id="s{i + 1}"' in page and title in page
    srcs = [s.split('"')[0] for s in page.split('<img src="')[1:]]
    assert len(srcs) >= 8 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in page and "https://" not in page  # opens offline
    pngs = sorted((run_dir / "figures").glob("*.png"))
    assert pngs and all(p.with_suffix(".svg").is_file() for p in pngs)
    assert report["missing"] == []


def test_summary_holds_the_verdict_numbers(run_dir, report):
    summary = json.loads((run_dir / "summary.json").read_text())
    r = pd.read_csv(run_dir / "cv.csv")
    res = pd.read_csv(run_dir / "results.csv")
    for name in ("isi", "bal"):
        d = summary["datasets"][name]
        # the deciding number is the single split's boxed-out AUC (the tiny grid cross-validates
        # original only), with its DeLong interval from results.csv
        row = res[(res["train_dataset"] == name) & (res["test_dataset"] == name) & (res["protocol"] == "split")
                  & (res["variant"] == "lungs_boxed_out")].iloc[0]
        assert d["auc_lungs_boxed_out"] == pytest.approx(row["auc"]) and d["auc_from"] == "test split"
        assert d["auc_lungs_boxed_out_ci"] == pytest.approx([row["auc_ci_low"], row["auc_ci_high"]])
        reaches_chance = row["auc"] > 0.65 and row["auc_ci_low"] <= 0.55  # too few images to tell
        assert d["verdict"] == ("inconclusive" if reaches_chance else SHORTCUT if row["auc"] >= 0.8
                                else NONE if row["auc"] <= 0.65 else PARTIAL)
        assert {"auc_original", "auc_lungs_boxed_out", "sentence", "audit_verdict", "verdict_kind"} <= set(d)
        assert f"{d['auc_lungs_boxed_out']:.2f}" in d["strength"]
        assert d["verdict_kind"] in KINDS and d["verdict_kind"] in d["sentence"]
        low, high = d["auc_lungs_boxed_out_ci"]
        assert low <= d["auc_lungs_boxed_out"] <= high  # every AUC carries its interval
        probes = {e["probe"] for e in d["evidence"]}
        assert {"lungs_boxed_out", "fixed_box", "geometry", "lung_swap", "acquisition", "source"} <= probes
    probes = pd.read_csv(run_dir / "probes.csv")
    assert set(probes["dataset"]) == {"isi", "bal"} and probes["sentence"].notna().all()
    # the original's deciding AUC is its cross-validation mean
    row = r[(r["train_dataset"] == "isi") & (r["test_dataset"] == "isi") & (r["variant"] == "original")]
    assert summary["datasets"]["isi"]["auc_original"] == pytest.approx(row["auc_mean"].iloc[0])
    assert {(c["train"], c["test"]) for c in summary["cross"]} == {("isi", "bal"), ("bal", "isi")}


def test_verdict_thresholds():
    assert verdict_for(0.99) == SHORTCUT and verdict_for(SHORTCUT_AUC) == SHORTCUT
    assert verdict_for(0.5) == NONE and verdict_for(CHANCE_AUC) == NONE
    assert verdict_for(0.72) == PARTIAL
    assert verdict_for(float("nan")) == "incomplete"


def test_a_run_with_missing_pieces_still_reports(run_dir, tmp_path):
    part = tmp_path / "part"
    shutil.copytree(run_dir, part, ignore=shutil.ignore_patterns("figures", "report.html", "summary.json"))
    shutil.rmtree(part / "explain")
    for f in ("lung_attention.csv", "cv.csv", "delong.csv", "run.json"):
        (part / f).unlink()
    r = pd.read_csv(part / "results.csv")
    r = r[r["protocol"] == "split"]  # the run's tables as a run stopped before cross-validation wrote them
    r.to_csv(part / "results.csv", index=False)
    r.to_parquet(part / "results.parquet", index=False)
    result = write_report(part)
    missing = " ".join(result["missing"])
    assert "No cross-validation" in missing and "No explanations" in missing
    page = Path(result["report"]).read_text()
    assert page.count('<section id="s') == len(SECTIONS) and "No explanations in this run" in page
    assert result["summary"]["datasets"]["isi"]["auc_from"] == "test split"


def test_the_run_decides_and_the_report_renders_what_is_on_disk(run_dir, tmp_path):
    """``cxr-isi run`` writes summary.json as its last stage; the report shows what that file
    says (it decides nothing), and without it is one line naming the file."""
    part = tmp_path / "rendered"
    shutil.copytree(run_dir, part, ignore=shutil.ignore_patterns("figures", "report.html"))
    summary = json.loads((part / "summary.json").read_text())
    assert summary["datasets"]["isi"]["verdict_kind"] in KINDS  # written by the run, before any report
    summary["datasets"]["isi"]["verdict_kind"] = "a verdict only the file holds"
    (part / "summary.json").write_text(json.dumps(summary))
    assert "a verdict only the file holds" in Path(render_report(part)["report"]).read_text()
    (part / "summary.json").unlink()
    with pytest.raises(CxrIsiError, match="summary.json: missing or unreadable"):
        render_report(part)
    assert not (part / "summary.json").exists()


def test_not_a_run_folder_is_one_line(tmp_path):
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2
    assert "not a run folder" in res.output and "Traceback" not in res.output


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium here (.ci/run installs Debian's chromium)")
@pytest.mark.parametrize("width", [1280, 760])
def test_report_in_a_real_browser(report, width, tmp_path):
    seen = check_page(report["report"], width=width)
    assert seen["broken"] == 0 and seen["images"] >= 8
    assert seen["overflowing"] == [] and seen["page_width"] <= seen["window_width"]
    assert seen["wrapped_cells"] == [], seen["wrapped_cells"]  # no number or name broken inside itself
    if width >= 1280:
        assert seen["scrolled_tables"] == 0, seen["scrolled_heads"]  # no table scrolls sideways on a laptop
    assert len(seen["sections"]) == len(SECTIONS)
    shot = screenshot(report["report"], tmp_path / "first_screen.png", width=width, height=800)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (800, width) and pixels.std() > 10  # text and colour, not a blank page


def test_report_shows_what_the_model_reads(report):
    page = Path(report["report"]).read_text()
    assert "What the model reads" in page and "lungs boxed out, fixed box" in page
    assert "The verdict names what the model reads" in page  # the rule is written in the report


def test_report_command_prints_the_verdicts(run_dir):
    res = CliRunner().invoke(app, ["report", str(run_dir)])
    assert res.exit_code == 0, res.output
    assert "Verdicts" in res.output and "report.html" in res.output
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["name"] == "tiny"


def test_a_balanced_dataset_with_a_shortcut_names_its_confounders():
    from cxr_isi.verdict.dataset import confounder_note

    audit = {"verdict": "balanced", "acquisition": [
        {"property": "orig_h", "auc": 0.06, "flagged": True},
        {"property": "view", "auc": 0.52, "flagged": False}]}
    note = confounder_note(audit, SHORTCUT)
    assert "orig_h (AUC 0.94)" in note and "view" not in note
    assert confounder_note(audit, NONE) == ""
    assert "no shortcut" in confounder_note({"verdict": "severely imbalanced", "acquisition": []}, NONE)


def test_tables_print_folds_as_integers_and_missing_as_a_dash():
    from cxr_isi.report.blocks import table as _table

    frame = pd.DataFrame({"fold": pd.array([0, 1, None], dtype="Int64"), "p_value": [0.5, np.nan, 0.01]})
    page = _table(frame, 4)
    assert "<td>0</td>" in page and "<td>1</td>" in page and "0.0000" not in page and page.count("–") == 2


def test_text_from_the_config_is_escaped(run_dir, tmp_path):
    """A run named with markup: the page shows the text, the browser never runs it."""
    part = tmp_path / "hostile"
    shutil.copytree(run_dir, part, ignore=shutil.ignore_patterns("figures", "report.html", "summary.json"))
    cfg = json.loads((part / "config.json").read_text())
    cfg["name"] = "<script>alert(1)</script>"
    cfg["datasets"][0]["title"] = "isi <b>bold</b> & co"
    (part / "config.json").write_text(json.dumps(cfg))
    page = Path(write_report(part)["report"]).read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page and "isi &lt;b&gt;bold&lt;/b&gt; &amp; co" in page


def test_a_run_killed_before_its_tables_reports_its_finished_jobs(run_dir, tmp_path):
    part = tmp_path / "killed"
    shutil.copytree(run_dir, part, ignore=shutil.ignore_patterns("figures", "report.html", "summary.json",
                                                                  "results.*", "cv.csv", "delong.csv"))
    result = write_report(part)
    assert not any("No finished jobs" in m for m in result["missing"])
    page = Path(result["report"]).read_text()
    assert "No finished jobs" not in page and "ROC per dataset" in page
    assert result["summary"]["datasets"]["isi"]["auc_from"] == "test split"


def _fake_sweep(boxed: dict[float, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, audits = [], []
    for level, auc in boxed.items():
        for fold, jitter in enumerate((-0.02, 0.0, 0.02)):
            for variant, test, value in (("lungs_boxed_out", "own", auc), ("original", "own", 0.95),
                                         ("original", "balanced", 0.9 - (level - 0.5))):
                rows.append({"axis": "majority_share", "level": level, "variant": variant, "test": test,
                             "fold": fold, "auc": min(1.0, value + jitter)})
        audits.append({"axis": "majority_share", "level": level, "cramers_v": 2 * (level - 0.5),
                       "source_only_auc": level, "audit_verdict": "x"})
    return pd.DataFrame(rows), pd.DataFrame(audits)


def test_sweep_crossing_is_where_the_verdict_stays_shortcut():
    from cxr_isi.studies.curves import crossing
    from cxr_isi.studies.sweep import sweep_summary

    sweep, audit = _fake_sweep({0.5: 0.5, 0.6: 0.62, 0.7: 0.85, 0.8: 0.7, 0.9: 0.9, 1.0: 0.99})
    summary = sweep_summary(sweep, audit)
    assert crossing(summary, "majority_share") == 0.9  # 0.7 crosses, but 0.8 falls back
    row = summary.set_index("level").loc[1.0]
    assert row["lungs_boxed_out_auc"] == pytest.approx(0.99 - 0.01 / 3, abs=1e-9)  # 1.01 clipped to 1
    assert row["lungs_boxed_out_ci_low"] < row["lungs_boxed_out_auc"] <= row["lungs_boxed_out_ci_high"]
    flat, audit = _fake_sweep({0.5: 0.5, 1.0: 0.7})
    assert crossing(sweep_summary(flat, audit), "majority_share") is None


def test_report_scores_explanations_against_the_truth_and_shows_a_sweep(run_dir, tmp_path):
    import shutil

    from cxr_isi.report.sweep import write_sweep
    from cxr_isi.studies.sweep import write_sweep_summary

    truth = pd.read_csv(run_dir / "explain_truth.csv")
    assert {"lungs", "lesion", "marker", "border", "fingerprint"} <= set(truth["region"])
    assert truth["mass"].dropna().between(0, 1).all() and truth["area"].between(0, 1).all()
    sanity = pd.read_csv(run_dir / "explain_sanity.csv")
    assert set(sanity["method"]) == {"gradcam", "lime"} and sanity["rank_correlation"].dropna().between(-1, 1).all()
    separation = pd.read_csv(run_dir / "explain_separation.csv")
    assert set(separation["more_in"]) == {"isi", "bal"} and set(separation["region"]) == {"fingerprint", "lesion"}
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    _, figure, sentences = write_sweep(sweep_dir, write_sweep_summary(sweep_dir, *_fake_sweep({0.5: 0.5, 0.75: 0.7,
                                                                                             1.0: 0.98})))
    assert figure.is_file() and "turns shortcut" in sentences[0] and "at 1 " in sentences[0]
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    page = Path(write_report(copy, sweep_dir=sweep_dir)["report"]).read_text()
    for words in ("Explanations against the truth", "Sanity check: model randomisation",
                  "How much imbalance does it take?", "turns shortcut"):
        assert words in page


def test_each_explanation_caption_says_its_own_method_and_image_sets_read_in_words(report):
    """Every explanation figure's caption ended with LIME's legend, under Grad-CAM too."""
    import re

    page = Path(report["report"]).read_text()
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, re.S)
    gradcam = [c for c in captions if c.startswith("Grad-CAM on")]
    lime = [c for c in captions if c.startswith("LIME on")]
    assert gradcam and lime
    assert all("superpixels" not in c and "gradient" in c for c in gradcam)
    assert all("superpixels" in c for c in lime)


def test_the_explanations_answer_in_compact_tables_and_link_every_row(report, run_dir):
    """The explanations section printed every CSV row under raw names (mass_ci_low, than_in);
    now one row per explainer and model, readable headers, and the full tables linked."""
    import re

    page = Path(report["report"]).read_text()
    section = page[page.index('id="s8"'):page.index('id="s9"')]
    for raw in ("mass_ci_low", "than_in", "n_empty", "inside_share"):
        assert raw not in section, raw
    heads = re.findall(r"<th>(.*?)</th>", section)
    assert "explainer" in heads and "on the source marks" in heads and "on the lesions" in heads
    truth = pd.read_csv(run_dir / "explain_truth.csv")
    table = next(t for t in section.split("<table")[1:] if "<th>explainer</th>" in t)
    rows = table.split("<tbody>")[1].count("<tr>")
    assert rows == truth.groupby(["method", "train_dataset", "test_dataset"]).ngroups < len(truth) / 4
    links = re.findall(r'<a href="([^"]+)">', section)
    assert "explain_truth.csv" in links and all((run_dir / a).is_file() for a in links)


def test_constant_acquisition_properties_are_one_sentence_not_an_empty_table(report, run_dir):
    audit = json.loads((run_dir / "datasets" / "isi" / "audit.json").read_text())
    assert all(p.get("note") == "constant" for p in audit["acquisition"])  # phantoms: one size, one format
    page = Path(report["report"]).read_text()
    assert "Every acquisition property read is the same for all images" in page
    assert "how well each alone predicts the label" not in page  # the header of a table with no rows


def test_every_image_set_curve_has_its_own_look_and_a_name_in_words():
    from cxr_isi.lungs.hideseek import image_set_title
    from cxr_isi.report.figures import set_style

    sets = ["original", "lungs_isolated", "lungs_framed", "lungs_removed", "lungs_boxed_out",
            "lungs_boxed_out_fixed_box", "lungs_framed_fixed_box", "lungs_boxed_out_fixed_box_blocks16"]
    taken: set[str] = set()
    looks = [tuple(set_style(s, taken).values()) for s in sets]
    assert len(set(looks)) == len(sets)  # no two curves of a panel alike (colour and line style)
    assert set_style("lungs_boxed_out_fixed_box")["ls"] == "--" and set_style(sets[-1])["ls"] == ":"
    assert image_set_title(sets[-1]) == "lungs boxed out, fixed box, 16-px tiles shuffled"
    assert all("_" not in image_set_title(s) for s in sets)
