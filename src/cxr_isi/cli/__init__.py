"""The ``cxr-isi`` command line (typer + rich). Heavy libraries are imported inside commands."""
