"""Importers for the COVID-19 collections of the paper: QaTa-COV19, BIMCV-COVID19+/-, and the
covid-chestxray-dataset (ieee8023)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from cxr_isi.data.importers import list_images, register, require
from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import ImporterError


@register("qata-cov19")
def qata_cov19(root: Path, sources_csv: str | None = None) -> Manifest:
    """QaTa-COV19 (Qatar University / Tampere): COVID-19 vs control images.

    Layout (v2): ``ROOT/{Train Set,Test Set}/Images/<name>.png`` with infection masks in
    ``.../Ground-truths/mask_<name>.png``; COVID-19 images are named ``covid_*``, all others are
    controls. Layout (v1) also works: ``ROOT/**/Images/`` folders anywhere below ``ROOT``.
    ``split`` comes from the Train/Test folder. The release says neither the source nor the
    patient of an image: sources default to ``qata:covid`` and ``qata:control`` (the paper's
    five positive and five negative collections) unless ``sources_csv`` (columns ``filename,
    source``) names them, and every image is its own patient. The ground truths outline the
    infection, not the lungs, so they go to ``infection_mask_path``, never ``mask_path``.
    """
    folders = sorted(p for p in root.rglob("*") if p.is_dir() and p.name.lower() == "images")
    if not folders:
        raise ImporterError(f"{root}: no 'Images' folder below it; the qata-cov19 importer "
                            "expects ROOT/<Train Set|Test Set>/Images/*.png")
    sources = {}
    if sources_csv:
        s = pd.read_csv(require(Path(sources_csv), "a CSV with filename,source", "qata-cov19"),
                        dtype=str, keep_default_na=False)
        sources = dict(zip(s["filename"], s["source"], strict=True))
    rows = []
    for folder in folders:
        parent = folder.parent.name.lower()
        split = "test" if "test" in parent else "train" if "train" in parent else ""
        gt = folder.parent / "Ground-truths"
        for img in list_images(folder, recursive=False):
            covid = img.name.lower().startswith("covid")
            label = "covid" if covid else "control"
            mask = gt / f"mask_{img.name}"
            rows.append({
                "path": str(img), "label": label,
                "source": sources.get(img.name, f"qata:{label}"),
                "patient_id": f"qata_{img.stem}", "split": split,
                "infection_mask_path": str(mask) if mask.exists() else "",
            })
    if not rows:
        raise ImporterError(f"{root}: 'Images' folders hold no images")
    return Manifest.from_frame(pd.DataFrame(rows), origin=f"qata-cov19 importer at {root}")


_BIDS_ENTITY = re.compile(r"(?:^|_)([a-z]+)-([A-Za-z0-9]+)")


@register("bimcv")
def bimcv(root: Path, label: str | None = None, source: str = "BIMCV") -> Manifest:
    """BIMCV-COVID19+ or BIMCV-COVID19- (Valencia region), in their BIDS layout.

    Layout: ``ROOT/participants.tsv`` and
    ``ROOT/sub-<S>/ses-<E>/mod-rx/sub-<S>_ses-<E>_run-<n>_bp-chest_vp-<pa|ap|ll>_<cr|dx>.png``.
    Run once per release: ``label`` says the class of the whole release (default: ``covid``
    when the folder name has ``+`` or ``positive``, ``negative`` when it has ``-`` or
    ``negative``). Patient = ``sub``, session = ``ses``, view = ``vp``, modality from the suffix.
    Both releases come from one facility, hence one ``source``: intra-source balanced.
    """
    require(root / "participants.tsv", "participants.tsv (BIDS)", "bimcv")
    if label is None:
        name = root.name.lower()
        if "+" in name or "positive" in name:
            label = "covid"
        elif name.endswith("-") or "covid19-" in name or "negative" in name:
            label = "negative"
        else:
            raise ImporterError(f"{root}: cannot tell from the folder name whether this is "
                                "BIMCV-COVID19+ or -; pass label=covid or label=negative")
    participants = set(pd.read_csv(root / "participants.tsv", sep="\t", dtype=str)
                       .iloc[:, 0].astype(str))
    rows = []
    for img in list_images(root):
        if img.suffix.lower() not in (".png", ".dcm") or "mod-rx" not in img.parts:
            continue
        ents = dict(_BIDS_ENTITY.findall(img.stem))
        sub = ents.get("sub") or next((p[4:] for p in img.parts if p.startswith("sub-")), None)
        if not sub:
            continue
        if participants and f"sub-{sub}" not in participants and sub not in participants:
            raise ImporterError(f"{img}: subject sub-{sub} is not in participants.tsv")
        rows.append({"path": str(img), "label": label, "source": source,
                     "patient_id": f"bimcv_{sub}", "session": ents.get("ses", ""),
                     "view": ents.get("vp", "").upper(),
                     "modality": img.stem.rsplit("_", 1)[-1].upper()})
    if not rows:
        raise ImporterError(f"{root}: no images under sub-*/ses-*/mod-rx/")
    return Manifest.from_frame(pd.DataFrame(rows), origin=f"bimcv importer at {root}")


def covid_chestxray_label(finding: str) -> str:
    """Map a covid-chestxray-dataset ``finding`` to covid / normal / tb / other_pneumonia."""
    f = finding.lower()
    if "covid" in f:
        return "covid"
    if "no finding" in f:
        return "normal"
    if "tuberculosis" in f:
        return "tb"
    return "other_pneumonia"


@register("covid-chestxray")
def covid_chestxray(root: Path, metadata: str = "metadata.csv", include_ct: bool = False) -> Manifest:
    """covid-chestxray-dataset (Cohen et al., ieee8023): many publishers, mostly COVID-19.

    Layout: ``ROOT/metadata.csv`` with columns ``patientid, finding, view, modality, folder,
    filename, url`` (and more, kept), images at ``ROOT/<folder>/<filename>``. Label from
    ``finding`` (COVID-19 -> covid, No Finding -> normal, Tuberculosis -> tb, any other finding
    -> other_pneumonia); source is the publishing site, ``ieee8023:<host of url>``, because the
    images of one site share its processing; patient ``ieee8023_<patientid>``. CT rows are left
    out unless ``include_ct``.
    """
    meta = pd.read_csv(require(root / metadata, "metadata.csv", "covid-chestxray"), dtype=str,
                       keep_default_na=False)
    need = ["patientid", "finding", "filename"]
    missing = [c for c in need if c not in meta.columns]
    if missing:
        raise ImporterError(f"{root / metadata}: missing column {missing[0]!r}")
    if "modality" in meta.columns and not include_ct:
        meta = meta[meta["modality"].str.lower() != "ct"]
    folder = meta["folder"] if "folder" in meta.columns else pd.Series("images", index=meta.index)
    url = meta["url"] if "url" in meta.columns else pd.Series("", index=meta.index)
    out = meta.copy()
    out["path"] = [str(root / f / n) for f, n in zip(folder, meta["filename"], strict=True)]
    out["label"] = meta["finding"].map(covid_chestxray_label)
    out["source"] = ["ieee8023:" + (urlparse(u).netloc or "unknown") for u in url]
    out["patient_id"] = "ieee8023_" + meta["patientid"].astype(str)
    out = out.rename(columns={"finding": "orig_label"})
    return Manifest.from_frame(out.reset_index(drop=True), origin=f"covid-chestxray importer at {root}")
