"""Members vs combination: the table's numbers and the report section, on a tiny run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqalpha.report.html import write_report
from seqalpha.report.members import COMBINATION, member_table, read_weights

DAYS = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-31"))
INSTS = [f"S{i:02d}" for i in range(12)]


def long(score: np.ndarray, label: np.ndarray, days: np.ndarray = DAYS) -> pl.DataFrame:
    n = len(INSTS)
    return pl.DataFrame(
        {
            "datetime": np.repeat(days, n),
            "instrument": INSTS * len(days),
            "score": score.ravel(),
            "label": label.ravel(),
        }
    )


@pytest.fixture
def combined_run(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    label = rng.standard_normal((len(DAYS), len(INSTS)))
    run = tmp_path / "run"
    for name, score in (("oracle", label), ("noise", rng.standard_normal(label.shape))):
        (run / "members" / name).mkdir(parents=True)
        long(score, label).write_parquet(run / "members" / name / "predictions.parquet")
    # the combination is scored on the last 20 days only; members are cut to those days
    long(label[10:] * 2.0, label[10:], DAYS[10:]).write_parquet(run / "predictions.parquet")
    pl.DataFrame(
        {
            "date": np.repeat(DAYS[10:], 2),
            "member": ["oracle", "noise"] * 20,
            "weight": [0.7, 0.3] * 20,
        }
    ).write_parquet(run / "combine_weights.parquet")
    return run


def test_table_has_each_member_and_the_combination_on_its_days(combined_run: Path) -> None:
    table = member_table(combined_run, pl.read_parquet(combined_run / "predictions.parquet"))
    rows = {r["name"]: r for r in table.iter_rows(named=True)}
    assert list(rows) == ["noise", "oracle", COMBINATION]
    assert rows["oracle"]["IC"] == pytest.approx(1.0) and rows["oracle"]["Rank IC"] == 1.0
    assert rows[COMBINATION]["IC"] == pytest.approx(1.0)
    assert {r["days"] for r in rows.values()} == {20.0}
    assert abs(rows["noise"]["IC"]) < 0.15
    # a perfect score's top quintile moves exactly as the label's does
    assert 0.0 <= rows["oracle"]["turnover"] <= 1.0
    assert rows["oracle"]["turnover"] == pytest.approx(rows[COMBINATION]["turnover"])


def test_weights_file_reads_date_member_weight(combined_run: Path) -> None:
    w = read_weights(combined_run)
    assert w is not None and w.columns == ["datetime", "member", "weight"]
    assert w.filter(pl.col("member") == "oracle")["weight"].unique().to_list() == [0.7]


def test_report_has_the_members_section_only_when_members_exist(combined_run: Path) -> None:
    text = write_report(combined_run).read_text(encoding="utf-8")
    assert 'id="sec-members"' in text and 'id="table-members"' in text
    assert 'id="chart-member_weights"' in text
    assert '<tr class="overall"><td>combination</td><td>1.0000</td>' in text
    (combined_run / "combine_weights.parquet").unlink()
    text = write_report(combined_run).read_text(encoding="utf-8")
    assert 'data-chart="member_weights" id="missing-member_weights"' in text
    for sub in (combined_run / "members").iterdir():
        (sub / "predictions.parquet").unlink()
    assert 'id="sec-members"' not in write_report(combined_run).read_text(encoding="utf-8")


def test_table_gains_the_member_backtests_from_metrics(combined_run: Path) -> None:
    combined = pl.read_parquet(combined_run / "predictions.parquet")
    metrics = {
        "overall": {"AlphaRtn": 0.12, "AlphaSharpe": 1.5},
        "ensemble": {"members": {"oracle": {"ic": 1.0, "AlphaRtn": 0.2, "AlphaSharpe": 2.0}}},
    }
    table = member_table(combined_run, combined, metrics)
    assert table.columns[-3:] == ["AlphaRtn", "AlphaSharpe", "days"]
    rows = {r["name"]: r for r in table.iter_rows(named=True)}
    assert rows["oracle"]["AlphaRtn"] == 0.2 and rows[COMBINATION]["AlphaSharpe"] == 1.5
    assert np.isnan(rows["noise"]["AlphaRtn"])  # a member without a backtest: left blank
    # without member backtests (an older run) the table keeps its signal columns only
    assert "AlphaRtn" not in member_table(combined_run, combined, {"overall": {}}).columns
