"""The command line as a click command, for the documentation site's CLI reference
(``mkdocs-click`` renders every command and option from it, so the page cannot drift from the
code). Nothing else imports this module."""

from __future__ import annotations

import typer

from cxr_isi.cli.main import app

command = typer.main.get_command(app)

__all__ = ["command"]
