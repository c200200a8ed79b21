"""Industry exposure against a market-cap benchmark, on hand-made weights and a tiny store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import write_store
from seqalpha.errors import DataError
from seqalpha.report.exposure import (
    cap_weights,
    exposure_tables,
    industry_weights,
    load_industry_data,
    weights_grid,
)

DATES = np.array(["2024-01-02", "2024-01-03", "2024-01-04"], dtype="datetime64[D]")
CODES = np.array(["AAA", "BBB", "CCC", "DDD"])


def test_industry_weights_sum_by_code_with_an_unknown_column() -> None:
    w = np.array([[0.5, 0.3, 0.2, 0.0]])
    codes = np.array([[0, 1, 0, -1]])
    assert industry_weights(w, codes, 2).tolist() == [[0.7, 0.3, 0.0]]
    assert industry_weights(np.array([[0.0, 0.0, 0.0, 1.0]]), codes, 2)[0, 2] == 1.0


def test_cap_weights_cover_members_only() -> None:
    cap = np.array([[1.0, 3.0, 4.0, np.nan], [1.0, 1.0, 1.0, 1.0]])
    members = np.array([[True, True, False, True], [False, False, False, False]])
    out = cap_weights(cap, members)
    assert out[0].tolist() == [0.25, 0.75, 0.0, 0.0]
    assert np.isnan(out[1]).all()  # no member that day


def test_weights_grid_refuses_a_position_off_the_grid() -> None:
    pos = pl.DataFrame({"datetime": [dt.date(2024, 1, 2)], "instrument": ["ZZZ"], "weight": [1.0]})
    with pytest.raises(DataError, match="positions: 1 rows outside the grid"):
        weights_grid(pos, DATES, CODES)


def make_store(path: Path) -> Path:
    """Four names, industries [0, 0, 1, 1] (BBB moves to 1 on day 3), caps 1, 1, 2, 4;
    DDD leaves the universe on day 3."""
    T, N = len(DATES), len(CODES)
    industry = np.tile([0.0, 0.0, 1.0, 1.0], (T, 1)).astype(np.float32)
    industry[2, 1] = 1.0
    mktcap = np.tile([1.0, 1.0, 2.0, 4.0], (T, 1)).astype(np.float32)
    members = np.ones((T, N), dtype=bool)
    members[2, 3] = False
    fields = {"close": np.ones((T, N), np.float32), "industry": industry, "mktcap": mktcap}
    write_store(path, Panel(DATES, CODES, fields), markets={"top": members})
    return path


def test_exposure_against_the_cap_weighted_universe(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    config = {"data": {"dir": str(store), "universe": "top"}}
    data = load_industry_data(config, DATES, ["AAA"])
    assert data.names == ["industry 0", "industry 1"]
    assert "approximated by the market cap of the 'top' members" in data.note
    # day 1 benchmark: caps 1, 1, 2, 4 of 8 -> industry 0: 2/8, industry 1: 6/8;
    # day 3: DDD out, BBB in industry 1 -> 0: 1/4, 1: 3/4
    pos = pl.DataFrame(
        {
            "datetime": [dt.date(2024, 1, 3)] * 2 + [dt.date(2024, 1, 4)] * 2,
            "instrument": ["AAA", "CCC", "AAA", "BBB"],
            "weight": [0.3, 0.1, 0.45, 0.45],  # shares of the book: .75/.25 then .5/.5
        }
    )
    port, bench, names = exposure_tables(pos, data)
    assert names == ["industry 0", "industry 1"]  # no unknown column: nothing unknown held
    np.testing.assert_allclose(bench, [[0.25, 0.75], [0.25, 0.75], [0.25, 0.75]])
    assert np.isnan(port[0]).all()  # nothing held on the first day
    np.testing.assert_allclose(port[1:], [[0.75, 0.25], [0.5, 0.5]])


def test_a_config_without_data_dir_is_a_one_line_error() -> None:
    with pytest.raises(DataError, match=r"config.yaml: no data.dir"):
        load_industry_data({"data": {}}, DATES, [])


def test_real_csi300_industries_come_from_cn_meta(csi300_dir: Path, meta_dir: Path) -> None:
    assert meta_dir.resolve() == csi300_dir.resolve().parent / "cn_meta"  # where the report looks
    config = {"data": {"dir": str(csi300_dir), "universe": "csi300"}}
    dates = np.array(["2021-06-01", "2021-09-01"], dtype="datetime64[D]")
    data = load_industry_data(config, dates, [])
    assert "Shenwan level-1" in data.note and "银行" in data.names
    members = data.bench_weights > 0
    assert np.nansum(data.bench_weights, axis=1) == pytest.approx([1.0, 1.0])
    assert (data.codes[members] >= 0).all()  # every CSI300 member has an industry


def test_report_of_a_run_without_holdings_says_so(tmp_path: Path) -> None:
    from seqalpha.report.html import write_report

    store = make_store(tmp_path / "store")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"data:\n  dir: {store}\n  universe: top\n")
    empty = pl.DataFrame(
        {"datetime": [], "instrument": [], "shares": [], "weight": [], "price": []},
        schema={
            "datetime": pl.Date,
            "instrument": pl.Utf8,
            "shares": pl.Float64,
            "weight": pl.Float64,
            "price": pl.Float64,
        },
    )
    empty.write_parquet(run / "positions.parquet")
    text = write_report(run).read_text(encoding="utf-8")
    assert text.count("No industry exposure: the portfolio holds nothing.") == 2
