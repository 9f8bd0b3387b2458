"""What every command shares: the ``app``, the consoles, the common options, one-line errors
(:func:`friendly`) and the output checks (:func:`outputs`)."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cxr_isi import __version__
from cxr_isi.errors import CxrIsiError
from cxr_isi.logs import setup_logging
from cxr_isi.report import terminal
from cxr_isi.report.terminal import figure_text

app = typer.Typer(
    name="cxr-isi",
    help="Did a chest X-ray classifier learn the disease, or where the images came from?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

ManifestArg = Annotated[Path | None, typer.Argument(help="Manifest (CSV or Parquet).", show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Dataset YAML: manifest, filter, labels.")]
PositiveOpt = Annotated[list[str] | None, typer.Option("--positive", "-p", help="Label counted positive (repeat).")]
NegativeOpt = Annotated[list[str] | None, typer.Option("--negative", "-n", help="Label counted negative (repeat); default: all others.")]
WhereOpt = Annotated[list[str] | None, typer.Option("--where", "-w", help="Keep rows: 'col=a,b & col2=c' (repeat = OR).")]
SEED_MAX = 2**32 - 1


def at_least(option: str, low: float, high: float | None = None):
    """A parameter callback: a number outside ``[low, high]`` (or NaN) is one line on stderr and
    exit status 2 (typer's own range check prints a usage box over several lines)."""

    def check(value):
        if value is not None and not (low <= value and (high is None or value <= high)):
            span = f"from {low} to {high}" if high is not None else f"{low} or more"
            err.print(f"[bold red]error:[/] {option} {value}: must be {span}", highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        return value

    return check


SeedOpt = Annotated[int, typer.Option(help="Seed for every random choice.", callback=at_least("--seed", 0, SEED_MAX))]
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Cache folder (default $CXR_ISI_CACHE or ~/.cache/cxr_isi).")]


def reflow_help(typer_app: typer.Typer) -> None:
    """Give every command of ``typer_app`` (and of its groups) its docstring with each paragraph
    on one line: Rich prints a docstring's line breaks as they are, which cut sentences in two
    on any terminal narrower or wider than the source. The first line is the summary that
    ``cxr-isi --help`` lists."""
    import inspect

    for info in typer_app.registered_commands:
        doc = inspect.getdoc(info.callback) if info.help is None and info.callback else None
        if doc:
            info.help = "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


def _version(value: bool) -> None:
    if value:
        out.print(f"cxr-isi {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Did a chest X-ray classifier learn the disease, or where the images came from?"""
    setup_logging(verbosity=verbose)


def friendly(fn):
    """Turn the package's errors into one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        main_thread = threading.current_thread() is threading.main_thread()
        before = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
        try:
            return fn(*args, **kwargs)
        except Terminated:
            err.print("terminated; what was finished is kept, run the same command to resume")
            raise typer.Exit(143) from None
        except CxrIsiError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as exc:  # an output path that is a folder, a file, under a file, not writable...
            err.print(f"[bold red]error:[/] {escape(_os_message(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted; what was finished is kept, run the same command to resume")
            raise typer.Exit(130) from None
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, before)

    return wrapper


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or a ``kill``'s stop): unwound like Ctrl-C, so pools shut down,
    finished work is saved and the command says so in one line."""


def _terminated(signum, frame) -> None:
    raise Terminated()


_OPTION = {"out_path": "--out", "out_dir": "--out", "json_out": "--json", "figure": "--figure", "csv_out": "--csv", "preview": "--preview",
           "model_card": "--model-card"}


def outputs(**kinds: str):
    """Check a command's output options (``name="file"``, ``"figure"``: a file named .png, .svg or
    .pdf, or ``"folder"``) before it does any work:
    a wrong one is a one-line error naming the path (under :func:`friendly`). An output file that
    is one of the command's own input files (by any path: ``./``, ``..``, a link) is refused: no
    command writes over its input."""
    from cxr_isi._io import check_not_input, check_output

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            given = [v for k, v in kwargs.items() if k not in kinds for v in (v if isinstance(v, list) else [v])
                     if isinstance(v, Path)]
            for name, kind in kinds.items():
                if kwargs.get(name) is not None:
                    check_output(kwargs[name], folder=kind == "folder", option=_OPTION[name])
                    if kind in ("file", "figure"):
                        check_not_input(kwargs[name], given, option=_OPTION[name])
                    if kind == "figure" and Path(kwargs[name]).suffix.lower() not in (".png", ".svg", ".pdf"):
                        raise CxrIsiError(f"{_OPTION[name]} {kwargs[name]}: a figure is written as .png, .svg or .pdf")
            new = [_first_missing(Path(kwargs[name])) for name in kinds if kwargs.get(name) is not None]
            try:
                return fn(*args, **kwargs)
            except BaseException:
                for made in new:  # a failed command leaves no empty output folder behind
                    if made is not None:
                        _remove_if_empty(made)
                raise

        return wrapper

    return deco


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` (itself included) that does not exist yet."""
    missing = None
    for p in (path, *path.absolute().parents):
        if os.path.lexists(p):
            break
        missing = p
    return missing


def _remove_if_empty(top: Path) -> None:
    """Remove ``top`` when it holds nothing but empty folders and run locks; anything written
    stays."""
    if not top.is_dir():
        return
    entries = list(top.rglob("*"))
    if all(e.is_dir() or e.name == ".lock" for e in entries):
        shutil.rmtree(top, ignore_errors=True)


def _os_message(exc: OSError) -> str:
    """One line for a file-system error: the path and what is wrong with it."""
    where = exc.filename or ""
    if isinstance(exc, FileExistsError) and where and Path(where).is_file():
        return f"{where}: is a file, not a folder (a part of this path is a file)"
    what = {IsADirectoryError: "is a folder, not a file", NotADirectoryError: "a part of this path is a file, "
            "not a folder", FileExistsError: "already exists", PermissionError: "cannot be written (permission "
            "denied)", FileNotFoundError: "not found"}.get(type(exc), (exc.strerror or str(exc)).lower())
    return f"{where}: {what}" if where else what


def label_mapping(positive: list[str] | None, negative: list[str] | None):
    """The binary mapping from --positive/--negative (None without --positive); bad lists are
    one-line errors."""
    from cxr_isi.config import parse_model
    from cxr_isi.data import LabelMapping

    if negative and not positive:
        raise CxrIsiError("--negative needs --positive too")
    if not positive:
        return None
    return parse_model(LabelMapping, {"positive": positive, "negative": negative or None},
                       "--positive/--negative")


def load_dataset(manifest: Path | None, config: Path | None, positive: list[str] | None,
                 negative: list[str] | None, where: list[str] | None):
    """A manifest with its label mapping, from a dataset YAML or from CLI options."""
    from cxr_isi.data import Manifest, parse_where
    from cxr_isi.data.spec import DatasetSpec

    if config is not None:
        if manifest is not None or positive or negative or where:
            raise CxrIsiError("give either --config or MANIFEST with --positive/--negative/--where")
        spec = DatasetSpec.from_yaml(config)
        return spec.load(), spec.filter
    if manifest is None:
        raise CxrIsiError("no dataset: give MANIFEST or --config DATASET.yaml")
    m = Manifest.read(manifest)
    row_filter = parse_where(where)
    if row_filter.clauses:
        m = m.filter(row_filter)
    mapping = label_mapping(positive, negative)
    if mapping is not None:
        mapping.check_present(m.frame["label"], str(manifest))
    return m.with_labels(mapping), row_filter.to_data()


def _fmt(x: float | None, nd: int = 3) -> str:
    return figure_text(x, nd)


# -- the tables every study command prints (run, report, demo): cxr_isi.report.terminal ----------
def print_verdicts(summary: dict) -> None:
    """:func:`cxr_isi.report.terminal.print_verdicts` on this app's console."""
    terminal.print_verdicts(summary, out)


def print_results(results) -> None:
    """:func:`cxr_isi.report.terminal.print_results` on this app's console."""
    terminal.print_results(results, out)
