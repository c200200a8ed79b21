"""The HTML report: one self-contained page, a div per chart, graceful about missing pieces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.errors import DataError
from seqalpha.report.html import CHARTS, format_metric, write_report, year_table_html
from seqalpha.report.rundir import load_run


def chart_ids(text: str) -> set[str]:
    return set(re.findall(r'class="seqalpha-chart" id="chart-([a-z_]+)"', text))


def missing_ids(text: str) -> set[str]:
    return set(re.findall(r'class="seqalpha-missing" data-chart="([a-z_]+)"', text))


def test_full_run_has_every_chart_and_is_self_contained(run_dir: Path) -> None:
    path = write_report(run_dir)
    assert path == run_dir / "report.html"
    text = path.read_text(encoding="utf-8")
    assert chart_ids(text) == set(CHARTS)
    assert not missing_ids(text)
    # plotly.js inlined exactly once, nothing fetched from the network
    assert text.count("window.Plotly") >= 1
    assert len(re.findall(r"<script[^>]*\bsrc=", text)) == 0
    assert not re.search(r"<link[^>]*href=\"https?:", text)
    assert text.count('<script type="text/javascript">/**\n* plotly.js') <= 1
    assert text.count("Plotly.newPlot(") == len(CHARTS)
    # config shown as pretty YAML in a <pre>
    pre = re.search(r'<pre class="config" id="config-yaml">(.*?)</pre>', text, re.DOTALL)
    assert pre is not None and "hidden: 64" in pre.group(1) and "train_days: 120" in pre.group(1)
    # per-year metrics table with percentages
    assert 'id="table-by-year"' in text
    assert "<td>12.00%</td>" in text  # AlphaRtn 2021 = 0.12
    assert '<td class="neg">-8.10%</td>' in text  # AlphaDrawdown
    assert "<td>1.50</td>" in text  # AlphaSharpe stays a ratio


def test_signal_only_run_says_what_is_missing(signal_only_run_dir: Path) -> None:
    text = write_report(signal_only_run_dir).read_text(encoding="utf-8")
    assert {"cum_excess", "cum_return", "drawdown", "turnover"} <= missing_ids(text)
    assert chart_ids(text) == {"ic", "ic_monthly", "quantiles"}
    assert "signal-only run" in text
    assert 'data-table="by_year"' in text  # no by_year metrics: a note instead of a table
    assert "computed from predictions.parquet" in text


def test_ic_and_quantile_files_are_preferred_over_predictions(tmp_path: Path, make_run) -> None:
    run = make_run(tmp_path / "r", n_days=40, n_inst=10, with_ic_files=True)
    text = write_report(run).read_text(encoding="utf-8")
    assert "Information coefficient (ic.parquet)" in text
    assert "(quantiles.parquet)" in text
    assert re.search(r'"name":"q3"', text)  # the file's three quantiles, not the default five
    assert not re.search(r'"name":"q4"', text)


def test_empty_run_dir_renders_placeholders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    text = write_report(tmp_path / "empty").read_text(encoding="utf-8")
    assert missing_ids(text) == set(CHARTS)
    assert "No metrics.json in this run" in text and "No config.yaml in this run" in text


def test_invalid_inputs_raise_data_errors_naming_the_file(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        write_report(tmp_path / "nope")
    pl.DataFrame({"datetime": ["2021-01-04"], "excess": [0.1]}).write_parquet(
        run_dir / "returns.parquet"
    )
    with pytest.raises(DataError, match=r"returns\.parquet: missing column\(s\) \['return'"):
        write_report(run_dir)


def test_duplicate_predictions_are_rejected(tmp_path: Path) -> None:
    run = tmp_path / "dup"
    run.mkdir()
    pl.DataFrame(
        {
            "datetime": ["2021-01-04"] * 2,
            "instrument": ["A", "A"],
            "score": [1.0, 2.0],
            "label": [0.1, 0.2],
        }
    ).write_parquet(run / "predictions.parquet")
    with pytest.raises(DataError, match=r"predictions\.parquet: duplicate"):
        write_report(run)


def test_bad_yaml_is_shown_verbatim_with_a_note(run_dir: Path) -> None:
    (run_dir / "config.yaml").write_text("model: [unclosed\n")
    text = write_report(run_dir).read_text(encoding="utf-8")
    assert "not a valid YAML mapping" in text and "model: [unclosed" in text


def test_year_table_orders_years_then_overall() -> None:
    metrics = {
        "by_year": {"2022": {"AlphaRtn": 0.1, "Extra": 3}, "2021": {"AlphaRtn": -0.05}},
        "overall": {"AlphaRtn": 0.02},
    }
    table = year_table_html(metrics)
    assert table.index("<td>2021</td>") < table.index("<td>2022</td>") < table.index("overall")
    assert '<td class="neg">-5.00%</td>' in table and "<td>—</td>" in table  # 2021 lacks Extra
    assert table.index("AlphaRtn") < table.index("Extra")


@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("AlphaRtn", 0.1234, "12.34%"),
        ("TOV", 0.2, "20.00%"),
        ("AlphaSharpe", 2.754, "2.75"),
        ("IR", 1.0, "1.00"),
        ("ic", 0.05123, "0.0512"),
        ("AlphaDrawdown", float("nan"), "—"),
        ("days", 250, "250"),
    ],
)
def test_format_metric(name: str, value: float, expected: str) -> None:
    assert format_metric(name, value) == expected


def test_cli_report_prints_the_path(run_dir: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(run_dir / "report.html")
    assert (run_dir / "report.html").stat().st_size > 1_000_000  # plotly.js is inlined
    bad = CliRunner().invoke(app, ["report", str(run_dir / "missing")])
    assert bad.exit_code == 2


def test_load_run_reports_present_files(run_dir: Path) -> None:
    run = load_run(run_dir)
    assert run.present["returns.parquet"] and not run.present["ic.parquet"]
    assert run.returns is not None and run.returns["datetime"].dtype == pl.Date
    assert json.loads((run_dir / "metrics.json").read_text())["ic"] == run.metrics["ic"]
    assert np.all(np.diff(run.returns["datetime"].to_numpy()) > np.timedelta64(0))


def test_package_exports_lazily() -> None:
    from seqalpha import report

    assert report.write_report is write_report
    with pytest.raises(AttributeError, match="no_such_name"):
        report.no_such_name  # noqa: B018
