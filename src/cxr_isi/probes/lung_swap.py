"""Probe 3, a causal test: does the model trained on original images follow the frame or the
lungs? The lungs of one test image pasted into the frame of an image of the other label, with
controls (:mod:`cxr_isi.probes.swap`), gathered as the judge gathers it
(:func:`cxr_isi.probes.evidence.gather_model_evidence`) on the dataset's test split.
"""

from __future__ import annotations

from cxr_isi.data.splits import rows_marked_test
from cxr_isi.probes.base import Probe, ProbeInput, ProbeResult, images_and_masks
from cxr_isi.probes.evidence import gather_model_evidence
from cxr_isi.probes.swap import MARGIN, MEASURE, NAME, result_of, swap_figure

VERSION = 5


def run(inp: ProbeInput) -> ProbeResult:
    """The lung swap on the dataset's own test split, by its original-trained model."""
    from cxr_isi.models.scorer import load_scorer

    if "original" not in inp.checkpoints:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "No single-split model trained on the "
                                          "original images to swap lungs for.")
    test = rows_marked_test(inp.manifest)[0]
    paths, images, masks = images_and_masks(test, inp.size, inp.resize)
    if len(paths) < 4:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "Too few test images with lung masks.")
    rows = test.frame.assign(_y=test.y).set_index("path").loc[paths]
    y = rows["_y"].to_numpy()
    found = gather_model_evidence(load_scorer(inp.checkpoints["original"]), images, masks, y,
                                  sources=rows["source"].astype(str).to_numpy(), seed=inp.seed,
                                  swap_pairs=int(inp.settings.get("swap_pairs", 48)), image_sets=())
    if found.swap is None:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "The original-trained model tells no "
                                          f"test pair of opposite labels apart by {MARGIN} or more.")
    title = f"{inp.title}: lungs of one image in the frame of another (model trained on original)"
    return result_of(found.swap, inp.dataset, y, images,
                     lambda *args: swap_figure(*args, title=title, out_dir=inp.out_dir))


PROBE = Probe(NAME, MEASURE, run, rank=20, version=VERSION,
              caption="Top: the frame donor; middle: the lung donor; bottom: the donor's lungs in the frame, scored "
                      "by the model trained on original images. A score that stays with the frame means the model "
                      "reads what is outside the lungs.")
