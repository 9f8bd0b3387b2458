"""What a model expects and what it gives (:class:`ModelSpec`), and the one error for a model and
a spec that disagree. A spec is data (a small YAML file, ``--spec``), never code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from cxr_isi.choices import ResizeMode
from cxr_isi.config import StrictModel, load_config
from cxr_isi.errors import CxrIsiError

# torchxrayvision reads [0, 1] images as [-1024, 1024] (its ``normalize(img, 255)`` on 8-bit images).
XRV_RANGE = 1024.0
# Keras' ``preprocess_input(mode="caffe")``: ImageNet's mean in 0-255 pixel values, BGR order.
CAFFE_MEAN = (103.939, 116.779, 123.68)


class ModelSpecError(CxrIsiError):
    """A model and its spec disagree (channels, size, output width)."""


class ModelSpec(StrictModel):
    """What a model expects and what it gives.

    Fields left ``None`` take the format's default (:func:`load_scorer` fills them): a cxr-isi
    checkpoint knows its own; timm's ``pretrained_cfg`` gives size, mean and std; ONNX gives
    channels and size where its input shape fixes them; otherwise 224 px, 3 channels, ImageNet's
    mean and std.

    Attributes
    ----------
    size : int
        Square input side in pixels.
    channels : {1, 3}
        Gray images are repeated to three channels when the model takes three.
    normalise : {"none", "imagenet", "custom", "xrv", "tf", "caffe", "torch"}
        ``custom`` uses ``mean``/``std``; ``xrv`` is torchxrayvision's [-1024, 1024]; Keras'
        ``preprocess_input`` conventions by their names: ``tf`` scales to [-1, 1], ``caffe``
        takes 0-255 pixel values less ImageNet's BGR mean (103.939, 116.779, 123.68; no
        scaling), ``torch`` is ImageNet's mean and std on [0, 1] (the same as ``imagenet``).
    mean, std : list of float, optional
        Per channel (or one value for all), for ``custom``.
    resize : {"pad", "squeeze", "crop"}
        How an image becomes a square (as everywhere in cxr-isi).
    output : {"logit", "probability", "softmax"}
        ``logit``: sigmoid of the positive column (one column, or a multi-label head);
        ``probability``: the column as is; ``softmax``: softmax over the columns.
    positive_index : int, optional
        The positive column where the model gives more than one.
    head : str, optional
        The positive column by name (a multi-label head), looked up in ``class_names``.
    class_names : list of str, optional
        Column names (torchxrayvision models carry their own).
    onnx_output : str, optional
        Which output of an ONNX graph to read when it has several.
    layout : {"nchw", "nhwc"}, optional
        Where the channels are in the model's input: ``nchw`` (PyTorch's), or ``nhwc``
        (channels-last, as Keras and many ONNX files exported from TensorFlow take). Unset: read
        from the model's input shape where it has one, else found on the first batch.
    """

    size: int | None = Field(default=None, ge=8, le=4096)
    channels: Literal[1, 3] | None = None
    normalise: Literal["none", "imagenet", "custom", "xrv", "tf", "caffe", "torch"] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    resize: ResizeMode = "pad"
    output: Literal["logit", "probability", "softmax"] = "logit"
    positive_index: int | None = Field(default=None, ge=0)
    head: str | None = None
    class_names: list[str] | None = None
    onnx_output: str | None = None
    layout: Literal["nchw", "nhwc"] | None = None

    @model_validator(mode="after")
    def _custom_needs_values(self) -> ModelSpec:
        if self.normalise == "custom" and (not self.mean or not self.std):
            raise ValueError("normalise: custom needs mean and std")
        if self.std and any(s <= 0 for s in self.std):
            raise ValueError("std values must be positive")
        return self

    def filled(self, **defaults) -> ModelSpec:
        """This spec with its unset fields (None) taken from ``defaults``."""
        return self.model_copy(update={k: v for k, v in defaults.items() if getattr(self, k) is None})

    def column(self, width: int, where: str) -> int:
        """The positive column of an output ``width`` columns wide; one line when it is not said."""
        if self.head is not None:
            names = self.class_names or []
            if self.head not in names:
                raise ModelSpecError(f"{where}: no output named {self.head!r}" + (
                    f" (the model's outputs: {', '.join(names)})" if names else " (the model names no outputs; "
                    "give class_names in the spec, or --positive-index)"))
            index = names.index(self.head)
        elif self.positive_index is not None:
            index = self.positive_index
        elif width == 1:
            return 0
        elif self.output == "softmax" and width == 2:
            return 1
        else:
            raise ModelSpecError(f"{where}: the model gives {width} outputs per image; say which is the positive "
                                 "class (--positive-index I, or --head NAME for a multi-label head)")
        if index >= width:
            raise ModelSpecError(f"{where}: positive output {index} asked for, but the model gives {width} "
                                 f"output{'s' if width > 1 else ''} per image")
        return index


def read_spec(path: str | Path) -> ModelSpec:
    """A :class:`ModelSpec` from a small YAML file (``--spec``)."""
    return load_config(ModelSpec, path)
