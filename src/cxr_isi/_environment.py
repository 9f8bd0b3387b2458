"""The versions and machine a result was made with (a run's ``run.json``, a judged model's
``judge.json`` and its model card quote them)."""

from __future__ import annotations

import os
import platform
import sys


def environment() -> dict:
    """Versions and hardware, for the report's "how the run was made".

    Returns
    -------
    dict
        Python, platform, CPUs, package versions, torch and the GPU's name where there is one.
    """
    import numpy
    import sklearn

    from cxr_isi._version import __version__

    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "cxr_isi": __version__,
            "numpy": numpy.__version__, "scikit_learn": sklearn.__version__}
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info
