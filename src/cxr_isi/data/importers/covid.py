"""Importers for the COVID-19 collections of the paper: QaTa-COV19, BIMCV-COVID19+/-, the
covid-chestxray-dataset (ieee8023) and agchung's Figure1 and Actualmed collections."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from cxr_isi.data.importers import (
    UNKNOWN,
    Imported,
    find_below,
    list_images,
    read_table,
    register,
    require,
    require_columns,
    set_aside,
)
from cxr_isi.errors import ImporterError

_BIDS_ENTITY = re.compile(r"(?:^|_)([a-z]+)-([A-Za-z0-9]+)")


def bids_entities(name: str) -> dict[str, str]:
    """``sub-S09466_ses-E17059_run-1_bp-chest_vp-pa_dx`` -> ``{"sub": "S09466", "ses": "E17059", ...}``."""
    return dict(_BIDS_ENTITY.findall(name))


@register("qata-cov19")
def qata_cov19(root: Path, sources_csv: str | None = None) -> Imported:
    """QaTa-COV19 (Qatar University / Tampere): COVID-19 vs control images.

    Layout, from the folder unpacked (the Kaggle root ``QaTa-COV19/`` or any folder below it):
    v2: ``QaTa-COV19-v2/{Train Set,Test Set}/Images/<name>.png`` with infection masks in
    ``.../Ground-truths/mask_<name>.png`` (every image there is COVID-19) and the controls in
    ``Control_Group/Control_Group_I|II/*.png``; v1: ``Images/`` folders without Train/Test
    sets, COVID-19 images named ``covid_*`` or having a ground truth, the others controls.
    ``dataset_version`` says which. Labels ``covid`` and ``control``; ``split`` from the
    Train/Test folder. Identity from the names: an image named in BIMCV's BIDS style
    (``sub-S09466_ses-E17059_...``) came from BIMCV-COVID19+, so its source is ``BIMCV`` and its
    patient ``bimcv_S09466`` (the ids the bimcv importer gives, so the overlap between the two
    datasets shows); other positives are ``qata:covid`` (unless ``sources_csv``, columns
    ``filename, source``, names them), controls ``qata:<control group>``; a patient per image
    where the name says none. The ground truths outline the infection, not the lungs:
    ``infection_mask_path``, never ``mask_path``.
    """
    folders = [p for d in find_below(root, lambda d: d.name == "Images" or d.name.lower().startswith(
        "control_group"), depth=4) for p in ([d] if d.name == "Images" else _control_folders(d))]
    if not folders:
        raise ImporterError(f"{root}: no 'Images' or 'Control_Group' folder below it; the qata-cov19 importer "
                            "expects QaTa-COV19-v2/<Train Set|Test Set>/Images/ and Control_Group/")
    v2 = any(f.parent.name.lower() in ("train set", "test set") for f in folders)
    sources: dict[str, str] = {}
    if sources_csv:
        table, _ = read_table(require(Path(sources_csv), "a CSV with filename,source", "qata-cov19"))
        require_columns(table, ["filename", "source"], Path(sources_csv))
        sources = dict(zip(table["filename"], table["source"], strict=True))
    rows = []
    for folder in folders:
        control_group = folder.name if folder.name.lower().startswith("control_group") else None
        parent = folder.parent.name.lower()
        split = "test" if "test" in parent else "train" if "train" in parent else ""
        gt = folder.parent / "Ground-truths"
        for img in list_images(folder, recursive=control_group is not None):
            mask = gt / f"mask_{img.name}"
            if control_group:
                label = "control"
            elif v2:
                label = "covid"
            else:
                label = "covid" if img.name.lower().startswith("covid") or mask.exists() else "control"
            ents = bids_entities(img.stem)
            if "sub" in ents:
                source, patient = "BIMCV", f"bimcv_{ents['sub']}"
            else:
                source = f"qata:{control_group}" if control_group else f"qata:{label}"
                patient = f"qata_{img.stem}"
            rows.append({"path": str(img), "label": label, "source": sources.get(img.name, source),
                         "patient_id": patient, "session": ents.get("ses", ""), "split": split,
                         "infection_mask_path": str(mask) if mask.exists() else ""})
    if not rows:
        raise ImporterError(f"{root}: the 'Images' and 'Control_Group' folders hold no images")
    return Imported(pd.DataFrame(rows), version="v2" if v2 else "v1")


def _control_folders(d: Path) -> list[Path]:
    """``Control_Group/`` holds ``Control_Group_I|II``; each is one group (images may sit in it)."""
    subs = sorted(p for p in d.iterdir() if p.is_dir() and p.name.lower().startswith("control_group"))
    return subs or [d]


_POSITIVE = re.compile(r"posi|positive|\+", re.IGNORECASE)
_NEGATIVE = re.compile(r"(?:^|[_-])neg|negative|covid19-$", re.IGNORECASE)


def _bimcv_label(folder: Path, root: Path) -> str | None:
    """covid / negative from the publisher's folder names (``covid19_posi``,
    ``BIMCV-COVID19-cIter_1_2-Negative/covid19_neg``, ``BIMCV-COVID19+``), nearest first."""
    for part in reversed(folder.relative_to(root.parent).parts):
        if _NEGATIVE.search(part):
            return "negative"
        if _POSITIVE.search(part):
            return "covid"
    return None


@register("bimcv")
def bimcv(root: Path, label: str | None = None, source: str = "BIMCV") -> Imported:
    """BIMCV-COVID19+ and BIMCV-COVID19- (Valencia region), in their BIDS layout.

    Layout, as published: ``BIMCV-COVID19-cIter_1_2/covid19_posi/`` and
    ``BIMCV-COVID19-cIter_1_2-Negative/covid19_neg/``, each with ``participants.tsv`` and
    ``sub-<S>/ses-<E>/mod-rx/sub-<S>_ses-<E>_run-<n>_bp-chest_vp-<pa|ap|ll>_<cr|dx>.png`` (JSON
    sidecars beside them). ``ROOT`` may be either release, or a folder holding both. Label per
    release from the publisher's folder names (``posi``/``+``/``positive`` -> ``covid``,
    ``neg``/``negative`` -> ``negative``), or ``label`` for a renamed folder. Patient ``bimcv_<S>``
    (the BIDS subject), ``session`` ``<E>``, ``view`` from ``vp``, modality from the suffix.
    Both releases come from one health department, hence one ``source``: intra-source balanced.
    ``dataset_version`` is the release folder's iteration (``cIter_1_2``) where named.
    """
    releases = find_below(root, lambda d: (d / "participants.tsv").is_file(), depth=3)
    if not releases:
        raise ImporterError(f"{root}: no participants.tsv at or below it; the bimcv importer expects the BIDS "
                            "release (covid19_posi/ or covid19_neg/ with participants.tsv)")
    rows, versions = [], set()
    for rel in releases:
        lab = label or _bimcv_label(rel, root)
        if lab is None:
            raise ImporterError(f"{rel}: cannot tell from the folder names whether this is BIMCV-COVID19+ or -; "
                                "pass --opt label=covid or label=negative")
        participants, _ = read_table(rel / "participants.tsv", sep="\t")
        subjects = set(participants.iloc[:, 0].astype(str)) if participants.shape[1] > 1 else set()
        it = re.search(r"cIter_[0-9_]+", str(rel))
        versions.add(it.group(0).rstrip("_") if it else "BIDS")
        for img in list_images(rel):
            if img.suffix.lower() not in (".png", ".dcm") or "mod-rx" not in img.parts:
                continue
            ents = bids_entities(img.stem)
            sub = ents.get("sub") or next((p[4:] for p in img.parts if p.startswith("sub-")), None)
            if not sub:
                continue
            if subjects and f"sub-{sub}" not in subjects and sub not in subjects:
                raise ImporterError(f"{img}: subject sub-{sub} is not in {rel / 'participants.tsv'}")
            rows.append({"path": str(img), "label": lab, "source": source, "patient_id": f"bimcv_{sub}",
                         "session": ents.get("ses", ""), "view": ents.get("vp", "").upper(),
                         "modality": img.stem.rsplit("_", 1)[-1].upper()})
    if not rows:
        raise ImporterError(f"{root}: no images under sub-*/ses-*/mod-rx/")
    return Imported(pd.DataFrame(rows), version="+".join(sorted(versions)))


