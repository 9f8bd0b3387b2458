"""The paper's Figure 3: one image and its four modified sets, side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cxr_isi.lungs.hideseek import VARIANTS, apply_variant

TITLES = {"original": "original", "lungs_isolated": "lungs isolated", "lungs_framed": "lungs framed",
          "lungs_removed": "lungs removed", "lungs_boxed_out": "lungs boxed out"}


def hide_and_seek_figure(image: np.ndarray, mask: np.ndarray, out: str | Path,
                         box_mode: str = "union") -> Path:
    """Save the five sets of one image as one PNG (and SVG when ``out`` ends in .svg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(10, 2.3))
    for ax, v in zip(axes, VARIANTS, strict=True):
        ax.imshow(apply_variant(v, image, mask, box_mode=box_mode), cmap="gray", vmin=0,
                  vmax=255 if image.dtype == np.uint8 else 1)
        ax.set_title(TITLES[v], fontsize=9)
        ax.set_axis_off()
    fig.tight_layout(pad=0.3)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
