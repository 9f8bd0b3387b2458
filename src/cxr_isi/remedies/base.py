"""The interface every remedy shares, and the registry that names them."""

from __future__ import annotations

from typing import ClassVar


class Remedy:
    """A remedy for a source shortcut: what it changes, and how a training job changes with it.

    Attributes
    ----------
    name : str
        What tables and configs call it.
    changes : str
        ``the data``, ``the input``, ``the loss`` or ``the last layer``.
    summary : str
        One sentence: what it does and where it comes from.
    needs_both_classes : bool
        Whether it needs a source that gives both classes (else it is refused in one line).
    """

    name: ClassVar[str]
    changes: ClassVar[str]
    summary: ClassVar[str]
    needs_both_classes: ClassVar[bool] = True

    def variant(self, variant: str) -> str:
        """The image set the remedied model trains and is tested on."""
        return variant

    def train_overrides(self, options: dict) -> dict:
        """The training settings it sets (``TrainConfig`` fields), from the run's ``remedies:``
        options."""
        return {}


REMEDIES: dict[str, Remedy] = {}


def register_remedy(cls: type[Remedy]) -> type[Remedy]:
    """Class decorator: the remedy joins :data:`REMEDIES`."""
    REMEDIES[cls.name] = cls()
    return cls
