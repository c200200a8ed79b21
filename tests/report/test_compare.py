"""`seqalpha compare`: by-year table, paired daily IC differences with exact SEs, HTML page."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.errors import ConfigError
from seqalpha.report.compare import (
    comparison_table,
    load_runs,
    paired_difference,
    paired_ic_table,
    write_compare,
)

# Five test days across a year end; run b skips the first and adds one after the last.
DAYS = ["2021-12-29", "2021-12-30", "2021-12-31", "2022-01-03", "2022-01-04", "2022-01-05"]
IC_A = [0.9, 0.3, 0.5, 0.2, 0.4]  # on DAYS[0:5]
IC_B = [0.2, 0.2, 0.1, 0.1, -0.7]  # on DAYS[1:6]
# shared days DAYS[1:5]: a - b = 0.1, 0.3, 0.1, 0.3 -> mean 0.2, SE = 0.1 / sqrt(3)


def _dates(days: list[str]) -> pl.Series:
    return pl.Series("datetime", days).str.to_date()


def write_ic_run(path: Path, days: list[str], ic: list[float], excess: float) -> Path:
    """A run with ic.parquet (rank IC = IC / 2) and returns.parquet of constant daily excess."""
    path.mkdir(parents=True)
    n = len(days)
    pl.DataFrame(
        {"datetime": _dates(days), "ic": ic, "rank_ic": [v / 2 for v in ic]}
    ).write_parquet(path / "ic.parquet")
    pl.DataFrame(
        {
            "datetime": _dates(days),
            "return": [excess] * n,
            "return_nc": [excess] * n,
            "benchmark": [0.0] * n,
            "excess": [excess] * n,
            "excess_nc": [excess] * n,
            "turnover": [0.1] * n,
            "cost": [0.0] * n,
            "value": [1.0] * n,
        }
    ).write_parquet(path / "returns.parquet")
    return path


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    a = write_ic_run(tmp_path / "a", DAYS[:5], IC_A, excess=0.001)
    b = write_ic_run(tmp_path / "b", DAYS[1:], IC_B, excess=-0.002)
    return a, b


def test_paired_difference_of_known_series() -> None:
    stats = paired_difference(np.array([0.4, 0.5, np.nan, 0.3]), np.array([0.3, 0.2, 0.1, 0.2]))
    # the NaN day is dropped: diffs 0.1, 0.3, 0.1 -> mean 1/6, std sqrt(1/75)
    assert stats["n_days"] == 3
    assert stats["diff"] == pytest.approx(1 / 6)
    assert stats["se"] == pytest.approx(math.sqrt(1 / 75) / math.sqrt(3))
    assert stats["t"] == pytest.approx(stats["diff"] / stats["se"])


def test_paired_ic_uses_shared_days_only(two_runs: tuple[Path, Path]) -> None:
    pairs = paired_ic_table(load_runs(two_runs))
    ic = pairs.filter(pl.col("metric") == "IC").rows_by_key("period", named=True, unique=True)
    overall = ic["overall"]
    assert (overall["run_a"], overall["run_b"], overall["n_days"]) == ("a", "b", 4)
    assert overall["mean_a"] == pytest.approx(0.35)  # 0.3, 0.5, 0.2, 0.4
    assert overall["mean_b"] == pytest.approx(0.15)
    assert overall["diff"] == pytest.approx(0.2)
    assert overall["se"] == pytest.approx(0.1 / math.sqrt(3))
    assert overall["t"] == pytest.approx(2 * math.sqrt(3))
    # by year of the shared days: two days each, diffs 0.1 and 0.3 -> SE = 0.1
    for year in ("2021", "2022"):
        assert ic[year]["n_days"] == 2
        assert ic[year]["diff"] == pytest.approx(0.2)
        assert ic[year]["se"] == pytest.approx(0.1)
    rank = pairs.filter((pl.col("metric") == "RankIC") & (pl.col("period") == "overall"))
    assert rank["diff"][0] == pytest.approx(0.1)  # rank IC is IC / 2 in both runs
    assert rank["se"][0] == pytest.approx(0.05 / math.sqrt(3))


def test_table_by_year_and_overall(two_runs: tuple[Path, Path]) -> None:
    table = comparison_table(load_runs(two_runs))
    rows = {(r["run"], r["period"]): r for r in table.iter_rows(named=True)}
    assert set(rows) == {
        ("a", "2021"),
        ("a", "2022"),
        ("a", "overall"),
        ("b", "2021"),
        ("b", "2022"),
        ("b", "overall"),
    }
    assert rows["a", "2021"]["IC"] == pytest.approx((0.9 + 0.3 + 0.5) / 3)
    assert rows["a", "overall"]["IC_days"] == 5
    assert rows["b", "overall"]["RankIC"] == pytest.approx(np.mean(IC_B) / 2)
    # Qlib's annualization: 238 x mean daily excess; constant excess has no drawdown
    assert rows["a", "overall"]["AlphaRtn"] == pytest.approx(0.238)
    assert rows["b", "2022"]["AlphaRtn"] == pytest.approx(-0.476)
    assert rows["a", "overall"]["AlphaDrawdown"] == pytest.approx(0.0)
    assert rows["b", "overall"]["TOV"] == pytest.approx(0.1)


def test_ic_recomputed_from_predictions_when_ic_file_absent(tmp_path: Path) -> None:
    """Scores ordered like labels give IC +1 every day; reversed scores give -1."""
    days = DAYS[:3]
    label = [0.01, 0.03, -0.02, 0.05]
    for name, sign in (("up", 1.0), ("down", -1.0)):
        run = tmp_path / name
        run.mkdir()
        pl.DataFrame(
            {
                "datetime": _dates([d for d in days for _ in label]),
                "instrument": [f"SH60000{i}" for _ in days for i in range(len(label))],
                "score": [sign * v for _ in days for v in label],
                "label": [v for _ in days for v in label],
            }
        ).write_parquet(run / "predictions.parquet")
    runs = load_runs([tmp_path / "up", tmp_path / "down"])
    assert runs[0].daily.source == "predictions.parquet"
    np.testing.assert_allclose(runs[0].daily.ic, 1.0)
    np.testing.assert_allclose(runs[1].daily.rank_ic, -1.0)
    pair = paired_ic_table(runs).filter(pl.col("period") == "overall").row(0, named=True)
    assert (pair["n_days"], pair["diff"], pair["se"]) == (3, pytest.approx(2.0), 0.0)
    table = comparison_table(runs)
    assert table.filter(pl.col("period") == "overall")["AlphaRtn"].is_nan().all()


def test_signal_figures_from_metrics_json_when_no_series(tmp_path: Path, two_runs) -> None:
    run = tmp_path / "metrics_only"
    run.mkdir()
    metrics = {"ic": 0.05, "rank_ic": 0.04, "by_year": {"2022": {"IC": 0.07, "AlphaRtn": 0.1}}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    runs = load_runs([run, two_runs[0]])
    assert runs[0].daily is None
    rows = {
        r["period"]: r
        for r in comparison_table(runs).iter_rows(named=True)
        if r["run"] == "metrics_only"
    }
    assert rows["overall"]["IC"] == pytest.approx(0.05)
    assert rows["2022"]["IC"] == pytest.approx(0.07)
    assert rows["2022"]["AlphaRtn"] == pytest.approx(0.1)
    assert paired_ic_table(runs).height == 0  # nothing to pair without a daily series


def test_compare_needs_two_distinct_runs(two_runs: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match="at least two"):
        load_runs([two_runs[0]])
    with pytest.raises(ConfigError, match="more than once"):
        load_runs([two_runs[0], two_runs[0]])


def test_html_page_is_self_contained_with_both_curves(two_runs, tmp_path: Path) -> None:
    out, _ = write_compare(two_runs, tmp_path / "compare.html")
    text = out.read_text(encoding="utf-8")
    assert set(re.findall(r'id="chart-([a-z_]+)"', text)) == {"cum_excess", "cum_ic"}
    assert 'id="table-compare"' in text and 'id="table-pairs"' in text
    assert not re.findall(r"<script[^>]*\bsrc=", text)
    # each chart overlays one trace per run
    assert text.count('"name":"a"') == 2 and text.count('"name":"b"') == 2


def test_cli_compare_prints_tables_and_writes_page(two_runs, tmp_path: Path) -> None:
    out = tmp_path / "cmp.html"
    result = CliRunner().invoke(app, ["compare", *map(str, two_runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert "overall" in result.stdout and "0.2000" in result.stdout  # the IC difference
    bad = CliRunner().invoke(app, ["compare", str(two_runs[0]), str(tmp_path / "nope")])
    assert bad.exit_code == 2
    assert "error:" in bad.stderr and "does not exist" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
