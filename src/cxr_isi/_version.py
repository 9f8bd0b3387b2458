"""The installed version (``0.0.0+unknown`` from a source tree that was never installed)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cxr-isi")
except PackageNotFoundError:
    __version__ = "0.0.0+unknown"
