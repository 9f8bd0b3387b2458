"""YAML configs validated by pydantic: configs are data, never code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from cxr_isi.errors import ConfigError, CxrIsiError

M = TypeVar("M", bound=BaseModel)


# A seed as numpy's generators take it: a whole number from 0 to 2**32 - 1.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_yes_no_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """``epochs: true`` is a slip, not 1: pydantic's lax mode takes a bool for a number, so a
        number-only field refuses one (a field that also takes a bool keeps it)."""
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            kinds = set(get_args(annotation)) or {annotation}
            if bool not in kinds and kinds & {int, float}:
                raise ValueError(f"{str(value).lower()} is a yes/no, not a number")
        return value


def format_validation_error(err: ValidationError, where: str) -> str:
    """One line per problem, each naming the dotted key that holds it."""
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        parts.append(f"{key}: {e['msg'].removeprefix('Value error, ')}")  # our own validators' words
    return f"{where}: " + "; ".join(parts)


def read_text(path: str | Path) -> str:
    """A text file's content: UTF-8 (with or without a byte-order mark), or UTF-16 where a BOM says
    so (as Windows editors save it); anything else (binary bytes, another encoding) is one line
    naming the file."""
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); save it "
                          "as UTF-8") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: holds NUL bytes: a binary file, not a YAML text file")
    return text


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping safely (``yaml.safe_load``: no Python objects, no code)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def parse_model(model: type[M], data: dict, where: str) -> M:
    """Validate ``data`` against ``model``; errors name ``where`` and the offending key."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, where)) from None


def load_config(model: type[M], path: str | Path) -> M:
    """Load and validate a YAML config file."""
    return parse_model(model, load_yaml(path), str(path))


def config_dir() -> Path:
    """The shipped experiment configs: package data (``cxr_isi/configs``; ``configs/`` of the
    source tree links there), so an installed package finds them from any folder."""
    path = Path(__file__).resolve().parent / "configs"
    if not (path / "demo.yaml").is_file():
        raise CxrIsiError(f"{path}: the shipped configs are missing from this installation; reinstall cxr-isi")
    return path
