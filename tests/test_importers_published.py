"""Each importer on its dataset as published: fixtures in the real folder layout, with the real
file names, folder names and CSV headers and a few real rows (copied from the publishers' own
tables: the ieee8023 and agchung repositories, and the NIH, RSNA and PadChest label tables that
ship in the torchxrayvision wheel); never vendored copies. Images are tiny stand-ins."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cxr_isi.cli.main import app
from cxr_isi.data.importers import import_dataset, run_importer
from cxr_isi.errors import CxrIsiError, ImporterError
from tests.conftest import gradient, write_png

runner = CliRunner()


def img(path):
    return write_png(path, gradient(24, 20))


def by_name(m):
    return m.frame.set_index(m.frame["path"].str.rsplit("/", n=1).str[-1])


# -- ieee8023 covid-chestxray-dataset ------------------------------------------------------------
IEEE_HEADER = ("patientid,offset,sex,age,finding,RT_PCR_positive,survival,intubated,intubation_present,went_icu,"
               "in_icu,needed_supplemental_O2,extubated,temperature,pO2_saturation,leukocyte_count,neutrophil_count,"
               "lymphocyte_count,view,modality,date,location,folder,filename,doi,url,license,clinical_notes,"
               "other_notes,")
IEEE_ROWS = [  # real rows (notes shortened), then the publisher's faults as the issue found them
    '2,0,M,65,Pneumonia/Viral/COVID-19,Y,Y,N,N,N,N,Y,,,,,,,PA,X-ray,"January 22, 2020","Cho Ray Hospital, Ho Chi '
    'Minh City, Vietnam",images,auntminnie-a-2020_01_28_23_51_6665_2020_01_28_Vietnam_coronavirus.jpeg,'
    '10.1056/nejmc2001272,https://www.nejm.org/doi/full/10.1056/NEJMc2001272,,"On January 22, 2020, a 65-year-old '
    'man\nwith a history of hypertension",,',
    '5,,,,Pneumonia,,,Y,Y,Y,Y,,,,,,,,PA,X-ray,2017,,images,ARDSSevere.png,,https://en.wikipedia.org/wiki/File:'
    'ARDSSevere.png,CC BY-SA,Severe ARDS. Person is intubated with an OG in place.,,',
    '13,4,M,35,Pneumonia/Viral/COVID-19,Y,Y,N,N,N,N,Y,,37.2,96,,,,PA,X-ray,"January 19, 2020","Snohomish County, '
    'Washington, United States",images,nejmoa2001191_f1-PA.jpeg,10.1056/NEJMoa2001191,https://www.nejm.org/doi/'
    'full/10.1056/NEJMoa2001191,,"On January 19, 2020",,',
    '13,4,M,35,Pneumonia/Viral/COVID-19,Y,Y,N,N,N,N,Y,,,,,,,L,X-ray,"January 19, 2020","Snohomish County, '
    'Washington, United States",images,nejmoa2001191_f1-L.jpeg,10.1056/NEJMoa2001191,https://www.nejm.org/doi/'
    'full/10.1056/NEJMoa2001191,,"On January 19, 2020",,',
    '283,0,M,76,Pneumonia/Lipoid,,Y,N,N,N,N,,,,,,,,PA,X-ray,2014,"Valencia, Spain",images,000001-17.jpg,,'
    'https://www.eurorad.org/case/11801,CC BY-NC-SA 4.0,"A 76-year-old man",,',
    '288,7,M,61,Pneumonia/Viral/COVID-19,Y,N,,,Y,N,,,,,,,,AP Supine,X-ray,"December 27, 2019","Wuhan, China",'
    'images,nejmoa2001017_f1-a.png,10.1056/NEJMoa2001017,https://www.nejm.org/doi/10.1056/NEJMoa2001017,,'
    '"Patient 2",,',
    # the same eurorad file listed under a second patient id (as 000001-24.jpg is, lines 468 and 570)
    '284,8,M,52,Pneumonia/Lipoid,,Y,N,N,Y,N,,,,,,,,PA,X-ray,2015,"Valencia, Spain",images,000001-17.jpg,,'
    'https://www.eurorad.org/case/12729,CC BY-NC-SA 4.0,"A 52-year-old man",,',
    '400,0,,,todo,,,,,,,,,,,,,,PA,X-ray,,,images,covid-19-pneumonia-7-PA.jpg,,https://radiopaedia.org/cases/'
    'covid-19-pneumonia-7,CC BY-NC-SA,,,',
    '401,0,,,Unknown,,,,,,,,,,,,,,AP,X-ray,,,images,unknown-1.jpg,,https://radiopaedia.org/cases/x,,,,',
    '402,0,,,ARDS,,,,,,,,,,,,,,AP,X-ray,,,images,ards-1.jpg,,https://radiopaedia.org/cases/ards,,,,',
    '403,0,,,Pneumonia/Viral/COVID-19,,,,,,,,,,,,,,Axial,CT,,,volumes,coronacases_org_001.nii.gz,,'
    'https://zenodo.org/record/3757476,,,,',
    '404,0,,,No Finding,,,,,,,,,,,,,,PA,X-ray,,,images,absent-file.jpg,,https://radiopaedia.org/cases/y,,,,',
]


def ieee8023(root):
    root.mkdir(parents=True)
    (root / "metadata.csv").write_text(IEEE_HEADER + "\n" + "\n".join(IEEE_ROWS) + "\n")
    for name in ("auntminnie-a-2020_01_28_23_51_6665_2020_01_28_Vietnam_coronavirus.jpeg", "ARDSSevere.png",
                 "nejmoa2001191_f1-PA.jpeg", "nejmoa2001191_f1-L.jpeg", "000001-17.jpg", "nejmoa2001017_f1-a.png",
                 "covid-19-pneumonia-7-PA.jpg", "unknown-1.jpg", "ards-1.jpg"):
        img(root / "images" / name)
    return root


def test_ieee8023_keeps_every_readable_frontal_xray_once(tmp_path):
    r = import_dataset("covid-chestxray", ieee8023(tmp_path / "covid-chestxray-dataset"))
    f = by_name(r.manifest)
    assert sorted(f.index) == sorted(["auntminnie-a-2020_01_28_23_51_6665_2020_01_28_Vietnam_coronavirus.jpeg",
                                      "ARDSSevere.png", "nejmoa2001191_f1-PA.jpeg", "000001-17.jpg",
                                      "nejmoa2001017_f1-a.png", "ards-1.jpg"])
    assert f.loc["nejmoa2001017_f1-a.png", "label"] == "covid"  # AP Supine is frontal
    assert f.loc["ARDSSevere.png", "label"] == "other_pneumonia" and f.loc["ards-1.jpg", "label"] == "other"
    assert f.loc["000001-17.jpg", "patient_id"] == "ieee8023_283"  # the first listing is kept
    assert f.loc["nejmoa2001191_f1-PA.jpeg", "source"] == "ieee8023:www.nejm.org"
    rep = r.report
    assert rep.rows_read == 12 and rep.rows_kept == 6 and rep.dataset_version == "ieee8023 (folder column)"
    assert rep.dropped_by_reason == {"CT, not an X-ray": 1, "not a frontal view": 1, "duplicate row": 1,
                                     "unknown finding": 2, "file absent": 1}
    dup = next(d for d in rep.dropped if d["reason"] == "duplicate row")
    # line numbers are the file's own: the first data row spans lines 2-3 (a newline in its notes)
    assert dup["line"] == 9 and "the same file as line 7" in dup["detail"] and "ieee8023_284" in dup["detail"]
    todo = next(d for d in rep.dropped if d["reason"] == "unknown finding")
    assert todo["line"] == 10 and "todo" in todo["detail"]


def test_ieee8023_options_are_typed(tmp_path):
    root = ieee8023(tmp_path / "covid-chestxray-dataset")
    for false in ("false", "0", "no", "False"):
        assert "CT, not an X-ray" in import_dataset("covid-chestxray", root, include_ct=false).report.dropped_by_reason
    with_ct = import_dataset("covid-chestxray", root, include_ct="true", keep_missing=True).report
    assert "CT, not an X-ray" not in with_ct.dropped_by_reason and with_ct.warnings  # kept, said absent
    with pytest.raises(ImporterError, match=r"option include_ct='maybe' is not a boolean"):
        import_dataset("covid-chestxray", root, include_ct="maybe")


# -- agchung's Figure1 and Actualmed -------------------------------------------------------------
FIGURE1 = (b"patientid,offset,sex,age,finding,survival,temperature,pO2 saturation,view,modality,"
           b"artifacts/distortion,notes\n"
           b'COVID-00001,13,M,33,COVID-19,,,58,AP erect,X-ray,,"O2 saturation was initially 58% on room air"\n'
           b'COVID-00003a,8,M,28,COVID-19,,39.1,90,AP erect,X-ray,,"28M previously fit and well"\n'
           b"COVID-00003b,8,M,28,COVID-19,,39.1,90,AP erect,X-ray,,Post-intubation in the critical care setting\n"
           b'COVID-00007,,,73,,,38+,,,X-ray,"Some from monitor, slight uneven colour tint",73 yo. No antecedents. '
           b"Fever 38\xb0 + cough. Severe respiratory insufficiency.\n"
           b"COVID-00023,,,,No finding,,,,,X-ray,,\n"
           b"COVID-00031,,,,Pneumonia,,,,,X-ray,,labeled pneumonia\n")


def test_figure1_as_published(tmp_path):
    root = tmp_path / "Figure1-COVID-chestxray-dataset"
    root.mkdir()
    (root / "metadata.csv").write_bytes(FIGURE1)  # Windows-1252 bytes, as the publisher's file has
    for name in ("COVID-00001.jpg", "COVID-00003a.jpg", "COVID-00003b.jpg", "COVID-00007.jpg", "COVID-00023.png",
                 "COVID-00031.jpg"):
        img(root / "images" / name)
    r = runner.invoke(app, ["import", "figure1", str(root), "--out", str(tmp_path / "f1.csv")])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "not UTF-8" in r.output and "read as Windows-1252" in r.output
    m = pd.read_csv(tmp_path / "f1.csv")
    assert sorted(m["label"]) == ["covid", "covid", "covid", "normal", "other_pneumonia"]
    assert set(m["source"]) == {"Figure1"} and m["path"].str.endswith("COVID-00023.png").any()
    assert (m["patient_id"] == "figure1_COVID-00003").sum() == 2  # a patient's follow-ups stay together
    report = json.loads((tmp_path / "IMPORT.json").read_text())
    assert report["dropped_by_reason"] == {"unknown finding": 1} and report["dropped"][0]["line"] == 5
    # the covid-chestxray importer reads the same family
    assert len(run_importer("covid-chestxray", root)) == 5


def test_actualmed_as_published(tmp_path):
    root = tmp_path / "Actualmed-COVID-chestxray-dataset"
    rows = [("ANON196", "", "PA", "CR.1.2.840.113564.1722810170.20200313090023421700.1003000225002.png",
             '"Inconclusive, date taken (YYYYMMDD): 20200313"'),
            ("ANON56", "No finding", "PA", "CR.1.2.840.113564.1722810170.20200317090830828260.1003000225002.png",
             '"Negative (covid-19 viral infection is excluded), date taken (YYYYMMDD): 20200317"'),
            ("ANON196", "COVID-19", "PA", "CR.1.2.840.113564.1722810170.20200318082923328940.1003000225002.png",
             '", date taken (YYYYMMDD): 20200318"')]
    root.mkdir()
    (root / "metadata.csv").write_text(
        "patientid,offset,sex,age,finding,survival,temperature,pO2 saturation,view,modality,imagename,"
        "artifacts/distortion,notes\n" + "".join(f"{p},,,,{f},,,,{v},X-ray,{n},,{t}\n" for p, f, v, n, t in rows))
    for _, _, _, n, _ in rows:
        img(root / "images" / n)
    r = import_dataset("actualmed", root)
    assert r.manifest.frame["label"].tolist() == ["normal", "covid"]
    assert r.manifest.frame["patient_id"].tolist() == ["actualmed_ANON56", "actualmed_ANON196"]
    assert r.report.dataset_version == "agchung actualmed" and r.report.dropped_by_reason == {"unknown finding": 1}
    import cxr_isi as ci  # the notebook's door: the same import, written with its report

    ci.import_dataset("actualmed", root, out=tmp_path / "o" / "m.csv")
    record = tmp_path / "o" / "IMPORT.json"
    assert json.loads(record.read_text())["rows_kept"] == 2 and json.loads(record.read_text())["manifest"] == "m.csv"
    ci.import_dataset("actualmed", root, out=tmp_path / "o" / "m.csv")  # the same import again: its own record
    before = record.read_bytes()
    with pytest.raises(CxrIsiError, match="holds the import record of m.csv; write other.csv to a folder of its own"):
        ci.import_dataset("actualmed", root, out=tmp_path / "o" / "other.csv")  # would replace m.csv's record
    assert record.read_bytes() == before and not (tmp_path / "o" / "other.csv").exists()


# -- QaTa-COV19 as Kaggle unpacks it ----------------------------------------------------------------
def qata(base):
    v2 = base / "QaTa-COV19" / "QaTa-COV19-v2"
    bimcv_name = "sub-S09466_ses-E17059_run-1_bp-chest_vp-pa_dx.png"
    for split in ("Train Set", "Test Set"):
        for name in (f"covid_{1 if split == 'Train Set' else 9}.png", bimcv_name if split == "Train Set" else None):
            if name:
                img(v2 / split / "Images" / name)
                img(v2 / split / "Ground-truths" / f"mask_{name}")
    for group, name in (("Control_Group_I", "1.png"), ("Control_Group_II", "2.png")):
        img(base / "QaTa-COV19" / "Control_Group" / group / name)
    img(base / "__MACOSX" / "QaTa-COV19" / "QaTa-COV19-v2" / "Train Set" / "Images" / "._covid_1.png")
    return base / "QaTa-COV19"


def test_qata_v2_from_the_kaggle_root(tmp_path, monkeypatch):
    qata(tmp_path)
    monkeypatch.chdir(tmp_path)
    r = import_dataset("qata-cov19", "QaTa-COV19")  # a relative root: paths still end up absolute
    f = by_name(r.manifest)
    assert sorted(f.index) == ["1.png", "2.png", "covid_1.png", "covid_9.png",
                               "sub-S09466_ses-E17059_run-1_bp-chest_vp-pa_dx.png"]
    s = f.loc["sub-S09466_ses-E17059_run-1_bp-chest_vp-pa_dx.png"]
    assert (s["label"], s["source"], s["patient_id"], s["session"]) == ("covid", "BIMCV", "bimcv_S09466", "E17059")
    assert f.loc["1.png", "label"] == "control" and f.loc["2.png", "source"] == "qata:Control_Group_II"
    assert f.loc["covid_9.png", "split"] == "test" and r.report.dataset_version == "v2"
    r.manifest.write(tmp_path / "out" / "qata.csv")
    written = pd.read_csv(tmp_path / "out" / "qata.csv", keep_default_na=False)
    mask = written.set_index("path").loc["../QaTa-COV19/QaTa-COV19-v2/Train Set/Images/covid_1.png",
                                          "infection_mask_path"]
    assert mask == "../QaTa-COV19/QaTa-COV19-v2/Train Set/Ground-truths/mask_covid_1.png"  # relative to the manifest
    assert (tmp_path / "out" / mask).exists()


# -- BIMCV-COVID19+ and - as published ---------------------------------------------------------------
def bimcv(base):
    for release, folder, sub, ses in (("BIMCV-COVID19-cIter_1_2", "covid19_posi", "S03047", "E06316"),
                                      ("BIMCV-COVID19-cIter_1_2-Negative", "covid19_neg", "S04500", "E08900")):
        root = base / release / folder
        root.mkdir(parents=True)
        (root / "participants.tsv").write_text(
            f"participant\tmodality_dicom\tage\tgender\nsub-{sub}\t['CR']\t[71]\tF\n")
        stem = f"sub-{sub}_ses-{ses}_run-1_bp-chest_vp-pa_cr"
        img(root / f"sub-{sub}" / f"ses-{ses}" / "mod-rx" / f"{stem}.png")
        (root / f"sub-{sub}" / f"ses-{ses}" / "mod-rx" / f"{stem}.json").write_text("{}")
    return base


def test_bimcv_label_from_the_publishers_folders(tmp_path):
    base = bimcv(tmp_path)
    pos = run_importer("bimcv", base / "BIMCV-COVID19-cIter_1_2")
    neg = run_importer("bimcv", base / "BIMCV-COVID19-cIter_1_2-Negative" / "covid19_neg")
    assert pos.frame["label"].tolist() == ["covid"] and neg.frame["label"].tolist() == ["negative"]
    both = import_dataset("bimcv", base)
    assert sorted(both.manifest.frame["label"]) == ["covid", "negative"] and both.report.dataset_version == "cIter_1_2"
    assert both.manifest.frame["patient_id"].tolist() == ["bimcv_S03047", "bimcv_S04500"]


# -- Kermany as Kaggle unpacks it, PadChest flat, the TB sets' common layouts, RSNA partial, NIH --------
def test_kermany_from_the_kaggle_archive(tmp_path):
    top = tmp_path / "chest_xray"
    for sub in ("", "chest_xray/"):  # the archive holds a second copy inside itself
        img(top / f"{sub}train/NORMAL/IM-0115-0001.jpeg")
        img(top / f"{sub}test/PNEUMONIA/person1_bacteria_1.jpeg")
    img(top / "__MACOSX/chest_xray/train/NORMAL/._IM-0115-0001.jpeg")
    img(top / "train/NORMAL/._IM-0115-0001.jpeg")
    (top / "train/.DS_Store").write_text("x")
    r = import_dataset("kermany", tmp_path)
    assert len(r.manifest) == 2 and not r.report.dropped


PADCHEST_HEADER = (",ImageID,ImageDir,StudyDate_DICOM,StudyID,PatientID,PatientBirth,PatientSex_DICOM,"
                   "ViewPosition_DICOM,Projection,MethodProjection,Pediatric,Modality_DICOM,Manufacturer_DICOM,"
                   "PhotometricInterpretation_DICOM,PixelRepresentation_DICOM,PixelAspectRatio_DICOM,"
                   "SpatialResolution_DICOM,BitsStored_DICOM,WindowCenter_DICOM,WindowWidth_DICOM,Rows_DICOM,"
                   "Columns_DICOM,XRayTubeCurrent_DICOM,Exposure_DICOM,ExposureInuAs_DICOM,ExposureTime,"
                   "RelativeXRayExposure_DICOM,ReportID,Report,MethodLabel,Labels,Localizations,"
                   "LabelsLocalizationsBySentence,labelCUIS,LocalizationsCUIS")
PADCHEST_ROWS = [
    '0,20536686640136348236148679891455886468_k6ga29.png,0,20140915,20536686640136348236148679891455886468,'
    '839860488694292331637988235681460987,1930.0,F,POSTEROANTERIOR,PA,Manual review of DICOM fields,No,CR,'
    'ImagingDynamicsCompanyLtd,MONOCHROME2,0,None,None,12,2092,2251,1728,1872,250,2,2500,10,-1.42,4765777, sin '
    "hallazg patolog edad pacient .,Physician,['normal'],[],\"[['normal'], ['normal']]\",[],[]",
    '1,135803415504923515076821959678074435083_fzis7d.png,0,20150914,135803415504923515076821959678074435083,'
    '313572750430997347502932654319389875966,1929.0,M,LATERAL,L,Manual review of DICOM fields,No,CR,'
    'ImagingDynamicsCompanyLtd,MONOCHROME2,0,None,None,12,2631,2065,3296,3236,400,10,10000,25,None,4991845, cambi '
    "pulmonar cronic sever .,Physician,\"['pulmonary fibrosis', 'chronic changes']\",\"['loc basal']\",\"[]\",[],[]",
]


def test_padchest_with_the_pngs_in_root(tmp_path):
    (tmp_path / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv").write_text(
        PADCHEST_HEADER + "\n" + "\n".join(PADCHEST_ROWS) + "\n")
    img(tmp_path / "20536686640136348236148679891455886468_k6ga29.png")
    img(tmp_path / "135803415504923515076821959678074435083_fzis7d.png")
    r = import_dataset("padchest", tmp_path)
    assert r.manifest.frame["label"].tolist() == ["normal", "other"] and not r.report.dropped
    assert r.report.dataset_version == "flat (PNGs in ROOT)" and r.manifest.frame["view"].tolist() == ["PA", "L"]


def test_tb_sets_in_their_common_layouts(tmp_path):
    seg = tmp_path / "Lung Segmentation"  # Kaggle's "Chest Xray Masks and Labels"
    for name in ("MCUCXR_0001_0.png", "MCUCXR_0002_1.png", "CHNCXR_0001_0.png"):
        img(seg / "CXR_png" / name)
    img(seg / "masks/MCUCXR_0001_0.png")
    img(seg / "masks/CHNCXR_0001_0_mask.png")
    mc = import_dataset("montgomery", tmp_path)
    assert mc.manifest.frame["mask_path"].tolist()[0].endswith("masks/MCUCXR_0001_0.png") and len(mc.manifest) == 2
    assert mc.report.dataset_version == "Lung Segmentation (Kaggle)"
    china = tmp_path / "ChinaSet_AllFiles"
    img(china / "CXR_png/CHNCXR_0001_0.png")
    img(china / "mask/mask/CHNCXR_0001_0_mask.png")  # the nested folder the archive unpacks to
    assert run_importer("shenzhen", china).frame["mask_path"][0].endswith("mask/mask/CHNCXR_0001_0_mask.png")
    bare = tmp_path / "bare"
    img(bare / "CXR_png/CHNCXR_0001_0.png")
    assert "no lung mask found" in import_dataset("shenzhen", bare).report.warnings[0]


def test_rsna_with_most_dicoms_absent(tmp_path):
    (tmp_path / "stage_2_train_labels.csv").write_text(
        "patientId,x,y,width,height,Target\n0004cfab-14fd-4e49-80ba-63a80b6bddd6,,,,,0\n"
        "00313ee0-9eaa-42f4-b0ab-c148ed3241cd,,,,,0\n00436515-870c-4b36-a041-de91049b9ab4,264.0,152.0,213.0,379.0,1\n"
        "00436515-870c-4b36-a041-de91049b9ab4,562.0,152.0,256.0,453.0,1\n")
    (tmp_path / "stage_2_train_images").mkdir()
    (tmp_path / "stage_2_train_images/00436515-870c-4b36-a041-de91049b9ab4.dcm").write_bytes(b"x")
    r = import_dataset("rsna-pneumonia", tmp_path)
    assert r.manifest.frame["n_boxes"].tolist() == [2] and r.report.dropped_by_reason == {"file absent": 2}
    assert len(import_dataset("rsna-pneumonia", tmp_path, keep_missing=True).manifest) == 3


def test_nih_as_downloaded(tmp_path):
    (tmp_path / "Data_Entry_2017_v2020.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
        "00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.14300000000000002,0.14300000000000002\n"
        "00000061_012.png,Edema|Effusion|Infiltration|Pleural_Thickening|Pneumonia,12,61,77,M,AP,3056,2544,0.139,0.139\n"
        "00000013_000.png,No Finding,0,13,60,M,PA,2992,2991,0.143,0.143\n")
    for n, folder in (("00000001_000.png", "images_001"), ("00000061_012.png", "images_001"),
                      ("00000013_000.png", "images_002")):
        img(tmp_path / folder / "images" / n)
    m = run_importer("nih-chestxray14", tmp_path)
    f = by_name(m)
    assert f["label"].tolist() == ["other", "pneumonia", "normal"]
    assert f.loc["00000061_012.png", "patient_id"] == "nih_61"
    assert (f.loc["00000061_012.png", "view"], f.loc["00000061_012.png", "orig_w"]) == ("AP", "3056")


# -- the front door --------------------------------------------------------------------------------
def test_dry_run_writes_nothing_and_no_case_gives_a_traceback(tmp_path):
    root = ieee8023(tmp_path / "ieee")
    r = runner.invoke(app, ["import", "covid-chestxray", str(root), "--out", str(tmp_path / "m.csv"), "--dry-run"])
    assert r.exit_code == 0 and not (tmp_path / "m.csv").exists() and not (tmp_path / "IMPORT.json").exists()
    said = " ".join(r.output.split())
    assert "ieee8023 (folder column)" in said and "duplicate row" in said and "12 rows read, 6 kept" in said
    for args in (["qata-cov19", str(tmp_path / "ieee")], ["bimcv", str(tmp_path)], ["figure1", str(tmp_path / "x")],
                 ["covid-chestxray", str(root), "--opt", "include_ct=perhaps"], ["padchest", str(root)]):
        r = runner.invoke(app, ["import", *args, "--out", str(tmp_path / "o.csv")])
        assert r.exit_code == 2 and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_synth_output_audits_with_no_label_option(tmp_path):
    assert runner.invoke(app, ["synth", "--preset", "isi", "--n", "16", "--size", "32", "--out", str(tmp_path / "d")]
                         ).exit_code == 0
    r = runner.invoke(app, ["audit", str(tmp_path / "d/manifest.csv"), "--no-files"])
    said = " ".join(r.output.split())
    assert r.exit_code == 0 and "taking 'normal' as negative and 'covid' as positive" in said, r.output
