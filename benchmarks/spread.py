"""How far the documented figures move on another CPU: the demo and the tutorials under other kernels.

Runs ``cxr-isi demo`` and every tutorial page (``docs/tutorials/*.md``, through the tutorial
runner) once per CPU kernel class: the machine's own, and PyTorch's ``avx2`` and ``default``
(``ATEN_CPU_CAPABILITY``; a machine without AVX-512 runs ``avx2`` as its own). For every figure that
the README's demo block and the pages show it records what each run printed, and whether each
shown line's words were printed at all (a verdict or a decision that changed is a finding, not a
spread). The table goes between the markers of ``docs/evidence/reproducibility.md``::

    python benchmarks/spread.py            # about 30 minutes on 2 cores
    python benchmarks/spread.py --only demo,study   # those two brought up to date, the rest as kept

Each run's printed output is kept under ``--out`` with what made it (the kernels, torch's version,
a hash of the page and of the source tree); a rerun reuses an output only when all of those match.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import figures  # noqa: E402
from tests.tutorials import ELIDED, blocks, lines, run_block  # noqa: E402

RUNS = {"native": None, "avx2": "avx2", "default": "default"}
PAGE = REPO / "docs" / "evidence" / "reproducibility.md"
START, END = "<!-- spread:start -->", "<!-- spread:end -->"


def tree_hash() -> str:
    """What the outputs depend on: the package's source, configs and the tutorials."""
    h = hashlib.sha256()
    for base in ("src", "configs", "docs/tutorials"):
        for p in sorted((REPO / base).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(REPO)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def readme_demo() -> str:
    """The demo's output as the README shows it (the first ``` block after ``make demo`` runs)."""
    text = (REPO / "README.md").read_text()
    at = text.index("prints:")
    m = re.search(r"```\n(.*?)```", text[at:], re.S)
    assert m, "README: no demo output block after 'prints:'"
    return m.group(1)


def shown_items() -> dict[str, list[tuple[str, str]]]:
    """``{item: [(shown text, runnable code or '')]}``: the demo, and each page's blocks."""
    items: dict[str, list[tuple[str, str]]] = {"demo": [(readme_demo(), "")]}
    for page in sorted((REPO / "docs" / "tutorials").glob("*.md")):
        items[page.stem] = [(b.output.code if b.output else "", f"{b.lang}\n{b.code}")
                            for b in blocks(page.read_text())]
    return items


def run_item(item: str, cap: str | None, out: Path, stamp: dict, older: bool = False) -> list[str]:
    """What each block of ``item`` printed under kernels ``cap`` (kept, and reused when its stamp
    matches; with ``older``, also one that another source tree made under the same kernels)."""
    saved = out / f"{item}.json"
    if saved.is_file():
        kept = json.loads(saved.read_text())
        same = {k: v for k, v in kept.get("stamp", {}).items() if k != "tree"} == \
            {k: v for k, v in stamp.items() if k != "tree"}
        if kept.get("stamp") == stamp or (older and same):
            return kept["printed"]
    env_cap = os.environ.pop("ATEN_CPU_CAPABILITY", None)
    if cap:
        os.environ["ATEN_CPU_CAPABILITY"] = cap
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if item == "demo":
                env = dict(os.environ, COLUMNS="80", HF_HUB_OFFLINE="1")
                done = subprocess.run([str(Path(sys.executable).parent / "cxr-isi"), "demo", "--out", "demo_out"],
                                      cwd=work, capture_output=True, text=True, env=env)
                if done.returncode:
                    raise SystemExit(f"demo under {cap or 'native'} exited {done.returncode}: {done.stderr[-500:]}")
                printed = ["\n".join(lines(done.stdout, work))]
            else:
                printed = []
                page = REPO / "docs" / "tutorials" / f"{item}.md"
                for b in blocks(page.read_text()):
                    printed.append("\n".join(lines(run_block(b, work), work)))
    finally:
        os.environ.pop("ATEN_CPU_CAPABILITY", None)
        if env_cap is not None:
            os.environ["ATEN_CPU_CAPABILITY"] = env_cap
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"stamp": stamp, "printed": printed}, indent=1))
    return printed


def capability(cap: str | None) -> str:
    env = dict(os.environ)
    env.pop("ATEN_CPU_CAPABILITY", None)
    if cap:
        env["ATEN_CPU_CAPABILITY"] = cap
    return subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability(), "
                           "torch.__version__)"], env=env, capture_output=True, text=True, check=True).stdout.strip()


