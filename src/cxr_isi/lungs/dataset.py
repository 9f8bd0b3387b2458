"""A dataset that serves any of the five image sets on the fly from the cache: no extra storage."""

from __future__ import annotations

import os
import zlib

import numpy as np

from cxr_isi.data.cache import ImageCache, cache_pairs
from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import CxrIsiError
from cxr_isi.logs import get_logger
from cxr_isi.lungs.hideseek import apply_variant, check_variant, shuffle_blocks
from cxr_isi.lungs.postprocess import hiding_problem

log = get_logger("lungs")


class HideSeekDataset:
    """``(image, label)`` pairs of one hide-and-seek variant (a torch ``Dataset`` by duck typing).

    Images come from the image cache and masks from the mask cache at the same size and resize
    mode, so both share one geometry. Images are float32 ``(1, S, S)`` in [0, 1]; labels are
    the manifest's binary labels under its mapping.

    Parameters
    ----------
    manifest : Manifest
        With a label mapping attached, and ``mask_path`` for every variant but ``original``.
    variant : str
        One of :data:`VARIANTS`.
    size, resize : int, str
        Cache geometry.
    box_mode : {"union", "per_lung", "dataset"}
        An image flagged by lung QC (``lung_qc``) gets the union box in place of per-lung boxes.
    box : tuple of 4 floats, optional
        The dataset's fixed box (fractions) for ``box_mode="dataset"``.
    scramble_block : int, optional
        Shuffle the pixels within tiles of this size (the acquisition probe), a fixed draw per
        image.
    scramble_seed : int
        With the image's name inside its dataset (``image_id``, else its folder and file name),
        fixes that draw: the same seed gives the same images wherever the dataset lies (never the
        absolute path, which differs between two run folders).
    """

    def __init__(self, manifest: Manifest, variant: str = "original", size: int = 256,
                 resize: str = "pad", box_mode: str = "union", cache_root=None, progress: bool = False,
                 box=None, scramble_block: int | None = None, scramble_seed: int = 0):
        check_variant(variant, manifest.origin)
        self.variant, self.box_mode, self.box, self.scramble_block = variant, box_mode, box, scramble_block
        frame = manifest.frame
        paths = frame["path"].tolist()
        self._masks = None
        mslots = np.zeros(len(frame), dtype=np.int64)
        if variant == "original":
            images = ImageCache(cache_root, size=size, resize=resize)
            images.update(paths, progress=progress)
            self._images = images.open()
            slots = self._images.slots(paths)
        else:
            if "mask_path" not in frame.columns:
                raise CxrIsiError(f"{manifest.origin}: variant {variant} needs lung masks "
                                  "(run cxr-isi lungs segment first)")
            no_mask = frame["mask_path"].astype(str) == ""
            if no_mask.any():
                i = int(np.flatnonzero(no_mask.to_numpy())[0])
                raise CxrIsiError(f"{manifest.origin} row {i + 1}: no mask_path; variant {variant} "
                                  "needs a lung mask for every image")
            self._images, self._masks, slots, mslots = cache_pairs(
                paths, frame["mask_path"].tolist(), size=size, resize=resize, cache_root=cache_root,
                progress=progress, origin=manifest.origin)
        keep = (slots >= 0) & (mslots >= 0)
        reasons = {p: "image or mask could not be cached" for p in frame["path"][~keep]}
        self._union = np.zeros(len(frame), dtype=bool)
        if self._masks is not None:
            flagged = (frame["lung_qc"].astype(str) != "").to_numpy() if "lung_qc" in frame.columns else self._union
            for i in map(int, np.flatnonzero(keep)):
                why = hiding_problem(self._masks.array[mslots[i]] > 127)
                if why:
                    keep[i] = False
                    reasons[frame["path"].iloc[i]] = why
                self._union[i] = flagged[i] and box_mode == "per_lung"
        if reasons:
            log.warning("%d images left out of %s: %s", len(reasons), variant,
                        "; ".join(f"{p}: {r}" for p, r in list(reasons.items())[:3]))
        self.skipped = reasons
        self.slots, self.mask_slots, self._union = slots[keep], mslots[keep], self._union[keep]
        self.labels = manifest.y[keep]
        self.paths = frame["path"][keep].tolist()
        if "image_id" in frame.columns:
            names = frame["image_id"][keep].astype(str).tolist()
        else:
            names = [os.path.join(os.path.basename(os.path.dirname(p)), os.path.basename(p)) for p in self.paths]
        self._seeds = [zlib.crc32(f"{scramble_seed}:{n}".encode()) for n in names] if scramble_block else []

    def __len__(self) -> int:
        return len(self.slots)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.int64]:
        image = self._images.array[self.slots[i]].astype(np.float32) * np.float32(1 / 255)
        if self._masks is not None:
            mask = self._masks.array[self.mask_slots[i]] > 127
            mode = "union" if self._union[i] else self.box_mode  # a per-lung box of a flagged mask is meaningless
            image = apply_variant(self.variant, image, mask, box_mode=mode, box=self.box)
        if self.scramble_block:
            image = shuffle_blocks(image, self.scramble_block, self._seeds[i])
        return image[None], self.labels[i]
