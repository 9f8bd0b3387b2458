"""Runs the tutorials' code as a reader would, so a page cannot drift from what the code does.

A tutorial page (``docs/tutorials/*.md``) is run top to bottom in one empty folder: every
```` ```bash ```` block with bash, every ```` ```python ```` block with this Python, each in a fresh
process. A ```` ```text ```` block right after one is that block's output as shown on the page:
each of its lines must be printed by the block (whitespace collapsed, wherever the terminal
wrapped; a line ``...`` stands for lines left out).
``python tests/tutorials.py docs/tutorials/PAGE.md --write`` runs a page and writes what each
block printed into its ``text`` block.

Written by hand: pytest's doctest collects Python prompts; the executable-docs plugins
(``pytest-markdown-docs``, ``mktestdocs``) run a page's code blocks but do not compare a block's
output with the text the page shows under it, nor run shell and Python blocks in order in one
folder.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

try:
    from tests import figures
except ImportError:  # run as a script: python tests/tutorials.py
    import figures  # type: ignore[no-redef]

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
RUN = ("bash", "python")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ELIDED = "..."
LIMIT_S = 900  # a hang guard only: the slowest page takes about a minute


@dataclass
class Block:
    lang: str
    code: str
    start: int
    end: int
    output: Block | None = None


def blocks(text: str) -> list[Block]:
    """The page's runnable blocks, each with the ``text`` block that shows its output (if any)."""
    found: list[Block] = []
    for m in FENCE.finditer(text):
        block = Block(m.group(1), m.group(2), m.start(2), m.end(2))
        between = text[found[-1].end: m.start()] if found else ""
        if block.lang == "text" and found and found[-1].lang in RUN and found[-1].output is None \
                and re.fullmatch(r"\s*```\s*", between):
            found[-1].output = block
        elif block.lang in RUN:
            found.append(block)
    return found


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # one compute thread: float sums round by the thread count, so a page's figures are the same
    # digits on any core count; across CPU classes they move within tests/figures.py's tolerances
    env.update(HF_HUB_OFFLINE="1", NO_COLOR="1", TERM="dumb", COLUMNS="100", PYTHONWARNINGS="ignore",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def shown(text: str, work: Path) -> str:
    """Output as a page shows it: colour codes gone, the work folder's path relative, no
    trailing spaces, no blank lines."""
    text = ANSI.sub("", text).replace(f"{work}/", "").replace(str(work), ".")
    return textwrap.dedent("\n".join(line.rstrip() for line in text.splitlines() if line.strip())) + "\n"


def lines(text: str, work: Path) -> list[str]:
    """Output as the page compares it: as shown, whitespace collapsed."""
    return [" ".join(line.split()) for line in shown(text, work).splitlines()]


def run_block(block: Block, work: Path) -> str:
    cmd = ["bash", "-euo", "pipefail", "-c", block.code] if block.lang == "bash" else [sys.executable, "-c",
                                                                                     block.code]
    done = subprocess.run(cmd, cwd=work, env=environment(), capture_output=True, text=True, timeout=LIMIT_S)
    if done.returncode != 0:
        raise AssertionError(f"this {block.lang} block exited {done.returncode}:\n{block.code}\n"
                             f"--- stderr ---\n{done.stderr[-3000:]}\n--- stdout ---\n{done.stdout[-2000:]}")
    return done.stdout


def missing_lines(shown: str, printed: str, work: Path) -> list[str]:
    """Lines the page shows that the block did not print, each with why: its words differ, or a
    figure lies beyond the tolerance it carries (``tests/figures.py``: training moves the last
    digits from one CPU to another; the words never move). Compared on the output joined into one
    line: a terminal wraps a long line where the folder's path length puts it, so a page's line
    breaks are not the output's."""
    got = " ".join(lines(printed, work))
    missing, rate_cols, before = [], frozenset[int](), ""
    for line in lines(shown, work):
        if line.startswith("┃"):
            rate_cols = figures.rate_columns(line)
        if line != ELIDED:
            why = figures.find(line, got, rate_cols, before)
            if why:
                missing.append(f"{line}\n     {why}")
        before = line
    return missing


def run_page(page: Path, work: Path, write: bool = False) -> list[str]:
    """Run every block of ``page`` in ``work``; the problems found (empty: the page holds), or,
    with ``write``, the page rewritten with what each block printed."""
    text = page.read_text()
    problems, edits = [], []
    for block in blocks(text):
        printed = run_block(block, work)
        if block.output is None:
            continue
        if write:
            edits.append((block.output, shown(printed, work)))
        for line in missing_lines(block.output.code, printed, work):
            problems.append(f"{page.name}: shown but not printed by\n{block.code.strip()}\n  -> {line}")
    if write:
        for out, new in sorted(edits, key=lambda e: e[0].start, reverse=True):
            text = text[: out.start] + new + text[out.end:]
        page.write_text(text)
        return []
    return problems


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--write", action="store_true", help="write each block's output into the page")
    args = parser.parse_args()
    for page in args.pages:
        with tempfile.TemporaryDirectory() as tmp:
            problems = run_page(page.resolve(), Path(tmp), write=args.write)
        print(page, "written" if args.write else ("holds" if not problems else "\n".join(problems)))


if __name__ == "__main__":
    main()
