"""The report seen through a real browser (headless Chromium): a screenshot, and a check that
every figure loaded and nothing runs off the page. Used by the tests and the documentation's screenshot."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from cxr_isi.errors import CxrIsiError

# Without the background-networking flags Chromium keeps dialling Google's hosts, which a closed
# network refuses; --no-sandbox because CI runs as root.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--allow-file-access-from-files"]

CHECK_SCRIPT = r"""<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const W = document.documentElement.clientWidth;
  const over = [...document.querySelectorAll('main *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.right > W + 1 && !e.closest('.scroll');
  }).map(e => e.tagName + (e.id ? '#' + e.id : '')).slice(0, 8);
  const wide = [...document.querySelectorAll('.scroll')].filter(e => e.scrollWidth > e.clientWidth + 1);
  const scrolled = wide.length;
  const scrolledHeads = wide.map(e => [...e.querySelectorAll('th')].slice(0, 3).map(t => t.textContent).join('|'));
  // a cell whose word (a number, a name) is broken over two lines: its text's lines, counted by
  // the rectangles of a range over it, exceed its words
  const wrapped = [...document.querySelectorAll('main td')].filter(td => {
    const text = td.textContent.trim();
    if (!text) return false;
    const range = document.createRange(); range.selectNodeContents(td);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    return tops.size > text.split(/\s+/).length;
  }).map(td => td.textContent.trim()).slice(0, 8);
  document.body.setAttribute('data-check', JSON.stringify({
    wrapped_cells: wrapped,
    images: imgs.length, broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    overflowing: over, page_width: document.documentElement.scrollWidth, window_width: W,
    sections: [...document.querySelectorAll('section > h2')].map(h => h.textContent),
    scrolled_tables: scrolled, scrolled_heads: scrolledHeads}));
});
</script>"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = find_chromium()
    if exe is None:
        raise CxrIsiError("no Chromium on this machine (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="cxr-isi-chromium-") as profile:
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout)


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 900, timeout: float = 120) -> Path:
    """A PNG of the page's first screen."""
    out = Path(out).absolute()
    _run([f"--window-size={width},{height}", f"--screenshot={out}", "--virtual-time-budget=5000",
          Path(page).absolute().as_uri()], timeout)
    if not out.is_file():
        raise CxrIsiError(f"{page}: Chromium wrote no screenshot")
    return out


def check_page(page: Path, width: int = 1280, height: int = 900, timeout: float = 120) -> dict:
    """Load a copy of the page with a probe script; return what the probe saw."""
    text = Path(page).read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>")
    with tempfile.TemporaryDirectory(prefix="cxr-isi-page-") as tmp:
        probe = Path(tmp) / "page.html"
        probe.write_text(text, encoding="utf-8")
        done = _run([f"--window-size={width},{height}", "--virtual-time-budget=10000", "--dump-dom",
                     probe.as_uri()], timeout)
    m = re.search(r"data-check=\"([^\"]*)\"", done.stdout)
    if not m:
        raise CxrIsiError(f"{page}: the browser did not run the page's check ({done.stderr.strip()[-200:]})")
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
