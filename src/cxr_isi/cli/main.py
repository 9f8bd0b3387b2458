# ruff: noqa: I001 - the order of the command imports is the order of ``cxr-isi --help``
"""``cxr-isi``: every command with one line of help; errors are one line, exit status 2.

One module per kind of command (``audit``, ``data``, ``lungs``, ``train``, ``synth``, ``study``,
``report``, ``demo``, ``judge``), each registering its commands on the one ``app`` of
:mod:`cxr_isi.cli.common` when imported here; their order is the order of ``cxr-isi --help``.
A new command lives beside its kind.
"""

from __future__ import annotations

from cxr_isi.cli import audit as _audit  # noqa: F401
from cxr_isi.cli import data as _data  # noqa: F401
from cxr_isi.cli import lungs as _lungs  # noqa: F401
from cxr_isi.cli import train as _train  # noqa: F401
from cxr_isi.cli import synth as _synth  # noqa: F401
from cxr_isi.cli import study as _study  # noqa: F401
from cxr_isi.cli import report as _report  # noqa: F401
from cxr_isi.cli import demo as _demo  # noqa: F401
from cxr_isi.cli import judge as _judge  # noqa: F401
from cxr_isi.cli.common import app, reflow_help

reflow_help(app)

__all__ = ["app"]

if __name__ == "__main__":  # pragma: no cover - python -m cxr_isi.cli.main (torchrun, subprocess tests)
    app()