_FRONTAL = re.compile(r"^(pa|ap)\b", re.IGNORECASE)


def covid_chestxray_label(finding: str) -> str:
    """A covid-chestxray-dataset ``finding`` (hierarchical since mid-2020:
    ``Pneumonia/Viral/COVID-19``; before, the leaf alone: ``SARS``, ``Klebsiella``) as covid /
    normal / tb / other_pneumonia / other / unknown.

    ``todo``, ``Unknown`` and a blank finding are unknown (the publisher has not said; 23 of the
    ``todo`` rows are radiopaedia COVID-19 cases, so guessing would mislabel them). ``ARDS`` alone
    is a syndrome, not a pneumonia: ``other``. Every other finding of this collection of
    pneumonias (the hierarchical ``Pneumonia/...`` and the early leaves, all pathogens of one)
    is ``other_pneumonia``.
    """
    f = finding.strip().lower()
    if f in ("", "todo", "unknown", "nan"):
        return UNKNOWN
    if "covid" in f:
        return "covid"
    if "no finding" in f or f in ("normal", "negative"):
        return "normal"
    if "tuberculosis" in f:
        return "tb"
    if f == "ards":
        return "other"
    return "other_pneumonia"


def _metadata_rows(root: Path, metadata: str, include_ct: bool, include_lateral: bool,
                   collection: str | None) -> Imported:
    """The metadata.csv family: ieee8023's and agchung's collections share its columns."""
    base = find_below(root, lambda d: (d / metadata).is_file(), depth=3)
    if not base:
        require(root / metadata, "metadata.csv", collection.lower() if collection else "covid-chestxray")
    root = base[0]
    file = root / metadata
    meta, warnings = read_table(file)
    require_columns(meta, ["patientid", "finding"], file)
    dropped: list[dict] = []
    rows_read = len(meta)
    name_col = "filename" if "filename" in meta.columns else "imagename" if "imagename" in meta.columns else "patientid"
    if "modality" in meta.columns and not include_ct:
        meta = set_aside(meta, meta["modality"].str.strip().str.lower() == "ct", "CT, not an X-ray", "modality CT",
                         dropped, name_col)
    if "view" in meta.columns and not include_lateral:
        view = meta["view"].str.strip()
        meta = set_aside(meta, (view != "") & ~view.str.match(_FRONTAL), "not a frontal view",
                         lambda r: f"view {r['view']}", dropped, name_col)
    if "filename" in meta.columns:
        version = "ieee8023 (folder column)" if "folder" in meta.columns else "ieee8023 (2020-03, no folder column)"
        folder = meta["folder"] if "folder" in meta.columns else pd.Series("images", index=meta.index)
        names = meta["filename"]
    elif "imagename" in meta.columns:  # agchung's Actualmed collection
        version, folder, names = "agchung actualmed", pd.Series("images", index=meta.index), meta["imagename"]
    else:  # agchung's Figure1 collection: the image is named by its patientid
        version, folder = "agchung figure1", pd.Series("images", index=meta.index)
        on_disk = {p.stem: p.name for p in list_images(root / "images", recursive=False)} if (
            root / "images").is_dir() else {}
        names = meta["patientid"].map(lambda s: on_disk.get(s, f"{s}.jpg"))
    out = meta.copy()
    out["path"] = [str(root / f / n) for f, n in zip(folder, names, strict=True)]
    out["label"] = meta["finding"].map(covid_chestxray_label)
    pid = meta["patientid"].astype(str).str.strip()
    if version.startswith("agchung"):
        name = collection or ("Figure1" if "figure1" in version else "Actualmed")
        out["source"] = name
        # Figure1 lists follow-ups of one patient as COVID-00003a, COVID-00003b
        out["patient_id"] = f"{name.lower()}_" + pid.str.replace(r"(?<=\d)[a-z]$", "", regex=True)
    else:
        url = meta["url"] if "url" in meta.columns else pd.Series("", index=meta.index)
        out["source"] = ["ieee8023:" + (urlparse(u).netloc or "unknown") for u in url]
        out["patient_id"] = "ieee8023_" + pid
    out = out.rename(columns={"finding": "orig_label"})
    return Imported(out, version=version, dropped=dropped, warnings=warnings, rows_read=rows_read)


