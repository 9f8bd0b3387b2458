"""Every model format, one module each, behind one registry (:data:`FORMATS`).

A file is offered to the formats in their ``order`` and the first that claims it by its content
reads it: ONNX, Keras, TorchScript, ``torch.export``, cxr-isi's own checkpoints, then a state
dict (which also refuses, in one line, whatever no format took). torchxrayvision's models are
chosen by ``--arch xrv:NAME``. A new format is one new module here, registered with
:func:`~cxr_isi.models.formats.base.register_format` and imported below; the conformance test
(``tests/test_formats.py``) runs over every registered format.
"""

from cxr_isi.models.formats import (
    export,  # noqa: F401
    keras,  # noqa: F401
    onnx,  # noqa: F401  (each module registers its format on import)
    own,  # noqa: F401
    state_dict,  # noqa: F401
    torchscript,  # noqa: F401
    xrv,  # noqa: F401
)
from cxr_isi.models.formats.base import FORMATS, ModelFile, ModelFormat, register_format

__all__ = ["FORMATS", "ModelFile", "ModelFormat", "register_format"]
