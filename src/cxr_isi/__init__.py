"""cxr-isi: did a chest X-ray classifier learn the disease, or where the images came from?

The package follows the protocol's flow, one subpackage per stage, imports in one direction:
``data -> synth -> audit -> lungs -> models -> train -> evaluate -> explain -> probes -> experiments ->
report``, with ``cli`` on top.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cxr-isi")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
