"""User-facing errors: each carries one line that names the file or row and the problem."""


class CxrIsiError(Exception):
    """Base class; the CLI prints the message on one line and exits with status 2."""


class ManifestError(CxrIsiError):
    """A manifest (or a row of it) cannot be used."""


class ImageReadError(CxrIsiError):
    """An image file cannot be decoded."""


class ConfigError(CxrIsiError):
    """A YAML config does not validate."""


class SplitError(CxrIsiError):
    """A train/test split or a fold assignment breaks the protocol's rules."""


class ImporterError(CxrIsiError):
    """A public dataset's folder does not have the layout its importer expects."""
