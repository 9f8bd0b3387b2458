import pandas as pd
import pytest

from cxr_isi.data import LabelMapping, Manifest, RowFilter, parse_where
from cxr_isi.errors import ConfigError, ManifestError


def test_csv_and_parquet_round_trip_keep_extras_and_resolve_paths(image_folder, tmp_path):
    root, frame = image_folder
    frame.assign(view="PA", mask_path="").to_csv(root / "m.csv", index=False)
    m = Manifest.read(root / "m.csv")
    assert m.paths[0] == str((root / "img/00.png").absolute())
    assert list(m.frame["note"])[:2] == ["extra0", "extra1"]
    for name in ("out/again.csv", "out/again.parquet"):
        m.write(tmp_path / name)
        back = Manifest.read(tmp_path / name)
        assert back.paths == m.paths
        assert back.frame["note"].tolist() == m.frame["note"].tolist()
    # written paths are relative to the output manifest
    assert pd.read_csv(tmp_path / "out/again.csv")["path"][0] == "../img/00.png"


@pytest.mark.parametrize("drop", ["path", "label", "source", "patient_id"])
def test_missing_required_column_names_it(tmp_path, image_folder, drop):
    _, frame = image_folder
    frame.drop(columns=[drop]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ManifestError, match=rf"bad.csv: missing required column '{drop}'"):
        Manifest.read(tmp_path / "bad.csv")


def test_empty_manifests(tmp_path):
    (tmp_path / "zero.csv").write_text("")
    with pytest.raises(ManifestError, match="zero.csv: manifest is empty"):
        Manifest.read(tmp_path / "zero.csv")
    (tmp_path / "header.csv").write_text("path,label,source,patient_id\n")
    with pytest.raises(ManifestError, match="header.csv: manifest has a header but no rows"):
        Manifest.read(tmp_path / "header.csv")


def test_duplicate_path_names_rows(tmp_path, image_folder):
    _, frame = image_folder
    pd.concat([frame, frame.iloc[[3]]]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(ManifestError, match=r"dup.csv rows 4 and 13: duplicate path .*03.png"):
        Manifest.read(tmp_path / "dup.csv")


def test_path_that_does_not_exist(image_folder):
    root, frame = image_folder
    frame.loc[5, "path"] = "img/missing.png"
    frame.to_csv(root / "m.csv", index=False)
    m = Manifest.read(root / "m.csv")
    with pytest.raises(ManifestError, match=r"m.csv row 6: file not found: .*missing.png"):
        m.check_files()


def test_empty_required_value_and_bad_split(tmp_path, image_folder):
    _, frame = image_folder
    frame.loc[2, "patient_id"] = ""
    frame.to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(ManifestError, match=r"e.csv row 3: empty 'patient_id'"):
        Manifest.read(tmp_path / "e.csv")
    frame.loc[2, "patient_id"] = "p1"
    frame["split"] = ["train"] * 11 + ["holdout"]
    frame.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(ManifestError, match=r"s.csv row 12: split 'holdout'"):
        Manifest.read(tmp_path / "s.csv")


def test_label_mapping_unknown_label_and_record(image_folder):
    root, frame = image_folder
    frame.loc[7, "label"] = "tb"
    m = Manifest.from_frame(frame, root=root, origin="toy.csv")
    with pytest.raises(ManifestError, match=r"toy.csv row 8: unknown label 'tb'"):
        m.with_labels(LabelMapping(positive=["covid"], negative=["normal"]))
    mapped = m.with_labels(LabelMapping(positive=["covid", "tb"]))
    assert mapped.y.tolist() == [int(lbl in ("covid", "tb")) for lbl in frame["label"]]
    assert mapped.label_mapping.as_record() == {"positive": ["covid", "tb"], "negative": None}


def test_binary_labels_inferred_but_names_need_a_mapping(image_folder):
    root, frame = image_folder
    m = Manifest.from_frame(frame, root=root)
    inferred = m.with_labels(None).label_mapping  # covid and normal: normal is a conventional negative
    assert (inferred.positive, inferred.negative) == (["covid"], ["normal"])
    other = frame.assign(label=["covid" if lbl == "covid" else "tb" for lbl in frame["label"]])
    with pytest.raises(ManifestError, match="not binary; say which are positive"):
        Manifest.from_frame(other, root=root).with_labels(None)
    frame["label"] = ["1" if lbl == "covid" else "0" for lbl in frame["label"]]
    assert Manifest.from_frame(frame, root=root).with_labels(None).y.sum() == 6


def test_mapping_rejects_overlap():
    with pytest.raises(ValueError, match="both positive and negative"):
        LabelMapping(positive=["a"], negative=["a"])


def test_row_filter_or_of_and_clauses(image_folder):
    root, frame = image_folder
    m = Manifest.from_frame(frame, root=root)
    f = parse_where(["source=s0 & label=covid", "source=s1,s2 & label=normal"])
    kept = m.filter(f).frame
    assert set(zip(kept["source"], kept["label"], strict=True)) <= {
        ("s0", "covid"), ("s1", "normal"), ("s2", "normal")}
    assert len(kept) == 6
    assert RowFilter.from_data(f.to_data()) == f
    with pytest.raises(ManifestError, match="column 'nope'"):
        m.filter(parse_where(["nope=1"]))
    with pytest.raises(ManifestError, match="no rows pass"):
        m.filter(parse_where(["source=zzz"]))


def test_dataset_spec_yaml_errors_name_the_key(tmp_path, image_folder):
    from cxr_isi.data.spec import DatasetSpec

    root, frame = image_folder
    frame.to_csv(root / "m.csv", index=False)
    (tmp_path / "d.yaml").write_text("manifest: m.csv\nlabels: {positive: [covid]}\nfilters: []\n")
    with pytest.raises(ConfigError, match=r"d.yaml: filters: Extra inputs are not permitted"):
        DatasetSpec.from_yaml(tmp_path / "d.yaml")
    (root / "ok.yaml").write_text("manifest: m.csv\nfilter: [{source: [s0, s1]}]\n"
                                  "labels: {positive: [covid], negative: [normal]}\n")
    m = DatasetSpec.from_yaml(root / "ok.yaml").load()
    assert set(m.frame["source"]) == {"s0", "s1"} and len(m) == 8