@register("covid-chestxray")
def covid_chestxray(root: Path, metadata: str = "metadata.csv", include_ct: bool = False,
                    include_lateral: bool = False) -> Imported:
    """covid-chestxray-dataset (Cohen et al., ieee8023): many publishers, mostly COVID-19.

    Layout, the repository as cloned: ``ROOT/metadata.csv`` (``patientid, offset, sex, age,
    finding, RT_PCR_positive, ..., view, modality, date, location, folder, filename, doi, url,
    license, clinical_notes, other_notes``; the early 2020 release has no ``folder``) and images at
    ``ROOT/<folder>/<filename>``. agchung's Figure1 and Actualmed collections share the
    columns and are read too (see ``figure1`` and ``actualmed``). Label from ``finding``
    (:func:`covid_chestxray_label`: COVID-19 -> covid, No Finding -> normal, Tuberculosis -> tb,
    other pneumonias -> other_pneumonia, ARDS alone -> other; todo/Unknown/blank -> unknown,
    left out and listed). Only frontal X-rays (PA, AP, AP supine, ...): CT rows and lateral views
    are left out and listed unless ``include_ct`` / ``include_lateral``. Source: the publishing
    site, ``ieee8023:<host of url>``, because the images of one site share its processing;
    patient ``ieee8023_<patientid>``. A file listed twice (the publisher lists a few under two
    patient ids) is kept once and listed with both ``metadata.csv`` lines.
    """
    return _metadata_rows(root, metadata, include_ct, include_lateral, None)


