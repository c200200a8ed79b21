"""The report renders in headless Chromium: every chart draws an svg, no JavaScript errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqalpha.report.browser import check_render, find_chromium
from seqalpha.report.html import CHARTS, write_report


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's path; skip when absent locally, fail when SEQALPHA_REQUIRE_SHARED=1 (CI)."""
    exe = find_chromium()
    if exe is None:
        msg = "chromium is not installed (run: bash scripts/install_system_deps.sh)"
        if os.environ.get("SEQALPHA_REQUIRE_SHARED") == "1":
            pytest.fail(msg + "; SEQALPHA_REQUIRE_SHARED=1 makes this a failure")
        pytest.skip(msg)
    return exe


def test_every_chart_renders_without_js_errors(
    run_dir: Path, tmp_path: Path, chromium: str
) -> None:
    report = write_report(run_dir)
    shot = tmp_path / "report.png"
    result = check_render(report, screenshot=shot, chromium=chromium)
    assert result.errors == []
    assert set(result.charts) == set(CHARTS)
    for name, counts in result.charts.items():
        assert counts["svg"] >= 1, f"chart {name} drew no .main-svg"
        assert counts["traces"] >= 1, f"chart {name} drew no trace"
    assert result.ok and result.missing == []
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a real picture, not a blank page


def test_signal_only_report_renders_its_charts_and_placeholders(
    signal_only_run_dir: Path, chromium: str
) -> None:
    result = check_render(write_report(signal_only_run_dir), chromium=chromium)
    assert result.ok
    assert set(result.charts) == {"ic", "ic_monthly", "quantiles"}
    assert {"cum_excess", "cum_return", "drawdown", "turnover"} <= set(result.missing)


def test_probe_catches_js_errors_and_empty_charts(tmp_path: Path, chromium: str) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        '<div class="seqalpha-chart" data-chart="empty"><div>no plot here</div></div>'
        "<script>console.error('bad data'); undefinedFunction();</script></body></html>"
    )
    result = check_render(page, chromium=chromium)
    assert result.charts == {"empty": {"svg": 0, "traces": 0}}
    assert any("undefinedFunction" in e for e in result.errors)
    assert any("console.error: bad data" in e for e in result.errors)
    assert not result.ok
