"""mkdocs hooks: pages generated from the code at build time, so they cannot drift from it.

``<!-- config-schema: module:Class -->`` in a page becomes one table per config section: every
key of the pydantic model (nested sections followed), its type, default and constraints, with
the section's docstring. Written here because neither mkdocstrings nor pydantic renders a
pydantic model as the nested YAML keys a user writes.
"""

from __future__ import annotations

import importlib
import inspect
import re
import typing

from pydantic import BaseModel

MARKER = re.compile(r"<!--\s*config-schema:\s*([\w.]+):(\w+)\s*-->")
CONSTRAINTS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "pattern": "matches", "min_length": "min length",
               "max_length": "max length"}


def _type_name(annotation) -> str:
    text = str(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = re.sub(r"typing\.|pathlib\.|cxr_isi\.[\w.]+\.|<class '|'>", "", text)
    return text.replace("NoneType", "None").replace(" | ", " or ")  # a bare pipe would split the table


def _sub_models(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _sub_models(arg)]


def _constraints(field) -> str:
    said = []
    for meta in field.metadata:
        for name, word in CONSTRAINTS.items():
            value = getattr(meta, name, None)
            if value is not None:
                said.append(f"{word} `{value}`")
    return ", ".join(said)


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:  # a factory that takes the validated data
            return "computed"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "the section's defaults (below)"
    return f"`{value!r}`"


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """What the source says of each field: the comment lines just above it and the one after it."""
    try:
        source = inspect.getsource(model).splitlines()
    except (OSError, TypeError):
        return {}
    said, above = {}, []
    for line in source:
        text = line.strip()
        if text.startswith("#"):
            above.append(text.lstrip("# "))
            continue
        hit = re.match(r"(\w+)\s*:[^=]*(=.*)?$", text)
        if hit and line.startswith("    ") and not line.startswith("     "):
            trailing = text.split("  # ", 1)[1] if "  # " in text else ""
            said[hit.group(1)] = " ".join([*above, trailing]).strip()
        above = []
    return said


def _tables(model: type[BaseModel], prefix: str, seen: set) -> list[str]:
    if model in seen and prefix:
        return []
    seen.add(model)
    doc = inspect.getdoc(model) or ""
    title = f"`{prefix}`" if prefix else f"`{model.__name__}` (the top level)"
    lines = [f"### {title}", "", doc.split("\n\n")[0].replace("\n", " "), "",
             "| key | type | default | constraints | what |", "|---|---|---|---|---|"]
    nested, comments = [], _comments(model)
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        what = (field.description or comments.get(name, "")).replace("|", "\\|")
        lines.append(f"| `{key}` | `{_type_name(field.annotation)}` | {_default(field)} | {_constraints(field)} "
                     f"| {what} |")
        for sub in _sub_models(field.annotation):
            nested.append((sub, f"{key}[]" if typing.get_origin(field.annotation) is list else key))
    lines.append("")
    for sub, key in nested:
        lines += _tables(sub, key, seen)
    return lines


def schema_markdown(module: str, name: str) -> str:
    """Every key of the pydantic model ``module:name`` as markdown tables."""
    model = getattr(importlib.import_module(module), name)
    return "\n".join(_tables(model, "", set()))


def on_page_markdown(markdown: str, **_) -> str:
    return MARKER.sub(lambda m: schema_markdown(m.group(1), m.group(2)), markdown)
