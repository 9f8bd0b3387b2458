"""A dataset as configs name it: a manifest, a row filter, and the binary label mapping."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from cxr_isi.config import StrictModel, load_config
from cxr_isi.data.labels import LabelMapping
from cxr_isi.data.manifest import Manifest, RowFilter


class DatasetSpec(StrictModel):
    """``manifest`` (relative to the config's folder), ``filter`` (OR of AND clauses), ``labels``."""

    name: str | None = None
    manifest: Path
    filter: list[dict[str, list[str] | str]] = Field(default_factory=list)
    labels: LabelMapping | None = None

    def resolve(self, base: Path) -> DatasetSpec:
        # lexically: configs/ may be a link, and ".." in a config means the link's parent
        path = self.manifest if self.manifest.is_absolute() else Path(os.path.normpath(base / self.manifest))
        return self.model_copy(update={"manifest": path})

    def load(self) -> Manifest:
        """The filtered manifest with its label mapping attached."""
        manifest = Manifest.read(self.manifest)
        if self.filter:
            manifest = manifest.filter(RowFilter.from_data(self.filter))
        return manifest.with_labels(self.labels)

    @classmethod
    def from_yaml(cls, path: str | Path) -> DatasetSpec:
        return load_config(cls, path).resolve(Path(path).parent)
