"""Map a manifest's labels to the binary task of the protocol (positive vs negative)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import field_validator, model_validator

from cxr_isi.config import StrictModel
from cxr_isi.errors import ManifestError
from cxr_isi.logs import get_logger

CONVENTIONAL_NEGATIVES = ("normal", "negative", "no finding", "control", "healthy", "0")
log = get_logger("data")


class LabelMapping(StrictModel):
    """Which labels count as positive, and which as negative.

    ``negative`` left out means every label that is not positive is negative. With ``negative``
    given, a label in neither list is an error (it would silently join a class otherwise). The
    mapping is recorded with every result (``as_record``).
    """

    positive: list[str]
    negative: list[str] | None = None

    @field_validator("positive")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one positive label is needed")
        return v

    @model_validator(mode="after")
    def _disjoint(self) -> LabelMapping:
        both = set(self.positive) & set(self.negative or [])
        if both:
            raise ValueError(f"labels both positive and negative: {sorted(both)}")
        return self

    def encode(self, labels: pd.Series, where: str = "manifest") -> np.ndarray:
        """Return 1 for positive, 0 for negative; unknown labels raise, naming the first row. A
        label that differs from a listed one only in case (``COVID`` beside ``covid``) raises
        too: it would silently count as the other class."""
        values = labels.astype(str)
        names = [*self.positive, *(self.negative or [])]
        listed = {v.casefold(): v for v in names}
        for v in sorted(set(values) - set(names)):
            twin = listed.get(v.casefold())
            if twin is not None:
                i = int(np.flatnonzero((values == v).to_numpy())[0])
                raise ManifestError(f"{where} row {i + 1}: label {v!r} differs from {twin!r} only in case; it would "
                                    f"count as the other class: make them one label in the manifest, or list both")
        pos = values.isin(self.positive).to_numpy()
        if self.negative is not None:
            neg = values.isin(self.negative).to_numpy()
            unknown = ~(pos | neg)
            if unknown.any():
                i = int(np.flatnonzero(unknown)[0])
                others = sorted(set(values[unknown]))
                raise ManifestError(
                    f"{where} row {i + 1}: unknown label {values.iloc[i]!r} "
                    f"(positive: {self.positive}, negative: {self.negative}; "
                    f"{int(unknown.sum())} rows have labels {others} in neither list)"
                )
        return pos.astype(np.int64)

    def check_present(self, labels: pd.Series, where: str = "manifest") -> LabelMapping:
        """Refuse a positive list that matches no label of the data (``-p COVID`` where the label
        is ``covid``), naming it and the labels there are."""
        present = set(labels.astype(str))
        if not present & set(self.positive):
            raise ManifestError(f"{where}: no row has the positive label(s) {self.positive}; the labels here are "
                                f"{sorted(present)[:8]} (labels are case-sensitive)")
        return self

    def as_record(self) -> dict:
        """The mapping as plain data, stored beside every result."""
        return {"positive": list(self.positive), "negative": self.negative}

    @classmethod
    def from_labels(cls, labels: pd.Series, where: str = "manifest") -> LabelMapping:
        """Infer a mapping when the manifest is already binary.

        Accepts ``0/1``, ``negative/positive`` and ``false/true`` (any case), and two labels of
        which exactly one is a conventional negative (normal, negative, no finding, control,
        healthy; said in a warning); anything else needs an explicit mapping, because guessing
        which class is positive is how results end up inverted.
        """
        values = sorted(set(labels.astype(str)))
        known = [("0", "1"), ("negative", "positive"), ("false", "true")]
        low = sorted(v.lower() for v in values)
        for neg, pos in known:
            if set(low) <= {neg, pos}:
                if pos not in low:
                    raise ManifestError(f"{where}: every label is {values[0]!r}; no positive class")
                return cls(
                    positive=[v for v in values if v.lower() == pos],
                    negative=[v for v in values if v.lower() == neg],
                )
        conventional = [v for v in values if v.lower().replace("_", " ") in CONVENTIONAL_NEGATIVES]
        if len(values) == 2 and len(conventional) == 1:
            negative = conventional[0]
            log.warning("%s: labels %s: taking %r as negative and %r as positive (say --positive, or labels: "
                        "in a config, to choose)",
                        where, values, negative, next(v for v in values if v != negative))
            return cls(positive=[v for v in values if v != negative], negative=[negative])
        raise ManifestError(
            f"{where}: labels {values[:8]} are not binary; say which are positive "
            "(e.g. --positive covid, or `labels: {positive: [covid]}` in the config)"
        )
