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
                              "montgomery", "shenzhen", "rsna-pneumonia", "padchest"}
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


def test_qata(tmp_path):
    root = tmp_path / "QaTa-COV19-v2"
    png(root / "Train Set/Images/covid_1.png")
    png(root / "Train Set/Ground-truths/mask_covid_1.png")
    png(root / "Train Set/Images/sub-S123_ses-E1.png")
    png(root / "Test Set/Images/covid_9.png")
    m = run_importer("qata-cov19", root)
    f = m.frame.set_index(m.frame["path"].str.rsplit("/", n=1).str[-1])
    assert f.loc["covid_1.png", "label"] == "covid" and f.loc["covid_1.png", "split"] == "train"
    assert f.loc["covid_1.png", "infection_mask_path"].endswith("mask_covid_1.png")
    assert f.loc["sub-S123_ses-E1.png", "label"] == "control"
    assert f.loc["covid_9.png", "split"] == "test"
    assert "mask_path" not in m.frame.columns  # infection masks are not lung masks


def test_bimcv(tmp_path):
    root = tmp_path / "BIMCV-COVID19+"
    root.mkdir()
    (root / "participants.tsv").write_text("participant\tmodality_dicom\nsub-S001\tCR\nsub-S002\tDX\n")
    png(root / "sub-S001/ses-E01/mod-rx/sub-S001_ses-E01_run-1_bp-chest_vp-pa_cr.png")
    png(root / "sub-S001/ses-E02/mod-rx/sub-S001_ses-E02_run-1_bp-chest_vp-ap_cr.png")
    png(root / "sub-S002/ses-E03/mod-rx/sub-S002_ses-E03_run-1_bp-chest_vp-pa_dx.png")
    m = run_importer("bimcv", root)
    f = m.frame.sort_values("path")
    assert f["label"].unique().tolist() == ["covid"] and f["source"].unique().tolist() == ["BIMCV"]
    assert f["patient_id"].tolist() == ["bimcv_S001", "bimcv_S001", "bimcv_S002"]
    assert f["view"].tolist() == ["PA", "AP", "PA"] and f["modality"].tolist()[-1] == "DX"
    neg = run_importer("bimcv", root, label="negative")
    assert set(neg.frame["label"]) == {"negative"}
    other = tmp_path / "bimcv_release"
    other.mkdir()
    (other / "participants.tsv").write_text("participant\n")
    with pytest.raises(ImporterError, match="pass label=covid or label=negative"):
        run_importer("bimcv", other)


def test_covid_chestxray(tmp_path):
    png(tmp_path / "images/a.png")
    png(tmp_path / "images/b.jpg")
    png(tmp_path / "images/c.png")
    pd.DataFrame({
        "patientid": ["1", "1", "2", "3"], "finding": ["Pneumonia/Viral/COVID-19", "No Finding",
                                                     "Pneumonia/Bacterial/Streptococcus", "x"],
        "view": ["PA", "AP", "PA", "Axial"], "modality": ["X-ray", "X-ray", "X-ray", "CT"],
        "folder": "images", "filename": ["a.png", "b.jpg", "c.png", "ct.png"],
        "url": ["https://www.sirm.org/x", "https://radiopaedia.org/y", "https://radiopaedia.org/z", ""],
    }).to_csv(tmp_path / "metadata.csv", index=False)
    m = run_importer("covid-chestxray", tmp_path)
    assert m.frame["label"].tolist() == ["covid", "normal", "other_pneumonia"]
    assert m.frame["source"].tolist() == ["ieee8023:www.sirm.org", "ieee8023:radiopaedia.org",
                                          "ieee8023:radiopaedia.org"]
    assert m.frame["patient_id"].tolist() == ["ieee8023_1", "ieee8023_1", "ieee8023_2"]
    m.check_files()


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


def test_rsna(tmp_path):
    pd.DataFrame({"patientId": ["p1", "p1", "p2", "p3"], "x": [1, 2, None, None],
                  "y": [1, 2, None, None], "width": [5, 5, None, None], "height": [5, 5, None, None],
                  "Target": [1, 1, 0, 0]}).to_csv(tmp_path / "stage_2_train_labels.csv", index=False)
    pd.DataFrame({"patientId": ["p1", "p1", "p2", "p3"],
                  "class": ["Lung Opacity", "Lung Opacity", "Normal", "No Lung Opacity / Not Normal"]}
                 ).to_csv(tmp_path / "stage_2_detailed_class_info.csv", index=False)
    m = run_importer("rsna-pneumonia", tmp_path)
    assert m.frame["label"].tolist() == ["lung_opacity", "normal", "not_normal"]
    assert m.frame["n_boxes"].tolist() == [2, 0, 0]
    assert m.frame["path"][0].endswith("stage_2_train_images/p1.dcm")


def test_padchest(tmp_path):
    png(tmp_path / "0/img1.png")
    png(tmp_path / "0/img2.png")
    png(tmp_path / "1/img3.png")
    csv = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"
    pd.DataFrame({"ImageID": ["img1.png", "img2.png", "img3.png"], "ImageDir": ["0", "0", "1"],
                  "PatientID": ["a", "a", "b"], "Projection": ["PA", "L", "AP"],
                  "Labels": ["['normal']", "['pneumonia', 'infiltrates']", "['cardiomegaly']"]}
                 ).to_csv(tmp_path / csv, index=False)
    m = run_importer("padchest", tmp_path)
    assert m.frame["label"].tolist() == ["normal", "other_pneumonia", "other"]
    assert m.frame["view"].tolist() == ["PA", "L", "AP"]
    m.check_files()


def test_wrong_layout_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImporterError, match="no images; expected ROOT/<train|test|val>"):
        run_importer("kermany", tmp_path / "empty")
    with pytest.raises(ImporterError, match="participants.tsv"):
        run_importer("bimcv", tmp_path / "empty")
    with pytest.raises(ImporterError, match="not found"):
        run_importer("shenzhen", tmp_path / "absent")
