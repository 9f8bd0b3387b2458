"""Each importer on a tiny fixture built here in the dataset's real layout."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxr_isi.data.importers import IMPORTERS, describe, run_importer
from cxr_isi.errors import ImporterError
from tests.conftest import gradient, write_png


def png(path):
    return write_png(path, gradient(24, 20))


def test_every_importer_documents_its_layout():
    assert set(IMPORTERS) >= {"csv", "folders", "qata-cov19", "bimcv", "covid-chestxray", "kermany",
                              "montgomery", "shenzhen", "rsna-pneumonia", "padchest", "figure1", "actualmed",
                              "nih-chestxray14"}
    for name, fn in IMPORTERS.items():
        assert describe(name) and "Layout" in fn.__doc__, name


def test_folders(tmp_path):
    for cls in ("covid", "normal"):
        for i in range(3):
            png(tmp_path / "ds" / cls / f"pat{i}_x.png")
    m = run_importer("folders", tmp_path / "ds", patient_regex=r"^(pat\d+)")
    assert len(m) == 6 and set(m.frame["label"]) == {"covid", "normal"}
    assert set(m.frame["patient_id"]) == {"pat0", "pat1", "pat2"} and set(m.frame["source"]) == {"ds"}


def test_generic_csv(tmp_path):
    png(tmp_path / "a.png")
    png(tmp_path / "b.png")
    pd.DataFrame({"file": ["a.png", "b.png"], "dx": ["x", "y"], "hosp": ["h1", "h2"]}).to_csv(
        tmp_path / "list.csv", index=False)
    m = run_importer("csv", tmp_path / "list.csv", path_col="file", label_col="dx", source_col="hosp")
    assert m.frame["source"].tolist() == ["h1", "h2"] and m.frame["patient_id"].tolist() == ["a", "b"]
    with pytest.raises(ImporterError, match=r"no column 'path' \(has: file, dx, hosp\)"):
        run_importer("csv", tmp_path / "list.csv")
    with pytest.raises(ImporterError, match="has no option 'colour'"):
        run_importer("csv", tmp_path / "list.csv", colour="red")
    with pytest.raises(ImporterError, match="unknown importer"):
        run_importer("mimic", tmp_path)


def test_kermany(tmp_path):
    root = tmp_path / "chest_xray"
    png(root / "train/NORMAL/IM-0115-0001.jpeg")
    png(root / "train/NORMAL/NORMAL2-IM-1427-0001.jpeg")
    png(root / "test/PNEUMONIA/person1_bacteria_1.jpeg")
    png(root / "test/PNEUMONIA/person1_virus_6.jpeg")
    m = run_importer("kermany", tmp_path)
    f = m.frame.set_index(m.frame["path"].str.rsplit("/", n=1).str[-1])
    assert f.loc["IM-0115-0001.jpeg", "patient_id"] == "kermany_IM-0115"
    assert f.loc["NORMAL2-IM-1427-0001.jpeg", "patient_id"] == "kermany_NORMAL2-IM-1427"
    assert f.loc["person1_virus_6.jpeg", "label"] == "other_pneumonia"
    assert f.loc["person1_virus_6.jpeg", "pneumonia_type"] == "virus"
    assert f.loc["person1_bacteria_1.jpeg", "orig_split"] == "test"
    assert m.frame["patient_id"].nunique() == 3


def test_montgomery_merges_masks(tmp_path):
    root = tmp_path / "MontgomerySet"
    for name in ("MCUCXR_0001_0.png", "MCUCXR_0002_1.png"):
        png(root / "CXR_png" / name)
        left, right = np.zeros((24, 20), np.uint8), np.zeros((24, 20), np.uint8)
        left[4:20, 2:8], right[4:20, 12:18] = 255, 255
        write_png(root / "ManualMask/leftMask" / name, left)
        write_png(root / "ManualMask/rightMask" / name, right)
    m = run_importer("montgomery", root, mask_out=str(tmp_path / "masks"))
    assert m.frame["label"].tolist() == ["normal", "tb"]
    merged = np.asarray(Image.open(m.frame["mask_path"][0]))
    assert merged[10, 4] == 255 and merged[10, 15] == 255 and merged[10, 10] == 0


def test_shenzhen(tmp_path):
    root = tmp_path / "ChinaSet"
    png(root / "CXR_png/CHNCXR_0001_0.png")
    png(root / "CXR_png/CHNCXR_0002_1.png")
    png(root / "mask/CHNCXR_0001_0_mask.png")
    m = run_importer("shenzhen", root)
    assert m.frame["label"].tolist() == ["normal", "tb"]
    assert m.frame["mask_path"][0].endswith("CHNCXR_0001_0_mask.png") and m.frame["mask_path"][1] == ""
    assert m.frame["patient_id"].tolist() == ["shenzhen_0001", "shenzhen_0002"]


def test_wrong_layout_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImporterError, match="no images; expected ROOT/<train|test|val>"):
        run_importer("kermany", tmp_path / "empty")
    with pytest.raises(ImporterError, match="no participants.tsv at or below it"):
        run_importer("bimcv", tmp_path / "empty")
    with pytest.raises(ImporterError, match="not found"):
        run_importer("shenzhen", tmp_path / "absent")
