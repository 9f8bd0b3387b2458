"""Dataset layer: manifests, importers, image readers, the memory-mapped cache, and splits."""

from cxr_isi.data.labels import LabelMapping
from cxr_isi.data.manifest import Manifest, RowFilter, parse_where

__all__ = ["LabelMapping", "Manifest", "RowFilter", "parse_where"]
