"""The named choices of the protocol, typed and checked in one place: image sets (variants), box
modes, resize modes and lung-QC policies. Every command, config and function that takes one of
them checks it here, so an unknown name gets the same one-line error everywhere."""

from __future__ import annotations

from typing import Literal, get_args

from cxr_isi.errors import CxrIsiError

Variant = Literal["original", "lungs_isolated", "lungs_framed", "lungs_removed", "lungs_boxed_out"]
BoxMode = Literal["union", "per_lung", "dataset"]
ResizeMode = Literal["pad", "squeeze", "crop"]
QCPolicy = Literal["keep", "drop", "union"]
FailOn = Literal["outside", "source", "any", "inconclusive"]  # ``judge --fail-on`` (the verdict rule's gates)

VARIANTS: tuple[str, ...] = get_args(Variant)
BOX_MODES: tuple[str, ...] = get_args(BoxMode)
RESIZE_MODES: tuple[str, ...] = get_args(ResizeMode)
QC_POLICIES: tuple[str, ...] = get_args(QCPolicy)
FAIL_ON: tuple[str, ...] = get_args(FailOn)
_KINDS = {"variant": VARIANTS, "box mode": BOX_MODES, "resize mode": RESIZE_MODES, "QC policy": QC_POLICIES}


class UnknownChoiceError(CxrIsiError, ValueError):
    """A name outside its choices (a ValueError too, so pydantic reports it under its key)."""


def check_choice(kind: str, value: str, where: str = "") -> str:
    """``value`` if it is one of the ``kind``'s choices, else a one-line error naming them.

    Parameters
    ----------
    kind : {"variant", "box mode", "resize mode", "QC policy"}
    value : str
    where : str, optional
        What to name before the message (a config key, a file).

    Returns
    -------
    str
    """
    choices = _KINDS[kind]
    if value not in choices:
        prefix = f"{where}: " if where else ""
        raise UnknownChoiceError(f"{prefix}unknown {kind} {value!r}; one of {', '.join(choices)}")
    return value


def check_variant(value: str, where: str = "") -> str:
    """:func:`check_choice` for an image set."""
    return check_choice("variant", value, where)
