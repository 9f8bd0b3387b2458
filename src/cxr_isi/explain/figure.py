"""Overlays like the paper's Figures 10 and 11: models side by side on the same images."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def overlay_panel(images: np.ndarray, maps_by_model: dict[str, np.ndarray], method: str,
                  out: str | Path, titles: list[str] | None = None) -> Path:
    """One row per model, one column per image; LIME: top superpixels green (for the positive
    class) and red (against); Grad-CAM: a heat map over the radiograph."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(maps_by_model), len(images)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.0 * rows), squeeze=False)
    for r, (name, maps) in enumerate(maps_by_model.items()):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(images[c], cmap="gray", vmin=0, vmax=1)
            m = maps[c]
            if method == "lime":
                rgba = np.zeros(m.shape + (4,))
                rgba[m > 0] = (0.1, 0.85, 0.2, 0.45)
                rgba[m < 0] = (0.9, 0.1, 0.1, 0.45)
                ax.imshow(rgba)
            else:
                ax.imshow(m, cmap="jet", alpha=0.4, vmin=0, vmax=max(float(m.max()), 1e-6))
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
            if r == 0 and titles:
                ax.set_title(titles[c], fontsize=7)
    fig.tight_layout(pad=0.3)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    if out.suffix == ".png":
        fig.savefig(out.with_suffix(".svg"))
    plt.close(fig)
    return out
