"""The building blocks every HTML page of cxr-isi is made of (the run's report, the judge's):
the template engine (autoescaping), the template's macros, an embedded figure, a note on what is
missing, a table whose cells never show NaN."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

_ENV = None


def env():
    """jinja2 with autoescape: every text that reaches the page is escaped by the engine."""
    global _ENV
    if _ENV is None:
        from jinja2 import Environment, PackageLoader, select_autoescape

        _ENV = Environment(loader=PackageLoader("cxr_isi.report", "templates"),
                           autoescape=select_autoescape(["html", "j2"]), trim_blocks=False)
    return _ENV


def parts():
    """The template macros (figure, missing, table, verdict, para, heading, pre) as functions."""
    return env().get_template("parts.html.j2").module


def join(pieces) -> Markup:
    """Pieces of a page in one: markup kept, anything else escaped (Markup.join)."""
    return Markup("").join(pieces)


def image(path: Path, alt: str, caption: str = "") -> Markup:
    return parts().figure(base64.b64encode(Path(path).read_bytes()).decode(), alt, caption)


def missing(text: str) -> Markup:
    return parts().missing(text)


def cell(v, digits: int) -> str:
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and v != v):
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else ""
    if isinstance(v, (float, np.floating)):
        return f"{v:.{digits}f}"
    return str(v)


def table(frame: pd.DataFrame, digits: int = 3, wrap: bool = False) -> Markup:
    rows = [[cell(v, digits) for v in row] for row in frame.itertuples(index=False)]
    return parts().table([str(c) for c in frame.columns], rows, wrap)
