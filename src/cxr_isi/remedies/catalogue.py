"""The remedies cxr-isi offers, one small class each."""

from __future__ import annotations

from cxr_isi.remedies.base import Remedy, register_remedy


@register_remedy
class Balance(Remedy):
    """The paper's own conclusion: within each source, the classes to equal shares."""

    name = "balance"
    changes = "the data"
    summary = ("intra-source balance (Zhang et al. 2023): within each source the classes to equal shares, by "
               "keeping as many of each class as the rarer has (or by sampling weights)")

    def train_overrides(self, options: dict) -> dict:
        return {"source_balance": options.get("balance", "subsample")}


@register_remedy
class LungsOnly(Remedy):
    """The hide-and-seek protocol turned into a recipe: train and test on the lungs alone."""

    name = "lungs_only"
    changes = "the input"
    summary = "lungs only: trained and tested on the lungs-isolated images (everything outside the lungs zeroed)"
    needs_both_classes = False  # hides the outside whatever the sources

    def variant(self, variant: str) -> str:
        return "lungs_isolated"


@register_remedy
class GroupRobust(Remedy):
    """Group-robust training over source x label groups."""

    name = "group_dro"
    changes = "the loss"
    summary = ("group-robust training over source x label groups: GroupDRO's online loss (Sagawa et al. 2020), "
               "or every group drawn equally often (group_robust: sampling)")

    def train_overrides(self, options: dict) -> dict:
        return {"group_robust": options.get("group_robust", "dro"), "dro_step": options.get("dro_step", 0.01)}


@register_remedy
class LastLayer(Remedy):
    """Deep feature reweighting: the last layer refitted on a group-balanced held-out part."""

    name = "dfr"
    changes = "the last layer"
    summary = ("last-layer retraining (DFR, Kirichenko et al. 2022): the head refitted on features of the held-out "
               "validation part, every source x label group drawn to the same count")

    def train_overrides(self, options: dict) -> dict:
        return {"last_layer": "dfr"}
