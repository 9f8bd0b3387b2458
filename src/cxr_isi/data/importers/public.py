"""Importers for the negative-class collections of this literature: Kermany (Guangzhou),
Montgomery and Shenzhen (TB sets), RSNA pneumonia, and PadChest."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cxr_isi.data.importers import Imported, find_below, list_images, read_table, register, require, require_columns
from cxr_isi.errors import ImporterError

_KERMANY_PNEU = re.compile(r"^(person\d+)_(bacteria|virus)", re.IGNORECASE)
_KERMANY_NORMAL = re.compile(r"^((?:NORMAL2-)?IM-\d+)", re.IGNORECASE)


@register("kermany")
def kermany(root: Path, source: str = "Kermany_GWCMC_pediatric") -> Imported:
    """Kermany et al. 2018 paediatric pneumonia set (Guangzhou Women and Children's Medical Center).

    Layout: ``ROOT/{train,test,val}/{NORMAL,PNEUMONIA}/*.jpeg``; ``ROOT`` may be any folder above
    it, as Kaggle's archive unpacks (``chest_xray/chest_xray/``, ``__MACOSX/`` and ``._*`` files
    beside it, all ignored). Labels normal / other_pneumonia, with ``pneumonia_type`` bacteria or
    virus; patient from the file name (``person123_...`` -> ``kermany_person123``,
    ``IM-0115-0001`` -> ``kermany_IM-0115``); the official split is kept as ``orig_split``
    (not as ``split``: re-split by patient with ``cxr-isi split``).
    """
    def has_classes(d: Path) -> bool:
        return any((d / s / c).is_dir() for s in ("train", "test", "val") for c in ("NORMAL", "PNEUMONIA"))

    found = find_below(root, has_classes, depth=3)
    root = found[0] if found else root
    rows = []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))):
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
    return Imported(pd.DataFrame(rows), version="Kermany 2018 (chest_xray)")


def _tb_set(root: Path, prefix: str, source: str, name: str, mask_for) -> Imported:
    found = find_below(root, lambda d: (d / "CXR_png").is_dir(), depth=3)
    root = found[0] if found else root
    images = require(root / "CXR_png", f"CXR_png/{prefix}_<NNNN>_<0|1>.png", name)
    masks = _mask_files(root)
    rows = []
    for img in list_images(images, recursive=False):
        m = re.match(rf"^{prefix}_(\d+)_([01])$", img.stem)
        if not m:
            continue
        mask = mask_for(root, img, masks)
        rows.append({"path": str(img), "label": "tb" if m.group(2) == "1" else "normal",
                     "source": source, "patient_id": f"{name}_{m.group(1)}",
                     "mask_path": str(mask) if mask else "",
                     "mask_kind": f"{name}_manual" if mask else ""})
    if not rows:
        raise ImporterError(f"{images}: no {prefix}_<NNNN>_<0|1>.png images")
    n_masks = sum(bool(r["mask_path"]) for r in rows)
    layout = "Lung Segmentation (Kaggle)" if root.name.lower() == "lung segmentation" else "NLM"
    warnings = [] if n_masks else [f"{root}: no lung mask found for any of {len(rows)} images "
                                   "(looked in ManualMask/, mask/, masks/ and below)"]
    return Imported(pd.DataFrame(rows), version=layout, warnings=warnings)


def _mask_files(root: Path) -> dict[str, Path]:
    """Every PNG under a ``mask``/``masks`` folder (nested ones too: ``mask/mask/``), by name."""
    found: dict[str, Path] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() in ("mask", "masks")):
        for p in list_images(d):
            found.setdefault(p.name, p)
    return found


@register("montgomery")
def montgomery(root: Path, mask_out: str | None = None,
               source: str = "Montgomery_County_MD") -> Imported:
    """Montgomery County TB set (NLM): normal vs tuberculosis, with manual lung masks.

    Layouts: NLM's ``ROOT/CXR_png/MCUCXR_<NNNN>_<0|1>.png`` (the last digit: 1 = TB) with masks
    in ``ROOT/ManualMask/{leftMask,rightMask}/<same name>``, merged into one file per image under
    ``mask_out`` (default ``ROOT/../montgomery_masks``; give a writable folder when ``ROOT`` is
    read-only); or Kaggle's "Lung Segmentation" (``CXR_png/`` with Shenzhen's images too, and
    merged masks in ``masks/MCUCXR_<NNNN>_<0|1>.png``), used as they are.
    """
    out = Path(mask_out) if mask_out else root.parent / "montgomery_masks"

    def mask_for(base: Path, img: Path, masks: dict[str, Path]) -> Path | None:
        left = base / "ManualMask" / "leftMask" / img.name
        right = base / "ManualMask" / "rightMask" / img.name
        if not (left.exists() and right.exists()):
            return masks.get(img.name) or masks.get(f"{img.stem}_mask.png")
        target = out / img.name
        if not target.exists():
            out.mkdir(parents=True, exist_ok=True)
            both = np.maximum(np.asarray(Image.open(left).convert("L")),
                              np.asarray(Image.open(right).convert("L")))
            Image.fromarray(((both > 127) * 255).astype(np.uint8)).save(target)
        return target

    return _tb_set(root, "MCUCXR", source, "montgomery", mask_for)


@register("shenzhen")
def shenzhen(root: Path, source: str = "Shenzhen_No3_Hospital") -> Imported:
    """Shenzhen No.3 Hospital TB set (NLM): normal vs tuberculosis, with manual lung masks.

    Layout: ``ROOT/CXR_png/CHNCXR_<NNNN>_<0|1>.png`` (1 = TB) and, where present, the masks of
    Stirenko et al. 2018 as ``ROOT/mask/CHNCXR_<NNNN>_<0|1>_mask.png`` (``masks/``, a nested
    ``mask/mask/`` as the archive unpacks, and Kaggle's "Lung Segmentation" folder work too).
    """

    def mask_for(base: Path, img: Path, masks: dict[str, Path]) -> Path | None:
        return masks.get(f"{img.stem}_mask.png") or masks.get(img.name)

    return _tb_set(root, "CHNCXR", source, "shenzhen", mask_for)


@register("rsna-pneumonia")
def rsna_pneumonia(root: Path, labels_csv: str = "stage_2_train_labels.csv",
                   class_csv: str = "stage_2_detailed_class_info.csv",
                   images: str = "stage_2_train_images", source: str = "RSNA") -> Imported:
    """RSNA Pneumonia Detection Challenge (NIH ChestX-ray14 images, RSNA labels).

    Layout: ``ROOT/stage_2_train_labels.csv`` (``patientId,x,y,width,height,Target``, one row per
    box), optionally ``ROOT/stage_2_detailed_class_info.csv`` (``patientId,class``), and DICOMs at
    ``ROOT/stage_2_train_images/<patientId>.dcm``. Labels: ``lung_opacity`` (Target 1), and with
    the class file ``normal`` or ``not_normal`` (no opacity, not normal), else ``no_lung_opacity``.
    One image per patient; ``n_boxes`` counts the opacity boxes. ``ROOT`` may be a folder above
    the CSV (Kaggle's archive). Patients whose DICOM is absent (a partial download) are dropped
    and listed.
    """
    found = find_below(root, lambda d: (d / labels_csv).is_file(), depth=3)
    root = found[0] if found else root
    table, warnings = read_table(require(root / labels_csv, labels_csv, "rsna-pneumonia"))
    require_columns(table, ["patientId", "Target"], root / labels_csv)
    table["Target"] = pd.to_numeric(table["Target"], errors="coerce").fillna(0).astype(int)
    per = table.groupby("patientId", sort=True).agg(target=("Target", "max"),
                                                    n_boxes=("Target", "sum")).reset_index()
    classes = {}
    if (root / class_csv).exists():
        info = read_table(root / class_csv)[0].drop_duplicates("patientId")
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
    return Imported(frame, version="stage 2" if "stage_2" in labels_csv else labels_csv, warnings=warnings,
                    rows_read=len(table))


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
             source: str = "PadChest_HUSJ") -> Imported:
    """PadChest (Hospital San Juan, Alicante): 16-bit PNGs with report-derived labels.

    Layout: ``ROOT/<csv>`` with columns ``ImageID, ImageDir, PatientID, Projection, Labels``
    (``Labels`` a list literal such as ``['normal']``), images at ``ROOT/<ImageDir>/<ImageID>``,
    or, when the ``ImageDir`` folders are absent, ``ROOT/images/<ImageID>`` or ``ROOT/<ImageID>``
    (the PNGs unpacked straight into ``ROOT``). Label: covid, else
    other_pneumonia when any label names pneumonia, normal when the only label is normal, other
    otherwise; ``orig_labels`` keeps the list. View from ``Projection``.
    """
    found = find_below(root, lambda d: (d / csv).is_file(), depth=3)
    root = found[0] if found else root
    file = require(root / csv, csv, "padchest")
    table, warnings = read_table(file)
    require_columns(table, ["ImageID", "PatientID", "Labels"], file)
    dirs = table["ImageDir"] if "ImageDir" in table.columns else pd.Series("", index=table.index)
    layout = ("ImageDir folders" if any((root / d).is_dir() for d in dirs.unique()[:20] if d) else
              "images/ folder" if (root / "images").is_dir() else "flat (PNGs in ROOT)")
    base = {"ImageDir folders": None, "images/ folder": root / "images", "flat (PNGs in ROOT)": root}[layout]
    paths, labels = [], []
    for row in table.itertuples(index=False):
        folder = root / str(getattr(row, "ImageDir", "")) if base is None else base
        paths.append(str(folder / row.ImageID))
        try:
            parsed = ast.literal_eval(row.Labels) if row.Labels.strip() else []
        except (ValueError, SyntaxError):
            raise ImporterError(f"{file} line {row.line}: Labels {row.Labels!r} is not a list") from None
        labels.append(padchest_label([str(x) for x in parsed]))
    frame = table.rename(columns={"Labels": "orig_labels"})
    frame["path"], frame["label"], frame["source"] = paths, labels, source
    frame["patient_id"] = "padchest_" + table["PatientID"].astype(str)
    if "Projection" in table.columns:
        frame["view"] = table["Projection"]
    return Imported(frame, version=layout, warnings=warnings)


def nih_label(findings: str) -> str:
    """pneumonia / normal / other, from NIH's ``Finding Labels`` (``A|B|C``)."""
    labels = {s.strip().lower() for s in findings.split("|")}
    if "pneumonia" in labels:
        return "pneumonia"
    if labels == {"no finding"}:
        return "normal"
    return "other"


@register("nih-chestxray14")
def nih_chestxray14(root: Path, csv: str | None = None, source: str = "NIH_ClinicalCenter") -> Imported:
    """NIH ChestX-ray14 (Wang et al. 2017, NIH Clinical Center): one hospital, 14 findings.

    Layout, as downloaded: ``ROOT/Data_Entry_2017.csv`` (or ``Data_Entry_2017_v2020.csv``;
    columns ``Image Index, Finding Labels, Follow-up #, Patient ID, Patient Age, Patient Gender,
    View Position, OriginalImage[Width, Height], OriginalImagePixelSpacing[x, y]``) and the PNGs
    in ``ROOT/images_001/images/`` ... ``images_012/images/`` (the archives as unpacked) or
    ``ROOT/images/``. Label: ``pneumonia`` when Pneumonia is among the findings, ``normal`` for
    No Finding, ``other`` otherwise (``orig_label`` keeps them). Patient ``nih_<Patient ID>``;
    ``view``, ``age``, ``sex``, ``orig_w``, ``orig_h`` from the table. One source: the study of
    a hospital's own confounders (view, age, devices), not of sources.
    """
    names = [csv] if csv else ["Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv"]
    found = find_below(root, lambda d: any((d / n).is_file() for n in names), depth=3)
    if not found:
        raise ImporterError(f"{root}: no {' or '.join(names)} at or below it")
    root = found[0]
    file = next(root / n for n in names if (root / n).is_file())
    table, warnings = read_table(file)
    require_columns(table, ["Image Index", "Finding Labels", "Patient ID"], file)
    where = {p.name: p for d in [root / "images", *sorted(root.glob("images_*/images"))] if d.is_dir()
             for p in list_images(d, recursive=False)}
    frame = pd.DataFrame({
        "path": [str(where.get(n, root / "images" / n)) for n in table["Image Index"]],
        "label": table["Finding Labels"].map(nih_label), "source": source,
        "patient_id": "nih_" + table["Patient ID"].str.lstrip("0").replace("", "0"),
        "orig_label": table["Finding Labels"], "line": table["line"],
    })
    for col, name in (("View Position", "view"), ("Patient Age", "age"), ("Patient Gender", "sex"),
                      ("OriginalImage[Width", "orig_w"), ("Height]", "orig_h"), ("Follow-up #", "follow_up")):
        if col in table.columns:
            frame[name] = table[col].str.strip()
    return Imported(frame, version=file.stem, warnings=warnings)
