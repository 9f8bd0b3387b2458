"""A contact sheet of phantoms with their lung-mask outlines (for the documentation and reports)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cxr_isi.data.manifest import Manifest


def contact_sheet(manifests: dict[str, Manifest], out: str | Path, per_row: int = 8) -> Path:
    """One row per manifest: its first ``per_row`` images, mask outline in colour, source and label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(manifests), per_row, figsize=(per_row * 1.6, len(manifests) * 1.85),
                             squeeze=False)
    for r, (title, m) in enumerate(manifests.items()):
        for c in range(per_row):
            ax = axes[r, c]
            ax.set_axis_off()
            if c >= len(m):
                continue
            row = m.frame.iloc[c]
            ax.imshow(np.asarray(Image.open(row["path"])), cmap="gray", vmin=0, vmax=255)
            if row.get("mask_path"):
                ax.contour(np.asarray(Image.open(row["mask_path"])) > 0, levels=[0.5],
                           colors=["#ff6600"], linewidths=0.6)
            ax.set_title(f"{row['source'].replace('source_', 'src ')} · {row['label']}", fontsize=6.5)
        axes[r, 0].text(-0.08, 0.5, title, transform=axes[r, 0].transAxes, rotation=90,
                        va="center", ha="right", fontsize=8, fontweight="bold")
    fig.tight_layout(pad=0.3)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
