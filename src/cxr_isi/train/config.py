"""Training settings as data (YAML or CLI), validated by pydantic."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cxr_isi.choices import BoxMode, ResizeMode
from cxr_isi.config import Seed, StrictModel


class AugmentConfig(StrictModel):
    """Light augmentation that keeps the protocol honest: no horizontal flip unless asked (a
    flip moves a laterality marker to the other side)."""

    enabled: bool = True
    rotate_degrees: float = Field(5.0, ge=0, le=45)
    scale: float = Field(0.05, ge=0, le=0.5)
    shift: float = Field(0.03, ge=0, le=0.3)
    hflip: bool = False
    brightness: float = Field(0.05, ge=0, le=0.5)
    contrast: float = Field(0.1, ge=0, le=0.5)


class TrainConfig(StrictModel):
    """Everything that decides a training run (stored in the checkpoint and metrics.json)."""

    @model_validator(mode="after")
    def _fixed_box(self) -> TrainConfig:
        if self.box_mode == "dataset" and self.fixed_box is None and self.variant in ("lungs_framed",
                                                                                      "lungs_boxed_out"):
            raise ValueError("box_mode 'dataset' needs fixed_box (the experiment runner sets it)")
        return self

    model: str = "small_cnn"
    variant: str = "original"
    size: int = Field(128, ge=32, le=1024)
    resize: ResizeMode = "pad"
    box_mode: BoxMode = "union"
    # box_mode "dataset": one box for every image, (y0, y1, x0, x1) as fractions of the side
    fixed_box: tuple[float, float, float, float] | None = None
    # the acquisition probe: pixels shuffled within tiles of this many pixels (None: off)
    scramble_block: int | None = Field(None, ge=2)
    weights: str = "none"
    epochs: int = Field(20, ge=1, le=1000)
    batch_size: int = Field(32, ge=2, le=4096)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(1e-4, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    class_weighting: bool = True
    patience: int = Field(5, ge=1)
    val_size: float = Field(0.1, gt=0, lt=0.5)
    seed: Seed = 0
    threads: int | None = Field(None, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: bool = True  # autocast on GPU only; bf16 on a CPU is ~100x slower here
    channels_last: bool = True  # on GPU only
    compile: bool = False
    workers: int | None = Field(None, ge=0)  # default: 0 on CPU, 8 on GPU
    max_minutes: float | None = Field(None, gt=0)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    # remedies for a source shortcut (cxr_isi.remedies; the mechanics in cxr_isi.train.remedies):
    # within each source the classes to equal shares, by keeping the rarer class's count of each
    # ("subsample") or by sampling weights ("weight")
    source_balance: Literal["none", "subsample", "weight"] = "none"
    # group-robust training over source x label groups: GroupDRO's loss ("dro"), or every group
    # drawn equally often ("sampling")
    group_robust: Literal["none", "dro", "sampling"] = "none"
    dro_step: float = Field(0.01, gt=0)
    # the last layer refitted on group-balanced features of the held-out validation part (DFR)
    last_layer: Literal["none", "dfr"] = "none"

    def settings_json(self) -> str:
        """The settings as JSON, the remedies' fields only where set away from their defaults:
        a run made before they existed keeps its identity (job ids, the resume check)."""
        return self.model_dump_json(exclude={k for k in REMEDY_FIELDS if getattr(self, k) == REMEDY_FIELDS[k]})


REMEDY_FIELDS = {"source_balance": "none", "group_robust": "none", "dro_step": 0.01, "last_layer": "none"}
