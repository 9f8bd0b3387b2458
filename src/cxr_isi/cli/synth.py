"""``cxr-isi synth``: phantoms with a known answer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cxr_isi.cli.common import (
    SeedOpt,
    app,
    at_least,
    friendly,
    out,
    outputs,
)
from cxr_isi.errors import CxrIsiError


@app.command()
@friendly
@outputs(out_dir="folder", preview="figure")
def synth(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for images, masks and manifest.csv.")],
    preset: Annotated[str, typer.Option(help="isi (every source one class) | balanced | mild | strong.")] = "isi",
    n: Annotated[int, typer.Option("--n", help="Number of images.")] = 400,
    size: Annotated[int, typer.Option(help="Square side in pixels.")] = 256,
    seed: SeedOpt = 0,
    sources: Annotated[int, typer.Option(help="Number of sources.")] = 4,
    majority_share: Annotated[float | None, typer.Option(help="Share of each source's images in its majority class (0.5 to 1); overrides the preset.")] = None,
    fingerprint_strength: Annotated[float, typer.Option(help="0: sources look alike; 1: full source styles.")] = 1.0,
    disease_extent: Annotated[float, typer.Option(help="Share of lung area the opacities aim to cover.")] = 0.35,
    disease_strength: Annotated[float, typer.Option(help="Density of the opacities (1 = default).")] = 1.0,
    lung_shrink: Annotated[float, typer.Option(help="Positives' lung fields this share smaller (0 to 0.5): the lung box carries the label.")] = 0.0,
    fingerprint: Annotated[str, typer.Option(help="full: each source its own style; marker: sources alike but the ones leaning positive burn a marker (a known place outside the lungs).")] = "full",
    marker_corner: Annotated[str | None, typer.Option(help="tl | tr | bl | br: every marker in this corner (default: each source's own).")] = None,
    preview: Annotated[Path | None, typer.Option(help="Also write a contact sheet PNG of 8 images with masks.")] = None,
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).", callback=at_least("--jobs", 1))] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Clear a non-empty --out folder first.")] = False,
) -> None:
    """Generate phantoms with a chosen intra-source imbalance.

    Generate the synthetic multi-source phantom with a chosen intra-source imbalance."""
    from pydantic import ValidationError

    from cxr_isi.config import format_validation_error
    from cxr_isi.synth import SynthConfig, generate

    try:
        config = SynthConfig(preset=preset, n=n, size=size, seed=seed, n_sources=sources,
                             majority_share=majority_share, fingerprint_strength=fingerprint_strength,
                             disease_extent=disease_extent, disease_strength=disease_strength,
                             lung_shrink=lung_shrink, fingerprint=fingerprint, marker_corner=marker_corner)
    except ValidationError as exc:
        raise CxrIsiError(format_validation_error(exc, "cxr-isi synth")) from None
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise CxrIsiError(f"{out_dir}: the folder is not empty (an earlier dataset?); use another --out, or "
                              "--overwrite to clear it")
        import shutil

        shutil.rmtree(out_dir)
    m = generate(config, out_dir, jobs=jobs, progress=sys.stderr.isatty())
    if preview:
        from cxr_isi.synth.preview import contact_sheet

        contact_sheet({preset: m}, preview)
    counts = m.frame.groupby(["source", "label"]).size().unstack(fill_value=0)
    out.print(f"{len(m)} images ({config.share:.0%} of each source in its majority class) -> "
              f"{out_dir / 'manifest.csv'}")
    out.print(counts.to_string())
