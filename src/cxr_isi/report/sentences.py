"""Sentences the report and the CLI print from a summary's figures."""

from __future__ import annotations


def cross_sentence(c: dict) -> str:
    """The cross test's sentence, as the cross-dataset rule (:mod:`cxr_isi.verdict.cross`) wrote
    it into the summary."""
    return c.get("sentence") or f"Trained on {c['train']}, tested on {c['test']}: no result."
