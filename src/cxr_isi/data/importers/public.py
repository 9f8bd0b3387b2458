"""Importers for the negative-class collections of this literature: Kermany (Guangzhou),
Montgomery and Shenzhen (TB sets), RSNA pneumonia, and PadChest."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cxr_isi.data.importers import list_images, register, require
from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import ImporterError

_KERMANY_PNEU = re.compile(r"^(person\d+)_(bacteria|virus)", re.IGNORECASE)
_KERMANY_NORMAL = re.compile(r"^((?:NORMAL2-)?IM-\d+)", re.IGNORECASE)


@register("kermany")
def kermany(root: Path, source: str = "Kermany_GWCMC_pediatric") -> Manifest:
    """Kermany et al. 2018 paediatric pneumonia set (Guangzhou Women and Children's Medical Center).

    Layout: ``ROOT/{train,test,val}/{NORMAL,PNEUMONIA}/*.jpeg`` (``ROOT`` may also be the folder
    above ``chest_xray/``). Labels normal / other_pneumonia, with ``pneumonia_type`` bacteria or
    virus; patient from the file name (``person123_...`` -> ``kermany_person123``,
    ``IM-0115-0001`` -> ``kermany_IM-0115``); the official split is kept as ``orig_split``
    (not as ``split``: re-split by patient with ``cxr-isi split``).
    """
    if (root / "chest_xray").is_dir():
        root = root / "chest_xray"
    rows = []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for cls_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            cls = cls_dir.name.upper()
            if cls not in ("NORMAL", "PNEUMONIA"):
                continue
            for img in list_images(cls_dir, recursive=False):
                m = (_KERMANY_PNEU if cls == "PNEUMONIA" else _KERMANY_NORMAL).match(img.name)
                if not m:
                    raise ImporterError(f"{img}: file name does not follow Kermany's naming "
                                        "(person<N>_<bacteria|virus>_... or IM-<N>-...)")
                rows.append({
                    "path": str(img), "label": "normal" if cls == "NORMAL" else "other_pneumonia",
                    "source": source, "patient_id": f"kermany_{m.group(1)}",
                    "pneumonia_type": m.group(2).lower() if cls == "PNEUMONIA" else "",
                    "orig_split": split_dir.name.lower(),
                })
    if not rows:
        raise ImporterError(f"{root}: no images; expected ROOT/<train|test|val>/<NORMAL|PNEUMONIA>/")
    return Manifest.from_frame(pd.DataFrame(rows), origin=f"kermany importer at {root}")


def _tb_set(root: Path, prefix: str, source: str, name: str, mask_for) -> Manifest:
    images = require(root / "CXR_png", "CXR_png/<PREFIX>_<NNNN>_<0|1>.png", name)
    rows = []
    for img in list_images(images, recursive=False):
        m = re.match(rf"^{prefix}_(\d+)_([01])$", img.stem)
        if not m:
            continue
        mask = mask_for(img)
        rows.append({"path": str(img), "label": "tb" if m.group(2) == "1" else "normal",
                     "source": source, "patient_id": f"{name}_{m.group(1)}",
                     "mask_path": str(mask) if mask else "",
                     "mask_kind": f"{name}_manual" if mask else ""})
    if not rows:
        raise ImporterError(f"{images}: no {prefix}_<NNNN>_<0|1>.png images")
    return Manifest.from_frame(pd.DataFrame(rows), origin=f"{name} importer at {root}")


@register("montgomery")
def montgomery(root: Path, mask_out: str | None = None,
               source: str = "Montgomery_County_MD") -> Manifest:
    """Montgomery County TB set (NLM): normal vs tuberculosis, with manual lung masks.

    Layout: ``ROOT/CXR_png/MCUCXR_<NNNN>_<0|1>.png`` (the last digit: 1 = TB) and masks in
    ``ROOT/ManualMask/{leftMask,rightMask}/<same name>``. The two lung masks are merged into one
    file per image under ``mask_out`` (default ``ROOT/../montgomery_masks``); give a writable
    folder when ``ROOT`` is read-only.
    """
    out = Path(mask_out) if mask_out else root.parent / "montgomery_masks"

    def mask_for(img: Path) -> Path | None:
        left = root / "ManualMask" / "leftMask" / img.name
        right = root / "ManualMask" / "rightMask" / img.name
        if not (left.exists() and right.exists()):
            return None
        target = out / img.name
        if not target.exists():
            out.mkdir(parents=True, exist_ok=True)
            both = np.maximum(np.asarray(Image.open(left).convert("L")),
                              np.asarray(Image.open(right).convert("L")))
            Image.fromarray(((both > 127) * 255).astype(np.uint8)).save(target)
        return target

    return _tb_set(root, "MCUCXR", source, "montgomery", mask_for)


@register("shenzhen")
def shenzhen(root: Path, source: str = "Shenzhen_No3_Hospital") -> Manifest:
    """Shenzhen No.3 Hospital TB set (NLM): normal vs tuberculosis, with manual lung masks.

    Layout: ``ROOT/CXR_png/CHNCXR_<NNNN>_<0|1>.png`` (1 = TB) and, where present, the masks of
    Stirenko et al. 2018 as ``ROOT/mask/CHNCXR_<NNNN>_<0|1>_mask.png`` (``masks/`` also works).
    """

    def mask_for(img: Path) -> Path | None:
        for folder in ("mask", "masks"):
            for name in (f"{img.stem}_mask.png", img.name):
                p = root / folder / name
                if p.exists():
                    return p
        return None

    return _tb_set(root, "CHNCXR", source, "shenzhen", mask_for)


@register("rsna-pneumonia")
def rsna_pneumonia(root: Path, labels_csv: str = "stage_2_train_labels.csv",
                   class_csv: str = "stage_2_detailed_class_info.csv",
                   images: str = "stage_2_train_images", source: str = "RSNA") -> Manifest:
    """RSNA Pneumonia Detection Challenge (NIH ChestX-ray14 images, RSNA labels).

    Layout: ``ROOT/stage_2_train_labels.csv`` (``patientId,x,y,width,height,Target``, one row per
    box), optionally ``ROOT/stage_2_detailed_class_info.csv`` (``patientId,class``), and DICOMs at
    ``ROOT/stage_2_train_images/<patientId>.dcm``. Labels: ``lung_opacity`` (Target 1), and with
    the class file ``normal`` or ``not_normal`` (no opacity, not normal), else ``no_lung_opacity``.
    One image per patient; ``n_boxes`` counts the opacity boxes.
    """
    table = pd.read_csv(require(root / labels_csv, labels_csv, "rsna-pneumonia"))
    for col in ("patientId", "Target"):
        if col not in table.columns:
            raise ImporterError(f"{root / labels_csv}: missing column {col!r}")
    per = table.groupby("patientId", sort=True).agg(target=("Target", "max"),
                                                    n_boxes=("Target", "sum")).reset_index()
    classes = {}
    if (root / class_csv).exists():
        info = pd.read_csv(root / class_csv).drop_duplicates("patientId")
        classes = dict(zip(info["patientId"], info["class"], strict=True))
    labels = []
    for pid, target in zip(per["patientId"], per["target"], strict=True):
        if target == 1:
            labels.append("lung_opacity")
        elif pid in classes:
            labels.append("normal" if classes[pid] == "Normal" else "not_normal")
        else:
            labels.append("no_lung_opacity")
    frame = pd.DataFrame({
        "path": [str(root / images / f"{pid}.dcm") for pid in per["patientId"]],
        "label": labels, "source": source, "patient_id": "rsna_" + per["patientId"].astype(str),
        "n_boxes": per["n_boxes"].astype(int),
    })
    return Manifest.from_frame(frame, origin=f"rsna-pneumonia importer at {root}")


def padchest_label(labels: list[str]) -> str:
    """covid / other_pneumonia / normal / other, from a PadChest label list."""
    low = [s.strip().lower() for s in labels]
    if any("covid" in s for s in low):
        return "covid"
    if any("pneumonia" in s for s in low):
        return "other_pneumonia"
    if low and all(s == "normal" for s in low):
        return "normal"
    return "other"


@register("padchest")
def padchest(root: Path, csv: str = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv",
             source: str = "PadChest_HUSJ") -> Manifest:
    """PadChest (Hospital San Juan, Alicante): 16-bit PNGs with report-derived labels.

    Layout: ``ROOT/<csv>`` with columns ``ImageID, ImageDir, PatientID, Projection, Labels``
    (``Labels`` a list literal such as ``['normal']``), images at ``ROOT/<ImageDir>/<ImageID>``
    (or ``ROOT/images/<ImageID>`` when ``ImageDir`` folders are absent). Label: covid, else
    other_pneumonia when any label names pneumonia, normal when the only label is normal, other
    otherwise; ``orig_labels`` keeps the list. View from ``Projection``.
    """
    file = require(root / csv, csv, "padchest")
    table = pd.read_csv(file, dtype=str, keep_default_na=False, low_memory=False)
    for col in ("ImageID", "PatientID", "Labels"):
        if col not in table.columns:
            raise ImporterError(f"{file}: missing column {col!r}")
    paths, labels = [], []
    for i, row in enumerate(table.itertuples(index=False)):
        d = getattr(row, "ImageDir", "")
        p = root / str(d) / row.ImageID
        paths.append(str(p if p.exists() or not (root / "images").is_dir() else root / "images" / row.ImageID))
        try:
            parsed = ast.literal_eval(row.Labels) if row.Labels.strip() else []
        except (ValueError, SyntaxError):
            raise ImporterError(f"{file} row {i + 1}: Labels {row.Labels!r} is not a list") from None
        labels.append(padchest_label([str(x) for x in parsed]))
    frame = table.rename(columns={"Labels": "orig_labels"})
    frame["path"], frame["label"], frame["source"] = paths, labels, source
    frame["patient_id"] = "padchest_" + table["PatientID"].astype(str)
    if "Projection" in table.columns:
        frame["view"] = table["Projection"]
    return Manifest.from_frame(frame, origin=f"padchest importer at {file}")
