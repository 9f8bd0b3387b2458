"""``torch.export`` programs (``.pt2``): scores and gradients; the input's shape (batch, channels,
side, layout) is read off the program."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from cxr_isi.errors import CxrIsiError
from cxr_isi.models.formats.base import ModelFile, ModelFormat, Scorer, TorchScorer, fixed_input, register_format
from cxr_isi.models.spec import ModelSpec, ModelSpecError


def _exported_input_shape(program, path: Path) -> list:
    """The shape of an exported program's one image input (ints where static, symbols where not)."""
    names = list(program.graph_signature.user_inputs)
    shapes = [list(n.meta["val"].shape) for n in program.graph.nodes
              if n.op == "placeholder" and n.name in names and "val" in n.meta]
    if len(shapes) != 1 or len(shapes[0]) != 4:
        raise ModelSpecError(f"{path}: the exported program takes {len(names)} input(s) "
                             f"{[tuple(s) for s in shapes]}; cxr-isi feeds one image batch")
    return shapes[0]


@contextmanager
def _torch_quiet() -> Iterator[None]:
    """torch.export logs a damaged archive's whole traceback as a warning before it raises; the
    raise becomes cxr-isi's one line, so its logger is silenced for the load."""
    loggers = [logging.getLogger(name) for name in ("torch.export", "torch._export")]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, before, strict=True):
            lg.disabled = was


@register_format
class Export(ModelFormat):
    """A zip archive with a serialised exported program (or a ``.pt2`` file)."""

    name = "export"
    order = 40
    gradients = True

    def claims(self, file: ModelFile) -> bool:
        names = file.zip_names
        return (any("/serialized_exported_program" in n or n.endswith("/archive_format") for n in names)
                or file.suffix == ".pt2")

    def load(self, file: ModelFile, *, arch: str | None, spec: ModelSpec) -> Scorer:
        path = file.path
        try:
            with _torch_quiet():
                program = torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001 - torch.export's errors for a damaged archive
            raise CxrIsiError(f"{path}: not a readable torch.export program ({type(exc).__name__})") from None
        fixed, layout = fixed_input(_exported_input_shape(program, path), spec, path)
        spec = spec.filled(size=fixed[2] or 224, channels=fixed[1] or 3, normalise="imagenet", layout=layout)
        return TorchScorer(program.module(), spec, path.name, self.name, fixed_batch=fixed[0], origin=str(path))