@register("figure1")
def figure1(root: Path, include_lateral: bool = False) -> Imported:
    """Figure1-COVID-chestxray-dataset (agchung, from the Figure 1 platform).

    Layout, the repository as cloned: ``ROOT/metadata.csv`` (``patientid, offset, sex, age,
    finding, survival, temperature, pO2 saturation, view, modality, artifacts/distortion, notes``;
    Windows-1252 bytes in it, read with a warning) and ``ROOT/images/<patientid>.<jpg|png>``.
    Label from ``finding`` as in covid-chestxray (a blank finding is unknown: left out and
    listed). Source ``Figure1``; patient ``figure1_<patientid>`` without its follow-up letter
    (``COVID-00003a`` and ``COVID-00003b`` are one patient).
    """
    return _metadata_rows(root, "metadata.csv", False, include_lateral, "Figure1")


@register("actualmed")
def actualmed(root: Path, include_lateral: bool = False) -> Imported:
    """Actualmed-COVID-chestxray-dataset (agchung, Actualmed and Universitat Jaume I).

    Layout, the repository as cloned: ``ROOT/metadata.csv`` (``patientid, offset, sex, age,
    finding, survival, temperature, pO2 saturation, view, modality, imagename,
    artifacts/distortion, notes``) and ``ROOT/images/<imagename>``. Label from ``finding``
    (COVID-19 -> covid, No finding -> normal; a blank finding, "Inconclusive" in the notes, is
    unknown: left out and listed). Source ``Actualmed``; patient ``actualmed_<patientid>``.
    """
    return _metadata_rows(root, "metadata.csv", False, include_lateral, "Actualmed")
