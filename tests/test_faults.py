"""Faults a hostile-but-honest user hits: each gets one line naming the file and the problem,
and nothing already computed is lost."""

import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxr_isi.cli.main import app
from cxr_isi.data import Manifest
from cxr_isi.errors import CxrIsiError, ManifestError
from tests.conftest import Payload, gradient, write_png

runner = CliRunner()


@pytest.fixture
def toy(tmp_path):
    rows = []
    for i in range(40):
        write_png(tmp_path / f"img/{i}.png", gradient(32, 30, seed=i))
        rows.append({"path": f"img/{i}.png", "label": "covid" if (i // 4) % 2 else "normal", "source": f"s{i % 4}",
                     "patient_id": f"p{i}"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    return tmp_path


def _one_line_error(r, *words):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "error:" in r.output, r.output
    text = " ".join(r.output[r.output.index("error:"):].split())  # the error ends the output (what came
    # before it, e.g. the audit's tables, was computed and shown)
    for w in words:
        assert w in text, (w, r.output)


def test_duplicate_paths_name_the_pair(toy):
    m = pd.read_csv(toy / "m.csv")
    m.loc[40] = m.loc[0]  # row 41 repeats row 1, row 2 is unique
    m.to_csv(toy / "dup.csv", index=False)
    with pytest.raises(ManifestError, match=r"rows 1 and 41: duplicate path"):
        Manifest.read(toy / "dup.csv")


def test_a_positive_label_that_matches_nothing_is_named(toy):
    r = runner.invoke(app, ["audit", str(toy / "m.csv"), "-p", "COVID", "--no-files"])
    _one_line_error(r, "['COVID']", "covid", "case-sensitive")


def test_two_labels_with_a_conventional_negative_need_no_option(toy):
    r = runner.invoke(app, ["audit", str(toy / "m.csv"), "--no-files", "--json", str(toy / "a.json")])
    assert r.exit_code == 0, r.output
    assert json.loads((toy / "a.json").read_text())["label_mapping"] == {"positive": ["covid"], "negative": ["normal"]}


# every command that writes, with its output option and whether that takes a file or a folder
WRITERS = [
    (["audit", "M", "--no-files", "--json"], "file"), (["balance", "M", "-p", "covid", "--out"], "file"),
    (["duplicates", "M", "--json"], "file"), (["duplicates", "M", "--csv"], "file"),
    (["split", "M", "--out"], "file"), (["import", "kermany", "M", "--out"], "file"),
    (["lungs", "train", "M", "--out"], "folder"), (["lungs", "eval", "M", "--json"], "file"),
    (["lungs", "segment", "M", "--out"], "folder"), (["hideseek", "M", "--out"], "folder"),
    (["hideseek", "M", "--out", "fresh", "--figure"], "file"), (["train", "-m", "M", "--out"], "folder"),
    (["predict", "--checkpoint", "M", "-m", "M", "--out"], "file"),
    (["explain", "--checkpoint", "M", "--manifest", "M", "--out"], "folder"),
    (["synth", "--out"], "folder"), (["run", "M", "--out"], "folder"), (["demo", "--out"], "folder"),
]


@pytest.mark.parametrize("args, kind", WRITERS, ids=lambda a: " ".join(a) if isinstance(a, list) else a)
def test_output_path_mistakes_are_one_line(toy, args, kind):
    """Each writing command, its output a file where a folder is wanted (or the reverse) and under
    a file: exit 2, one line naming the path, before any work and with nothing written."""
    (toy / "a_folder").mkdir()
    (toy / "a_file").write_text("x")
    args = [str(toy / "m.csv") if a == "M" else str(toy / a) if a == "fresh" else a for a in args]
    wrong, words = (("a_file", "is a file, not a folder") if kind == "folder" else
                    ("a_folder", "is a folder, not a file"))
    before = sorted(toy.rglob("*"))
    for where, why in ((wrong, words), ("a_file/under", "a part of this path is a file")):
        _one_line_error(runner.invoke(app, [*args, str(toy / where)]), str(toy / where), why)
    assert sorted(toy.rglob("*")) == before


def test_an_output_that_cannot_be_written_is_one_line(toy):
    """Root writes anywhere, so the unwritable place is a file standing where a parent folder
    should be (``/dev/null`` as a folder)."""
    _one_line_error(runner.invoke(app, ["split", str(toy / "m.csv"), "--out", "/dev/null/x/split.csv"]),
                    "/dev/null/x/split.csv", "a part of this path is a file")


def test_an_empty_job_record_reruns_the_job(tmp_path):
    from cxr_isi.study.runfolder import RunFolder

    run = RunFolder(tmp_path)
    (tmp_path / "jobs" / "j1").mkdir(parents=True)
    (tmp_path / "jobs" / "j1" / "job.json").write_text("")
    assert run.job_record("j1") is None  # unfinished: the runner trains it again
    (tmp_path / "jobs" / "j1" / "job.json").write_text('{"train_metrics": {}}')
    assert run.job_record("j1") == {"train_metrics": {}}


def test_synth_refuses_a_folder_holding_a_dataset(tmp_path):
    args = ["synth", "--preset", "isi", "--n", "8", "--size", "32", "--out", str(tmp_path / "d")]
    assert runner.invoke(app, args).exit_code == 0
    before = (tmp_path / "d" / "manifest.csv").read_bytes()
    _one_line_error(runner.invoke(app, [*args[:4], "4", *args[5:]]), "not empty", "--overwrite")
    assert (tmp_path / "d" / "manifest.csv").read_bytes() == before  # the earlier dataset is intact
    r = runner.invoke(app, [*args[:4], "4", *args[5:], "--overwrite"])
    assert r.exit_code == 0 and len(pd.read_csv(tmp_path / "d" / "manifest.csv")) == 4
    # 4 images, each with its lung, lesion, marker and border masks; nothing left over
    assert len(list((tmp_path / "d").rglob("*.png"))) == 4 * 5


def test_no_command_overwrites_its_input_manifest(tmp_path):
    from cxr_isi.synth import SynthConfig, generate

    generate(SynthConfig(preset="isi", n=4, size=32), tmp_path / "d", jobs=1)
    before = (tmp_path / "d" / "manifest.csv").read_bytes()
    r = runner.invoke(app, ["lungs", "segment", str(tmp_path / "d" / "manifest.csv"), "--out", str(tmp_path / "d")])
    _one_line_error(r, "is the input manifest")
    assert (tmp_path / "d" / "manifest.csv").read_bytes() == before


def test_explain_refuses_n_zero(tmp_path):
    r = runner.invoke(app, ["explain", "--checkpoint", str(tmp_path / "x.pt"), "--manifest", str(tmp_path / "m.csv"),
                            "--method", "gradcam", "--n", "0", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--n" in r.output


@pytest.mark.slow
def test_an_unreadable_image_is_left_out_of_the_study_and_listed(tmp_path):
    """One truncated PNG among the phantoms: every job runs on the rest, the image is listed with
    its reason in RUN/excluded.csv and the report, nothing blames its lung mask."""
    from cxr_isi.report.html import write_report
    from cxr_isi.study.runner import run_experiment
    from cxr_isi.synth import SynthConfig, generate
    from tests.grids import tiny, write_config

    m = generate(SynthConfig(preset="isi", n=40, size=64, seed=0), tmp_path / "data", jobs=1)
    broken = m.frame["path"].iloc[3]
    data = open(broken, "rb").read()
    open(broken, "wb").write(data[: len(data) // 3])
    ds = {"name": "isi", "manifest": str(m.origin), "labels": {"positive": ["covid"], "negative": ["normal"]}}
    cfg = write_config(tmp_path / "t.yaml", tiny(datasets=[ds], cross=[], cv={"folds": 0},
                                                  variants=["original", "lungs_boxed_out"]))
    run_experiment(cfg, tmp_path / "run", progress=False)
    excluded = pd.read_csv(tmp_path / "run" / "excluded.csv")
    assert list(excluded["path"]) == [broken] and "unreadable" in excluded["reason"].iloc[0]
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert len(results) == 2 and results["auc"].notna().all()
    assert "Images left out (1)" in write_report(tmp_path / "run")["report"].read_text()


def _lungs(size=32):
    m = np.zeros((size, size), np.uint8)
    m[5:26, 3:13] = 255
    m[6:27, 18:29] = 255
    return m


@pytest.mark.parametrize("variant", ["original", "lungs_isolated", "lungs_framed", "lungs_removed", "lungs_boxed_out"])
def test_a_mask_that_cannot_hide_the_lungs_never_makes_an_image(tmp_path, variant):
    """An empty or whole-image mask is left out of every image set, by training and by
    ``cxr-isi hideseek`` alike, with its reason; a one-lung mask is flagged and kept (its union
    box), or left out under the drop policy."""
    pytest.importorskip("torch")
    from cxr_isi.data import LabelMapping
    from cxr_isi.lungs.dataset import HideSeekDataset
    from cxr_isi.lungs.postprocess import EMPTY_MASK, WHOLE_IMAGE, cannot_hide, lung_geometry

    one = _lungs()
    one[:, 16:] = 0
    masks = {"empty": np.zeros((32, 32), np.uint8), "full": np.full((32, 32), 255, np.uint8), "one_lung": one}
    rows = []
    for i in range(8):
        name = list(masks)[i] if i < 3 else f"ok{i}"
        write_png(tmp_path / f"img/{name}.png", gradient(32, 32, seed=i))
        write_png(tmp_path / f"mask/{name}.png", masks.get(name, _lungs()))
        rows.append({"path": f"img/{name}.png", "mask_path": f"mask/{name}.png",
                     "label": "covid" if i % 2 else "normal", "source": "s", "patient_id": f"p{i}"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    m = Manifest.read(tmp_path / "m.csv").with_labels(LabelMapping(positive=["covid"], negative=["normal"]))
    if variant != "original":  # (the runner leaves such images out of the original set too: their lung_qc)
        ds = HideSeekDataset(m, variant, size=32, box_mode="per_lung")
        left_out = {os.path.basename(p): why for p, why in ds.skipped.items()}
        assert left_out == {"empty.png": EMPTY_MASK, "full.png": WHOLE_IMAGE}
        assert len(ds) == 6 and all(ds[i][0].max() > 0 for i in range(len(ds)))  # no all-black image
        assert all(cannot_hide(lung_geometry(np.asarray(masks[k]) > 0).as_row()["flags"]) for k in ("empty", "full"))
    r = runner.invoke(app, ["hideseek", str(tmp_path / "m.csv"), "--out", str(tmp_path / "hs"), "--size", "32",
                            "--variant", variant])
    assert r.exit_code == 0, r.output
    assert sorted(p.name.split("_", 1)[1] for p in (tmp_path / "hs" / variant).glob("*.png")) == \
        sorted(["one_lung.png"] + [f"ok{i}.png" for i in range(3, 8)])
    r = runner.invoke(app, ["hideseek", str(tmp_path / "m.csv"), "--out", str(tmp_path / "drop"), "--size", "32",
                            "--variant", variant, "--policy", "drop"])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "drop" / variant).glob("*.png"))) == 5  # the one-lung mask is left out too


@pytest.mark.parametrize("damage", ["truncated data", "empty data", "index not parquet", "meta not json"])
def test_a_damaged_cache_is_rebuilt_never_reused(toy, damage):
    from cxr_isi.data.cache import ImageCache

    args = ["cache", str(toy / "m.csv"), "--size", "16", "--jobs", "1"]
    assert runner.invoke(app, args).exit_code == 0
    c = ImageCache(size=16)
    good = np.array(c.open().get(str(toy / "img/5.png")))
    if damage == "truncated data":
        os.truncate(c.data_file, c.data_file.stat().st_size // 3)
    elif damage == "empty data":
        os.truncate(c.data_file, 0)
    elif damage == "index not parquet":
        c.index_file.write_text("path,slot\n")
    else:
        c.meta_file.write_text("{not json")
    assert c.damage()
    with pytest.raises(CxrIsiError, match="damaged cache .* rebuild it with cxr-isi cache"):
        c.open()
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "40 built, 0 reused" in r.output and "damaged" in r.output, r.output
    assert not c.damage() and (np.array(c.open().get(str(toy / "img/5.png"))) == good).all()


@pytest.mark.parametrize("limit", [600, 400])  # 960 pixels: Pillow warns over the limit, raises over twice it
def test_an_oversized_image_is_refused_in_one_line(tmp_path, monkeypatch, limit):
    import warnings

    from PIL import Image

    from cxr_isi.data.readers import read_image, read_info
    from cxr_isi.errors import ImageReadError

    path = write_png(tmp_path / "big.png", gradient(32, 30))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reaches the user as a raw warning
        for read in (read_image, read_info):
            with pytest.raises(ImageReadError, match=r"big.png: refused, too many pixels"):
                read(path)


def test_a_malicious_checkpoint_does_not_run(tmp_path):
    torch = pytest.importorskip("torch")
    from cxr_isi.train.loop import load_classifier

    marker = tmp_path / "ran"
    torch.save({"state_dict": {}, "model": Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CxrIsiError, match=r"evil.pt: corrupted or not a PyTorch checkpoint"):
        load_classifier(tmp_path / "evil.pt")
    assert not marker.exists()


def test_a_config_with_a_python_tag_does_not_run(tmp_path):
    from cxr_isi.study.runner import check_experiment

    marker = tmp_path / "ran"
    (tmp_path / "evil.yaml").write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    r = runner.invoke(app, ["run", str(tmp_path / "evil.yaml"), "--check", "--out", str(tmp_path / "r")])
    _one_line_error(r, "evil.yaml line 1: not valid YAML")
    assert not marker.exists()
    with pytest.raises(CxrIsiError, match="not valid YAML"):
        check_experiment(tmp_path / "evil.yaml", tmp_path / "r")


@pytest.mark.parametrize("args", [
    ["audit", "{m}", "-p", "covid", "--json", "{m}"],
    ["audit", "{m}", "-p", "covid", "--json", "{dot}"],
    ["split", "{m}", "--out", "{up}"],
    ["duplicates", "{m}", "--csv", "{link}"],
    ["duplicates", "{m}", "--json", "{m}"],
    ["balance", "{m}", "-p", "covid", "--out", "{m}"],
    ["predict", "--checkpoint", "{ck}", "--manifest", "{m}", "--out", "{m}"],
    ["lungs", "eval", "{m}", "--json", "{m}"],
    ["import", "csv", "{m}", "--out", "{m}"],
])
def test_an_output_that_is_the_commands_own_input_is_refused(toy, args, monkeypatch):
    monkeypatch.chdir(toy)
    (toy / "ck.pt").write_bytes(b"not used")
    (toy / "link.csv").symlink_to(toy / "m.csv")
    paths = {"m": str(toy / "m.csv"), "dot": "./m.csv", "up": f"../{toy.name}/m.csv", "link": str(toy / "link.csv"),
             "ck": str(toy / "ck.pt")}
    before = (toy / "m.csv").read_bytes()
    r = runner.invoke(app, [a.format(**paths) for a in args])
    _one_line_error(r, "is this command's input", "no command overwrites its input")
    assert (toy / "m.csv").read_bytes() == before


def test_a_config_listing_a_model_or_an_image_set_twice_is_refused(tmp_path):
    from cxr_isi.config import parse_model
    from cxr_isi.errors import ConfigError
    from cxr_isi.study.config import ExperimentConfig

    base = {"datasets": [{"name": "a", "synthetic": {"preset": "isi", "n": 8, "size": 32}}]}
    for key, value, word in (("models", ["small_cnn", "small_cnn"], "'small_cnn' is listed twice"),
                             ("variants", ["original", "lungs_boxed_out", "original"], "'original' is listed twice")):
        with pytest.raises(ConfigError, match=word):
            parse_model(ExperimentConfig, {**base, key: value}, "c.yaml")
    with pytest.raises(ConfigError, match="cv.variants: 'original' is listed twice"):
        parse_model(ExperimentConfig, {**base, "cv": {"variants": ["original", "original"]}}, "c.yaml")


def test_the_api_refuses_what_is_not_a_run_and_takes_one_label_as_a_string(toy):
    import cxr_isi as ci

    for path, words in ((toy / "nowhere", "no such run folder"), (toy / "m.csv", "is a file, not a run folder"),
                        (toy, "not a run folder (no config.json")):
        with pytest.raises(CxrIsiError, match=re.escape(words)):
            ci.load_run(path)
    as_string = ci.audit_dataset(toy / "m.csv", positive="covid", read_files=False)
    as_list = ci.audit_dataset(toy / "m.csv", positive=["covid"], read_files=False)
    for key in ("verdict", "cramers_v", "source_only_auc", "n_positive", "label_mapping"):
        assert getattr(as_string, key) == getattr(as_list, key), key
    assert as_string.n_positive == 20


@pytest.mark.parametrize("folds", ["1", "0", "-3"])
def test_audit_refuses_fewer_than_two_folds(toy, folds):
    r = runner.invoke(app, ["audit", str(toy / "m.csv"), "-p", "covid", "--folds", folds, "--no-files"])
    _one_line_error(r, f"{folds} fold(s) asked for", "2 or more")


def test_an_audit_without_a_source_only_auc_does_not_say_chance(toy):
    import cxr_isi as ci

    frame = pd.read_csv(toy / "m.csv")
    frame.loc[frame["label"] == "covid", "patient_id"] = "the_one_covid_patient"
    frame.to_csv(toy / "one.csv", index=False)
    result = ci.audit_dataset(toy / "one.csv", positive="covid", read_files=False)
    assert result.source_only_auc != result.source_only_auc  # NaN: one patient cannot fill two folds
    assert "could not be computed" in result.headline() and "chance" not in result.headline()


@pytest.mark.parametrize("args, words", [
    (["audit", "{m}", "-p", "covid", "--seed", "-1"], "--seed -1: must be from 0 to 4294967295"),
    (["split", "{m}", "--out", "{o}", "--seed", "4294967296"], "--seed 4294967296: must be from 0 to 4294967295"),
    (["balance", "{m}", "-p", "covid", "--out", "{o}", "--seed", "-1"], "--seed -1"),
    (["synth", "--preset", "isi", "--n", "4", "--out", "{d}", "--seed", "-1"], "--seed -1"),
    (["duplicates", "{m}", "--jobs", "0"], "--jobs 0: must be 1 or more"),
    (["cache", "{m}", "--jobs", "-3"], "--jobs -3: must be 1 or more"),
    (["predict", "--checkpoint", "{m}", "--manifest", "{m}", "--out", "{o}", "--batch-size", "0"],
     "--batch-size 0: must be 1 or more"),
    (["run", "{m}", "--out", "{d}", "--jobs", "0"], "--jobs 0: must be 1 or more"),
])
def test_numbers_out_of_range_are_one_line(toy, args, words):
    paths = {"m": str(toy / "m.csv"), "o": str(toy / "o.csv"), "d": str(toy / "d")}
    r = runner.invoke(app, [a.format(**paths) for a in args])
    _one_line_error(r, words)
    assert len(r.output.strip().splitlines()) == 1 and not (toy / "o.csv").exists() and not (toy / "d").exists()


def test_a_config_seed_or_learning_rate_out_of_range_is_one_line(tmp_path):
    from cxr_isi.config import parse_model
    from cxr_isi.errors import ConfigError
    from cxr_isi.study.config import ExperimentConfig

    base = {"datasets": [{"name": "a", "synthetic": {"preset": "isi", "n": 8, "size": 32}}]}
    for extra, key in (({"seed": -5}, "seed"), ({"train": {"lr": float("inf")}}, "train.lr"),
                       ({"train": {"lr": float("nan")}}, "train.lr"), ({"seed": 2**32}, "seed")):
        with pytest.raises(ConfigError, match=re.escape(key) + ": "):
            parse_model(ExperimentConfig, {**base, **extra}, "c.yaml")


def test_labels_that_differ_only_in_case_never_fall_in_the_other_class(toy):
    frame = pd.read_csv(toy / "m.csv")
    frame.loc[frame.index[:3], "label"] = ["COVID ", " Covid", "covid"]  # spaces are stripped at read
    frame.to_csv(toy / "cases.csv", index=False)
    r = runner.invoke(app, ["audit", str(toy / "cases.csv"), "-p", "covid", "--no-files"])
    _one_line_error(r, "differs from 'covid' only in case", "count as the other class")
    r = runner.invoke(app, ["audit", str(toy / "cases.csv"), "-p", "covid", "-p", "COVID", "-p", "Covid",
                            "--no-files", "--json", str(toy / "a.json")])
    assert r.exit_code == 0, r.output
    assert json.loads((toy / "a.json").read_text())["n_positive"] == int(
        frame["label"].str.strip().str.casefold().eq("covid").sum())


def test_a_finished_run_never_passes_for_a_run_on_other_data(tmp_path):
    """`train --out T` onto a finished run with another manifest (or after an image changed)
    trained nothing and reported the old model's AUC on the new data as its own: refused now,
    the old run intact."""
    pytest.importorskip("torch")
    from cxr_isi.synth import SynthConfig, generate

    for name, preset in (("a", "isi"), ("b", "balanced")):
        generate(SynthConfig(preset=preset, n=40, size=32, seed=1), tmp_path / name, jobs=1)
    args = ["train", "--model", "small_cnn", "--size", "32", "--epochs", "1", "--batch-size", "8", "-p", "covid",
            "--out", str(tmp_path / "T")]
    assert runner.invoke(app, [*args, "--manifest", str(tmp_path / "a" / "manifest.csv")]).exit_code == 0
    kept = {f: (tmp_path / "T" / f).read_bytes() for f in ("best.pt", "split.csv")}
    r = runner.invoke(app, [*args, "--manifest", str(tmp_path / "b" / "manifest.csv")])
    _one_line_error(r, "holds a run on other data", "use a new output folder")
    first = pd.read_csv(tmp_path / "a" / "manifest.csv")["path"].iloc[0]
    image = tmp_path / "a" / first
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))  # the image "changed"
    r = runner.invoke(app, [*args, "--manifest", str(tmp_path / "a" / "manifest.csv")])
    _one_line_error(r, "holds a run on other data")
    assert kept == {f: (tmp_path / "T" / f).read_bytes() for f in kept}


def test_run_check_and_plan_write_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(
        "datasets:\n  - name: a\n    synthetic: {preset: isi, n: 24, size: 32}\nvariants: [original]\ncv: {folds: 2}\n"
        "train: {epochs: 1, batch_size: 8}\nsegmentation: {size: 32}\n")
    for flag in ("--check", "--plan"):
        r = runner.invoke(app, ["run", "c.yaml", flag])  # no --out: the default ./runs/experiment
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["run", "c.yaml", flag, "--out", str(tmp_path / "r")])
        assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_lungs_segment_never_writes_over_another_datasets_manifest(tmp_path):
    from cxr_isi.synth import SynthConfig, generate

    generate(SynthConfig(preset="isi", n=4, size=32), tmp_path / "a", jobs=1)
    generate(SynthConfig(preset="balanced", n=4, size=32, seed=1), tmp_path / "b", jobs=1)
    before = (tmp_path / "b" / "manifest.csv").read_bytes()
    r = runner.invoke(app, ["lungs", "segment", str(tmp_path / "a" / "manifest.csv"), "--out", str(tmp_path / "b")])
    _one_line_error(r, "a manifest that no segmentation wrote")
    assert (tmp_path / "b" / "manifest.csv").read_bytes() == before
    def segment(name):
        return runner.invoke(app, ["lungs", "segment", str(tmp_path / name / "manifest.csv"), "--out",
                                   str(tmp_path / "s")])

    assert segment("a").exit_code == 0
    assert segment("a").exit_code == 0  # the same input again: it resumes
    _one_line_error(segment("b"), "holds the segmentation of", "a/manifest.csv")


def test_a_figure_name_a_sweep_folder_and_epochs_are_checked_before_any_work(toy, tmp_path):
    for args, words in ((["hideseek", str(toy / "m.csv"), "--variant", "original", "--out", str(tmp_path / "h"),
                          "--figure", str(tmp_path / "fig.txt")], "--figure"),
                        (["synth", "--preset", "isi", "--n", "4", "--out", str(tmp_path / "s"),
                          "--preview", str(tmp_path / "x.csv")], "--preview"),
                        (["lungs", "train", str(toy / "m.csv"), "--out", str(tmp_path / "l"), "--epochs", "0"],
                         "--epochs 0: must be 1 or more"),
                        (["lungs", "train", str(toy / "m.csv"), "--out", str(tmp_path / "l"), "--synthetic", "-5"],
                         "--synthetic -5: must be 0 or more")):
        r = runner.invoke(app, args)
        _one_line_error(r, words)
        assert not any(p.name in ("h", "s", "l") for p in tmp_path.iterdir()), args
    r = runner.invoke(app, ["report", str(tmp_path), "--sweep", str(tmp_path / "nonexistent")])
    _one_line_error(r, "no such sweep folder")


# -- the second hostile sweep (issue 23): what is left after the first part ------------------

def _hashes(root):
    import hashlib

    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args, words", [
    (["split", "{m}", "--folds", "2", "--test-size", "0.03", "--out", "{o}"],
     "holding out 1 in 33 patients per class for test needs at least 33"),
    (["split", "{m}", "--folds", "25", "--out", "{o}"], "fewer than the 25 folds asked for"),
    (["train", "-m", "{small}", "-p", "covid", "--size", "32", "--out", "{d}"],
     "has 5 patients; holding out 1 in 7 patients per class for test needs at least 7"),
])
def test_a_fold_count_in_an_error_is_the_one_asked_for(toy, args, words):
    """``split --folds 2`` said 10 folds (its held-out test share), ``train`` said 7: the error now
    says what the groups are for."""
    frame = pd.read_csv(toy / "m.csv")
    frame.groupby("label").head(5).to_csv(toy / "small.csv", index=False)
    paths = {"m": str(toy / "m.csv"), "o": str(toy / "o.csv"), "d": str(toy / "d"), "small": str(toy / "small.csv")}
    before = _hashes(toy)
    r = runner.invoke(app, [a.format(**paths) for a in args])
    _one_line_error(r, words)
    assert "2 folds" not in r.output
    assert _hashes(toy) == before  # nothing written, not even an empty folder


def test_a_config_dataset_without_labels_takes_them_as_every_command_does(toy, tmp_path):
    from cxr_isi.study.config import load_experiment

    common = "variants: [original]\ncv: {folds: 0}\nsplit: {test_size: 0.25, val_size: 0.2}\n"
    (toy / "c.yaml").write_text(f"datasets:\n  - name: a\n    manifest: m.csv\n{common}")
    cfg = load_experiment(toy / "c.yaml")
    assert cfg.datasets[0].labels.model_dump() == {"positive": ["covid"], "negative": ["normal"]}
    r = runner.invoke(app, ["run", str(toy / "c.yaml"), "--check", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0 and "valid" in r.output, r.output
    frame = pd.read_csv(toy / "m.csv")
    frame.loc[frame.index[:5], "label"] = "viral"
    frame.to_csv(toy / "three.csv", index=False)
    (toy / "c3.yaml").write_text(f"datasets:\n  - name: a\n    manifest: three.csv\n{common}")
    _one_line_error(runner.invoke(app, ["run", str(toy / "c3.yaml"), "--check", "--out", str(tmp_path / "r")]),
                    "three.csv", "are not binary", "labels: {positive: [covid]}")


def test_a_yes_or_no_is_not_a_number_in_a_config():
    from cxr_isi.config import parse_model
    from cxr_isi.errors import ConfigError
    from cxr_isi.study.config import ExperimentConfig

    base = {"datasets": [{"name": "a", "synthetic": {"preset": "isi", "n": 8, "size": 32}}]}
    for extra, key in (({"train": {"epochs": True}}, "train.epochs: true is a yes/no"),
                       ({"cv": {"folds": False}}, "cv.folds: false is a yes/no"),
                       ({"train": {"lr": True}}, "train.lr: true is a yes/no")):
        with pytest.raises(ConfigError, match=re.escape(key)):
            parse_model(ExperimentConfig, {**base, **extra}, "c.yaml")
    ok = parse_model(ExperimentConfig, {**base, "explain": {"enabled": True}}, "c.yaml")  # a real yes/no stays
    assert ok.explain.enabled is True


@pytest.mark.parametrize("args, words", [
    (["duplicates", "{m}", "--max-distance", "-1"], "--max-distance -1: must be from 0 to 64"),
    (["duplicates", "{m}", "--max-distance", "1000"], "--max-distance 1000: must be from 0 to 64"),
    (["duplicates", "{m}", "--min-correlation", "nan"], "--min-correlation nan: must be from 0 to 1"),
    (["duplicates", "{m}", "--min-correlation", "5"], "--min-correlation 5.0: must be from 0 to 1"),
    (["train", "-m", "{m}", "--out", "{d}", "--seed", "-1"], "--seed -1: must be from 0 to 4294967295"),
    (["train", "-m", "{m}", "--out", "{d}", "--epochs", "0"], "--epochs 0: must be 1 or more"),
    (["explain", "--checkpoint", "{m}", "--manifest", "{m}", "--out", "{d}", "--num-samples", "-5"],
     "--num-samples -5: must be 1 or more"),
    (["explain", "--checkpoint", "{m}", "--manifest", "{m}", "--out", "{d}", "--n", "0"], "--n 0: must be 1 or more"),
    (["audit", "{m}", "-p", "covid", "--header-sample", "-1"], "--header-sample -1: must be 0 or more"),
    (["judge", "{m}", "--manifest", "{m}", "--out", "{d}", "--swap-pairs", "0"], "--swap-pairs 0: must be 1 or more"),
    (["sweep", "--out", "{d}", "--jobs", "-3"], "--jobs -3: must be 1 or more"),
    (["run", "{m}", "--out", "{d}", "--address", "ray://head:10001"], "used only with --executor ray"),
])
def test_more_options_out_of_range_are_one_line(toy, args, words):
    paths = {"m": str(toy / "m.csv"), "d": str(toy / "d")}
    before = _hashes(toy)
    r = runner.invoke(app, [a.format(**paths) for a in args])
    _one_line_error(r, words)
    assert len(r.output.strip().splitlines()) == 1 and _hashes(toy) == before and not (toy / "d").exists()


def test_the_api_refuses_jobs_below_one_and_an_address_without_ray(tmp_path):
    import cxr_isi as ci

    for kwargs, words in (({"jobs": -3}, "jobs -3: must be a whole number, 1 or more"),
                          ({"address": "ray://h:1"}, "used only with --executor ray")):
        with pytest.raises(CxrIsiError, match=re.escape(words)):
            ci.run_experiment(tmp_path / "c.yaml", out=tmp_path / "r", **kwargs)
    assert not (tmp_path / "r").exists()


def test_explain_names_a_positive_label_that_matches_nothing(toy):
    r = runner.invoke(app, ["explain", "--checkpoint", str(toy / "m.csv"), "--manifest", str(toy / "m.csv"),
                            "-p", "nosuch", "--out", str(toy / "e")])
    _one_line_error(r, "no row has the positive label(s) ['nosuch']", "['covid', 'normal']")
    assert not (toy / "e").exists()


def test_a_failed_command_leaves_no_empty_output_folder(toy):
    """The output folders a command made before it failed (and their parents) are removed when
    nothing was written into them; a folder that was there before stays."""
    (toy / "kept").mkdir()
    for out in (toy / "new" / "deeper" / "e", toy / "kept" / "e"):
        r = runner.invoke(app, ["explain", "--checkpoint", str(toy / "missing.pt"), "--manifest",
                                str(toy / "m.csv"), "--out", str(out)])
        _one_line_error(r, "missing.pt")
    assert not (toy / "new").exists() and (toy / "kept").is_dir() and not (toy / "kept" / "e").exists()


def test_a_sweep_level_whose_interval_reaches_chance_is_not_called_a_shortcut():
    from cxr_isi.report.sweep import crossing_sentence
    from cxr_isi.studies.curves import crossing
    from cxr_isi.studies.sweep import sweep_summary
    from cxr_isi.verdict.dataset import INCONCLUSIVE, SHORTCUT, verdict_for

    rows = []
    for level, aucs in ((0.5, [0.5, 0.52, 0.49, 0.51, 0.5]), (1.0, [0.98, 0.80])):  # two folds at 1.0
        for v in ("original", "lungs_boxed_out"):
            rows += [{"axis": "majority_share", "level": level, "variant": v, "test": "own", "fold": i, "auc": a}
                     for i, a in enumerate(aucs)]
    summary = sweep_summary(pd.DataFrame(rows), pd.DataFrame(columns=["axis", "level", "cramers_v", "source_only_auc"]))
    top = summary[summary["level"] == 1.0].iloc[0]
    assert top["lungs_boxed_out_auc"] >= 0.8 and top["lungs_boxed_out_ci_low"] < 0.55
    assert top["verdict"] == INCONCLUSIVE and crossing(summary, "majority_share") is None
    assert "no crossing can be told" in crossing_sentence(summary, "majority_share")
    assert verdict_for(0.9, 0.85) == SHORTCUT and verdict_for(0.9, 0.5) == INCONCLUSIVE


def test_one_image_file_under_two_paths_is_refused(toy):
    """The same file by a link (or a linked folder) counted twice, here under two labels and
    patients: refused when the manifest is read, so no command (``run`` included) uses it."""
    frame = pd.read_csv(toy / "m.csv")
    (toy / "linked").symlink_to(toy / "img")
    twin = frame.iloc[[0]].assign(path="linked/0.png", label="covid", patient_id="someone_else")
    pd.concat([frame, twin]).to_csv(toy / "twice.csv", index=False)
    with pytest.raises(ManifestError, match=r"rows 1 and 41: one image file by two paths .*label 'normal' and "
                                            r"'covid'; patient_id 'p0' and 'someone_else'"):
        Manifest.read(toy / "twice.csv")
    (toy / "c.yaml").write_text("datasets:\n  - name: a\n    manifest: twice.csv\nvariants: [original]\n")
    _one_line_error(runner.invoke(app, ["run", str(toy / "c.yaml"), "--check", "--out", str(toy / "r")]),
                    "one image file by two paths")


def test_file_names_stay_within_the_file_systems_limit(tmp_path):
    from cxr_isi._io import NAME_MAX, numbered_name

    assert numbered_name(7, "a/b.png") == "000007_b.png"
    for stem in ("x" * 250, "é" * 200, "x" * 247 + "é" * 3):
        name = numbered_name(123456, f"/d/{stem}.dcm")
        assert len(name.encode()) <= NAME_MAX and name.startswith("123456_x" if stem[0] == "x" else "123456_é")
        assert name.endswith(".png")
    rows = []
    for i in range(8):
        rel = f"img/{'x' * 240}{i:02d}.png"  # 246 bytes: with the row's number it was over 255
        write_png(tmp_path / rel, gradient(32, 32, seed=i))
        write_png(tmp_path / f"mask/{i}.png", _lungs())
        rows.append({"path": rel, "mask_path": f"mask/{i}.png", "label": "covid" if i % 2 else "normal",
                     "source": "s", "patient_id": f"p{i}"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    r = runner.invoke(app, ["hideseek", str(tmp_path / "m.csv"), "--out", str(tmp_path / "hs"), "--size", "32",
                            "--variant", "lungs_boxed_out"])
    assert r.exit_code == 0, r.output
    written = sorted(p.name for p in (tmp_path / "hs" / "lungs_boxed_out").glob("*.png"))
    assert len(written) == 8 and max(len(n.encode()) for n in written) <= NAME_MAX


def test_the_api_takes_where_as_the_cli_writes_it_and_refuses_a_file_for_a_dataset_folder(toy):
    import cxr_isi as ci
    from cxr_isi.errors import ImporterError

    as_text = ci.audit_dataset(toy / "m.csv", positive="covid", where="source=s0,s1", read_files=False)
    as_data = ci.audit_dataset(toy / "m.csv", positive="covid", where={"source": ["s0", "s1"]}, read_files=False)
    assert as_text.n_positive == as_data.n_positive == 10 and as_text.row_filter == as_data.row_filter
    with pytest.raises(ManifestError, match="where 5: expected"):
        ci.audit_dataset(toy / "m.csv", positive="covid", where=5, read_files=False)
    with pytest.raises(ImporterError, match=r"m.csv: is a file; the kermany importer takes the folder"):
        ci.import_dataset("kermany", toy / "m.csv")


def test_a_changed_image_is_segmented_again_and_changes_the_datasets_identity(tmp_path):
    from cxr_isi.study.config import DatasetConfig
    from cxr_isi.study.plan import dataset_identity
    from cxr_isi.synth import SynthConfig, generate

    generate(SynthConfig(preset="isi", n=8, size=32), tmp_path / "a", jobs=1)
    m = tmp_path / "a" / "manifest.csv"
    args = ["lungs", "segment", str(m), "--out", str(tmp_path / "s"), "--size", "32"]
    assert runner.invoke(app, args).exit_code == 0
    masks = {p: p.stat().st_mtime_ns for p in (tmp_path / "s" / "masks").glob("*.png")}
    d = DatasetConfig(name="a", manifest=m, labels={"positive": ["covid"], "negative": ["normal"]})
    first = dataset_identity(d)
    image = tmp_path / "a" / pd.read_csv(m)["path"].iloc[2]
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    assert dataset_identity(d) != first  # the run's prepared data and job ids follow the files
    assert runner.invoke(app, args).exit_code == 0
    redone = [p for p, t in masks.items() if p.stat().st_mtime_ns != t]
    assert [p.name for p in redone] == [f"000002_{image.stem}.png"]  # that image alone, not the others


def test_a_full_disk_is_one_line_before_the_cache_grows(toy, monkeypatch):
    import errno
    import shutil

    from cxr_isi.data import cache as cache_module

    args = ["cache", str(toy / "m.csv"), "--size", "16", "--jobs", "1", "--cache", str(toy / "cc")]
    real = shutil.disk_usage
    monkeypatch.setattr(cache_module.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    _one_line_error(runner.invoke(app, args), "not enough disk space for the cache", "MiB free")
    monkeypatch.setattr(cache_module.shutil, "disk_usage", real)

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    if hasattr(os, "posix_fallocate"):
        monkeypatch.setattr(cache_module.os, "posix_fallocate", full)
        _one_line_error(runner.invoke(app, args), "not enough disk space for the cache")
    monkeypatch.undo()
    r = runner.invoke(app, args)  # room again: it builds
    assert r.exit_code == 0 and "40 built" in r.output, r.output
