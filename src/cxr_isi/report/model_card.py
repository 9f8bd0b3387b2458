"""A judged model's section for its model card (``cxr-isi judge --model-card CARD.md``): the
verdict and its reason, the test-time image-set AUCs with their intervals, the images it was
judged on, the rule and how often it is wrong, and the versions that made it. Markdown, short, to
paste under a model card's "Bias, risks and limitations" (as Hugging Face's template has it).

Rendered from ``judge.json`` alone: it decides nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from cxr_isi.errors import CxrIsiError
from cxr_isi.lungs.hideseek import image_set_title


def _auc(a: dict) -> str:
    if a.get("auc") is None or a["auc"] != a["auc"]:
        return "not computed"
    if a.get("ci_low") is None or a.get("ci_high") is None:
        return f"{a['auc']:.2f} (no interval: too few images)"
    return f"{a['auc']:.2f} ({a['ci_low']:.2f}-{a['ci_high']:.2f})"


def model_card(judged: dict) -> str:
    """The Markdown section for ``judged`` (a ``judge.json`` read as a dict)."""
    what = f" ({judged['what']})" if judged.get("what") else ""
    env = judged.get("environment") or {}
    versions = ", ".join(f"{k.replace('_', '-')} {env[k]}" for k in ("cxr_isi", "torch", "numpy", "scikit_learn",
                                                                   "python") if env.get(k)) or "unknown (not recorded)"
    rows = "\n".join(f"| {image_set_title(k)} | {_auc(a)} |" for k, a in judged["auc"].items())
    spec = judged.get("spec", {}).get("spec", {}) if isinstance(judged.get("spec"), dict) else {}
    given = ", ".join(f"{k} {v}" for k, v in spec.items() if v is not None) or "the format's defaults"
    lines = [
        "## Does the model read the lungs? (cxr-isi judge)",
        "",
        f"**{judged['verdict_kind']}{what}**: {judged['reason']}.",
        "",
        f"Judged on {judged['n_images']} labelled test images ({judged['n_positive']} positive, "
        f"{judged['n_negative']} negative, {judged['n_sources']} source(s); {judged['n_left_out']} left out without "
        f"a usable lung mask), nothing retrained; the model ({judged['model']}, {judged['format']}) was fed: "
        f"{given}.",
        "",
        "| image set (test time) | AUC (95% CI, DeLong) |",
        "|---|---|",
        rows,
        "",
        "The hidden-lung sets are measured at test time on a model trained on whole images: a drop can be the "
        "shifted input as much as the missing lungs; the lung swap and its controls decide.",
        "",
        f"Rule: {judged['rule']}",
    ]
    if judged.get("rule_error_rates"):
        lines += ["", judged["rule_error_rates"]]
    lines += ["", f"Made with {versions}; seed {judged.get('seed', 0)}.", ""]
    return "\n".join(lines)


def card_of(out_dir: str | Path) -> str:
    """The model-card section of the judged folder ``out_dir`` (its ``judge.json``)."""
    source = Path(out_dir) / "judge.json"
    try:
        judged = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        raise CxrIsiError(f"{source}: no readable judge result ({exc.__class__.__name__}); run cxr-isi judge "
                          "first") from None
    return model_card(judged)


def write_model_card(out_dir: str | Path, path: str | Path) -> Path:
    """Write the model-card section of the judged folder ``out_dir`` to ``path``."""
    from cxr_isi._io import atomic_write

    text = card_of(out_dir)
    return atomic_write(Path(path), lambda p: p.write_text(text))