def compare(shown: str, printed: str) -> list[tuple[str, figures.Figure | None, str | None]]:
    """For each figure of ``shown``: (its line with the figure marked ``▮``, the figure shown, the
    figure printed or ``None`` where the line's words were not printed); a line without figures
    gives one row whose figure is ``None``."""
    got = " ".join(printed.split())
    rows: list[tuple[str, figures.Figure | None, str | None]] = []
    cols, before = frozenset[int](), ""
    for line in (" ".join(x.split()) for x in shown.splitlines() if x.strip()):
        if line.startswith("┃"):
            cols = figures.rate_columns(line)
        if line == ELIDED:
            continue
        regex, figs = figures.pattern(line, cols, before)
        spans = [m.span() for m, _ in figures.figures(line, cols, before)]
        before = line
        matches = list(regex.finditer(got))
        best = None
        if matches:  # the match whose figures lie nearest the shown ones
            best = min(matches, key=lambda m: sum(abs(figures.Figure(g, f.tolerance).value - f.value)
                                                   for f, g in zip(figs, m.groups(), strict=True)))
        if not figs:
            rows.append((line, None, "" if best else None))
        for i, f in enumerate(figs):
            marked = line[: spans[i][0]] + "▮" + line[spans[i][1]:]
            rows.append((marked.strip("│ ").replace("│", "/"), f, best.group(i + 1) if best else None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default=",".join(RUNS), help="kernel classes: native, avx2, default")
    parser.add_argument("--only", default="", help="items to bring up to date (demo, page names; comma-separated): "
                        "the others are read as kept under the same kernels, whatever source tree made them")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "spread")
    parser.add_argument("--kept", action="store_true", help="the table from the kept outputs (runs what is missing)")
    parser.add_argument("--write", action="store_true", help=f"write the table into {PAGE.relative_to(REPO)}")
    args = parser.parse_args()
    runs = [r for r in args.runs.split(",") if r]
    items = shown_items()
    rerun = set() if args.kept else set(args.only.split(",")) if args.only else set(items)
    tree = tree_hash()
    caps = {r: capability(RUNS[r]) for r in runs}
    print("kernels:", ", ".join(f"{r} = {c}" for r, c in caps.items()), flush=True)
    printed: dict[str, dict[str, list[str]]] = {}
    for run in runs:
        for item in items:
            stamp = {"kernels": caps[run], "tree": tree, "item": item}
            print(f"{run}: {item} ...", flush=True)
            printed.setdefault(item, {})[run] = run_item(item, RUNS[run], args.out / run, stamp,
                                                         older=item not in rerun)
    table = [f"| item | figure (▮) | shown | {' | '.join(f'{r} ({caps[r].split()[0]})' for r in runs)} "
             "| largest move | tolerance |",
             "|---|---|---:|" + "---:|" * len(runs) + "---:|---:|"]
    words_changed = []
    for item, shown_blocks in items.items():
        for k, (shown, _code) in enumerate(shown_blocks):
            if not shown:
                continue
            per_run = {r: compare(shown, printed[item][r][k]) for r in runs}
            for j, (label, fig, _) in enumerate(per_run[runs[0]]):
                got = [per_run[r][j][2] for r in runs]
                words_changed += [f"{item} ({r}): {label}" for r, g in zip(runs, got, strict=True) if g is None]
                if fig is None:
                    continue
                moved = max((abs(figures.Figure(g, 1).value - fig.value) for g in got if g), default=float("nan"))
                cells = " | ".join(g if g else "**words differ**" for g in got)
                short = (label if len(label) < 90 else label[:87] + "...").replace("|", "\\|")
                table.append(f"| {item} | `{short}` | {fig.text} | {cells} | {moved:.3f} | {fig.tolerance:g} |")
    text = "\n".join(table) + "\n"
    if words_changed:
        text += "\nLines whose words were not printed (a changed verdict or decision):\n\n" + \
                "\n".join(f"- {w}" for w in words_changed) + "\n"
    print(text)
    if args.write:
        page = PAGE.read_text()
        a, b = page.index(START) + len(START), page.index(END)
        PAGE.write_text(page[:a] + "\n" + text + page[b:])
        print("written:", PAGE.relative_to(REPO))


if __name__ == "__main__":
    main()
