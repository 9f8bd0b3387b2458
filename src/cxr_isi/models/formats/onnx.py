"""ONNX graphs, run by onnxruntime on the CPU: scores only (no layers, no gradients). The input's
layout (channels first, or channels last as graphs exported from TensorFlow take) is read off
its shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cxr_isi.errors import CxrIsiError
from cxr_isi.models.formats.base import (
    ModelFile,
    ModelFormat,
    Preprocess,
    Scorer,
    explain_failure,
    fixed_input,
    positive_log_odds,
    register_format,
)
from cxr_isi.models.spec import ModelSpec, ModelSpecError


class OnnxScorer(Scorer):
    """An ONNX graph run by onnxruntime on the CPU; scores only (no layers, no gradients)."""

    def __init__(self, path: Path, spec: ModelSpec, name: str):
        try:
            import onnxruntime as ort
        except ImportError:
            raise CxrIsiError(f"{path}: reading ONNX models needs onnxruntime (pip install 'cxr-isi[judge]')") from None
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own error types for a bad graph
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CxrIsiError(f"{path}: not a readable ONNX model ({first})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelSpecError(f"{path}: the ONNX model has {len(inputs)} inputs "
                                 f"({', '.join(i.name for i in inputs)}); cxr-isi feeds one image batch")
        shape = list(inputs[0].shape)
        if len(shape) != 4:
            raise ModelSpecError(f"{path}: the ONNX input has shape {shape}; an image model takes (N, C, H, W) "
                                 "or (N, H, W, C)")
        fixed, layout = fixed_input(shape, spec, path)
        channels, height = fixed[1], fixed[2]
        if height is None and spec.size is None:
            raise ModelSpecError(f"{path}: the ONNX input's height and width are dynamic; give the size it was "
                                 "trained at (--size, or size: in --spec)")
        outputs = [o.name for o in self.session.get_outputs()]
        if spec.onnx_output is not None and spec.onnx_output not in outputs:
            raise ModelSpecError(f"{path}: no ONNX output named {spec.onnx_output!r} (outputs: {', '.join(outputs)})")
        if spec.onnx_output is None and len(outputs) > 1:
            raise ModelSpecError(f"{path}: the ONNX model has {len(outputs)} outputs ({', '.join(outputs)}); "
                                 "name the one to read (--onnx-output NAME)")
        spec = spec.filled(channels=channels or 3, size=height, normalise="imagenet", layout=layout)
        super().__init__(name, "onnx", spec, str(path))
        self.input_name = inputs[0].name
        self.output_name = spec.onnx_output or outputs[0]
        self.one_at_a_time = fixed[0] == 1
        self.pre = Preprocess(spec)

    def _raw_log_odds(self, images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = self.pre(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)).numpy()
        chunks = [x[i : i + 1] for i in range(len(x))] if self.one_at_a_time else [x]
        outs = []
        for c in chunks:
            try:
                outs.append(self.session.run([self.output_name], {self.input_name: c})[0])
            except Exception as exc:  # noqa: BLE001 - onnxruntime's errors for a wrong shape or type
                raise explain_failure(exc, self.spec, self.origin, c.shape) from None
        return positive_log_odds(np.concatenate(outs), self.spec, self.origin).numpy()


@register_format
class Onnx(ModelFormat):
    """``.onnx`` files (an ONNX protobuf has no signature of its own to tell it by)."""

    name = "onnx"
    order = 10

    def claims(self, file: ModelFile) -> bool:
        return file.suffix == ".onnx"

    def load(self, file: ModelFile, *, arch: str | None, spec: ModelSpec) -> Scorer:
        return OnnxScorer(file.path, spec, file.path.name)
