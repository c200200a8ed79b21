"""Render an HTML report in headless Chromium and check that every chart drew, without JS errors.

A probe script is injected first in <head> of a copy of the page: it records window errors,
unhandled promise rejections and console.error calls, and after load writes a JSON summary
(svg and drawn-trace counts per `.seqalpha-chart` div; heatmaps draw `.hm`) into the DOM
that `--dump-dom` returns.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from seqalpha.errors import DataError

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

_PROBE = """<script>
window.__seqalphaErrors = [];
window.addEventListener('error', function (e) {
  window.__seqalphaErrors.push('error: ' + e.message + ' @' + e.filename + ':' + e.lineno);
});
window.addEventListener('unhandledrejection', function (e) {
  window.__seqalphaErrors.push('unhandled rejection: ' + e.reason);
});
(function () {
  var orig = console.error;
  console.error = function () {
    window.__seqalphaErrors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    orig.apply(console, arguments);
  };
})();
window.addEventListener('load', function () {
  setTimeout(function () {
    var charts = {};
    document.querySelectorAll('.seqalpha-chart').forEach(function (d) {
      charts[d.dataset.chart] = {svg: d.querySelectorAll('.main-svg').length,
                                 traces: d.querySelectorAll('.trace, .hm').length};
    });
    var missing = [];
    document.querySelectorAll('.seqalpha-missing').forEach(function (d) {
      missing.push(d.dataset.chart || d.dataset.table || d.dataset.section || '?');
    });
    var pre = document.createElement('pre');
    pre.id = 'seqalpha-probe';
    pre.style.display = 'none';
    pre.textContent = JSON.stringify({errors: window.__seqalphaErrors, charts: charts,
                                      missing: missing});
    document.body.appendChild(pre);
  }, %(settle_ms)d);
});
</script>"""

_PROBE_RE = re.compile(r'<pre id="seqalpha-probe"[^>]*>(.*?)</pre>', re.DOTALL)


@dataclass
class RenderResult:
    """What Chromium saw: per-chart svg/trace counts, JS errors, placeholders, screenshot path."""

    charts: dict[str, dict[str, int]]
    errors: list[str]
    missing: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def ok(self) -> bool:
        """True when there were no JS errors and every chart div holds a plotly svg."""
        return not self.errors and all(c["svg"] > 0 for c in self.charts.values())


def find_chromium() -> str | None:
    """Path of a Chromium binary ($SEQALPHA_CHROMIUM, chromium, chromium-browser), or None."""
    env = os.environ.get("SEQALPHA_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&#39;", "'")
        .replace("&amp;", "&")
    )


def check_render(
    html_path: Path | str,
    screenshot: Path | str | None = None,
    width: int = 1400,
    height: int = 4200,
    timeout: float = 120.0,
    settle_ms: int = 1000,
    chromium: str | None = None,
) -> RenderResult:
    """Load `html_path` in headless Chromium; return chart svg counts and JS errors seen."""
    html_path = Path(html_path)
    if not html_path.is_file():
        raise DataError(f"report {html_path} does not exist")
    exe = chromium or find_chromium()
    if exe is None:
        raise DataError(
            "chromium not found (install it with scripts/install_system_deps.sh "
            "or set SEQALPHA_CHROMIUM)"
        )
    text = html_path.read_text(encoding="utf-8")
    if "<head>" not in text:
        raise DataError(f"{html_path}: no <head> element to inject the render probe into")
    probed = text.replace("<head>", "<head>" + _PROBE % {"settle_ms": settle_ms}, 1)
    with tempfile.TemporaryDirectory(prefix="seqalpha-chromium-") as tmp:
        page = Path(tmp) / "probed.html"
        page.write_text(probed, encoding="utf-8")
        cmd = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--virtual-time-budget={settle_ms + 5000}",
            f"--window-size={width},{height}",
            "--dump-dom",
        ]
        if screenshot is not None:
            cmd.append(f"--screenshot={Path(screenshot).resolve()}")
        cmd.append(page.as_uri())
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DataError(
                f"chromium did not finish rendering {html_path} in {timeout} s"
            ) from exc
    match = _PROBE_RE.search(proc.stdout)
    if match is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise DataError(
            f"chromium (exit {proc.returncode}) returned no render probe for "
            f"{html_path}; stderr tail:\n{tail}"
        )
    probe = json.loads(_unescape(match.group(1)))
    shot = Path(screenshot) if screenshot is not None and Path(screenshot).is_file() else None
    return RenderResult(
        charts=probe["charts"],
        errors=probe["errors"],
        missing=probe.get("missing", []),
        screenshot=shot,
    )
