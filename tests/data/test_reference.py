"""Point-in-time industry and market cap: tiny hand-made files, a synthetic store, real data."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import load_panel, write_store
from seqalpha.data.reference import (
    industry_and_size,
    industry_names,
    load_industry,
    load_market_cap,
)
from seqalpha.errors import ConfigError, DataError

INDUSTRY_CSV = """instrument,start,sw_code,sw_l1,vintage
SH600001,2005-01-04,220101,化工,backfilled
SH600001,2014-02-21,220101,化工,SW2014
SH600001,2021-07-30,750101,石油石化,SW2021
SH600002,2014-02-21,220301,化工,SW2014
SH600002,2020-01-08,210201,采掘,SW2014
SZ000003,2010-05-05,480101,银行,SW2014
SZ000004,2001-01-01,210101,采掘,backfilled
SZ000005,2001-01-01,420101,,backfilled
"""


@pytest.fixture
def meta(tmp_path: Path) -> Path:
    d = tmp_path / "cn_meta"
    d.mkdir()
    (d / "industry_sw_pit.csv").write_text(INDUSTRY_CSV, encoding="utf-8")
    return d


DATES = np.array(["2020-01-07", "2020-01-08", "2021-07-29", "2021-07-30"], dtype="datetime64[D]")
INST = np.array(["SH600001", "SH600002", "SZ000003", "SZ000004", "SZ000005", "SH699999"])


def test_industry_is_point_in_time(meta: Path) -> None:
    codes, names = load_industry(meta, DATES, INST)
    assert names == sorted(["化工", "石油石化", "采掘", "银行"])
    label = np.array([*names, "?"])[codes]  # -1 indexes "?"
    assert label[:, 0].tolist() == ["化工", "化工", "化工", "石油石化"]
    assert label[:, 1].tolist() == ["化工", "采掘", "采掘", "采掘"]  # changes on its start date
    assert label[:, 2].tolist() == ["银行"] * 4
    assert label[:, 4].tolist() == ["?"] * 4  # a row without a level-1 name is unknown
    assert (codes[:, 5] == -1).all()  # not in the file
    early, _ = load_industry(meta, np.array(["2010-05-04"], "datetime64[D]"), ["SZ000003"])
    assert early[0, 0] == -1  # before its first start date
    none, _ = load_industry(meta, DATES, ["SH699999"])
    assert none.shape == (4, 1) and (none == -1).all()


def test_industry_codes_do_not_depend_on_the_universe(meta: Path) -> None:
    full, names = load_industry(meta, DATES, INST)
    sub, names_sub = load_industry(meta, DATES, ["SZ000003", "SH600001"])
    assert names_sub == names
    np.testing.assert_array_equal(sub, full[:, [2, 0]])


def test_industry_levels_and_consistent_taxonomy(meta: Path) -> None:
    l3, n3 = load_industry(meta, DATES, INST, level="l3")
    assert n3[l3[0, 1]] == "220301" and n3[l3[1, 1]] == "210201"
    l2, n2 = load_industry(meta, DATES, INST, level="l2")
    assert n2[l2[3, 0]] == "7501"
    sw, names = load_industry(meta, DATES, INST, taxonomy="sw2021")
    label = np.array([*names, "?"])[sw]
    # 化工 2201 (petrochemicals) -> 石油石化; 化工 2203 -> 基础化工; 采掘 2102 (coal) -> 煤炭;
    # 采掘 on a backfilled pre-2014 code -> 煤炭.
    assert label[0].tolist() == ["石油石化", "基础化工", "银行", "煤炭", "?", "?"]
    assert label[1, 1] == "煤炭"
    assert "化工" not in names and "采掘" not in names
    assert industry_names(meta, taxonomy="sw2021") == names
    with pytest.raises(ConfigError, match="level-1 names only"):
        load_industry(meta, DATES, INST, level="l3", taxonomy="sw2021")
    with pytest.raises(ConfigError, match="level='l4'"):
        load_industry(meta, DATES, INST, level="l4")


def test_missing_industry_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"industry_sw_pit\.csv: industry file not found"):
        load_industry(tmp_path, DATES, INST)


# Market cap: 2 stocks, quarter ends 2021-03-31 (a trading day) and 2021-06-30 (not one here).
CAP_DATES = np.array(
    ["2021-03-30", "2021-03-31", "2021-04-01", "2021-06-29", "2021-07-01", "2021-07-02"],
    dtype="datetime64[D]",
)


@pytest.fixture
def cap_panel() -> Panel:
    close = np.array([[20, 50], [22, 55], [24, np.nan], [30, 60], [33, 66], [36, 72]], np.float32)
    factor = np.array([[2, 1]] * 6, np.float32)  # raw close = close / factor
    return Panel(CAP_DATES, ["SH600001", "SZ000002"], {"close": close, "factor": factor})


def write_caps(meta: Path, rows: list[tuple[str, str, float]]) -> None:
    pl.DataFrame(rows, schema=["date", "instrument", "total_mv_10k_cny"], orient="row").write_csv(
        meta / "total_mv_quarterly.csv"
    )


def test_market_cap_shares_from_quarter_end_on(meta: Path, cap_panel: Panel) -> None:
    # SH600001: raw close 11 on 2021-03-31, cap 1.1e5 x 1e4 CNY -> 1e8 shares.
    # 2021-06-30 is not a trading day: the close of 2021-06-29 (raw 15) sets the new shares,
    # used from the next trading day 2021-07-01 on. SZ000002 misses Q2: Q1 shares carry on.
    write_caps(
        meta,
        [
            ("2020-12-31", "SH600001", 0.9e5),
            ("2021-03-31", "SH600001", 1.1e5),
            ("2021-06-30", "SH600001", 3.0e5),
            ("2021-03-31", "SZ000002", 5.5e4),
        ],
    )
    cap = load_market_cap(meta, cap_panel)
    assert cap.dtype == np.float32 and cap.shape == (6, 2)
    # 2021-03-30 uses Q4 shares: 0.9e9 CNY / raw close 10 (first close of the history).
    np.testing.assert_allclose(
        cap[:, 0], [0.9e9, 1.1e9, 1.2e9, 1.5e9, 1e8 * 2 * 16.5, 1e8 * 2 * 18], rtol=1e-6
    )
    # SZ000002: nothing before Q1; 1e7 shares; the NaN close of 2021-04-01 carries 55 forward.
    np.testing.assert_allclose(cap[:, 1], [np.nan, 5.5e8, 5.5e8, 6e8, 6.6e8, 7.2e8], rtol=1e-6)
    no_fill = load_market_cap(meta, cap_panel, ffill_close=False)
    assert np.isnan(no_fill[2, 1]) and no_fill[3, 1] == pytest.approx(6e8, rel=1e-6)


def test_market_cap_never_uses_a_later_quarter(meta: Path, cap_panel: Panel) -> None:
    base = [("2021-03-31", "SH600001", 1.1e5), ("2021-03-31", "SZ000002", 5.5e4)]
    write_caps(meta, base)
    before = load_market_cap(meta, cap_panel)
    write_caps(
        meta, [*base, ("2021-06-30", "SH600001", 9900000.0), ("2021-06-30", "SZ000002", 1.0)]
    )
    after = load_market_cap(meta, cap_panel)
    np.testing.assert_array_equal(after[:4], before[:4])  # up to 2021-06-29
    assert not np.allclose(after[4:], before[4:])


def test_market_cap_needs_close_and_factor(meta: Path, cap_panel: Panel) -> None:
    write_caps(meta, [("2021-03-31", "SH600001", 1.1e5)])
    bare = Panel(CAP_DATES, ["SH600001"], {"close": cap_panel["close"][:, :1]})
    with pytest.raises(DataError, match="lacks the field 'factor'"):
        load_market_cap(meta, bare)


def test_market_cap_from_a_store_aligned_to_requested_dates(
    meta: Path, cap_panel: Panel, tmp_path: Path
) -> None:
    write_caps(meta, [("2021-03-31", "SH600001", 1.1e5), ("2021-03-31", "SZ000002", 5.5e4)])
    write_store(tmp_path / "store", cap_panel)
    full = load_market_cap(meta, cap_panel)
    part = load_market_cap(
        meta,
        tmp_path / "store",
        dates=CAP_DATES[3:],
        instruments=["SZ000002", "SH600001", "SH699999"],
    )
    np.testing.assert_array_equal(part[:, :2], full[3:, ::-1])
    assert np.isnan(part[:, 2]).all()


def test_industry_and_size_on_a_synthetic_store(tmp_path: Path) -> None:
    dates = np.array(["2021-01-04", "2021-01-05", "2021-01-06"], dtype="datetime64[D]")
    industry = np.array([[3, 0], [3, 0], [3, np.nan]], np.float32)
    mktcap = np.array([[1e9, 2e9], [1.1e9, 2.1e9], [1.2e9, np.nan]], np.float32)
    close = np.ones((3, 2), np.float32)
    write_store(
        tmp_path,
        Panel(
            dates,
            ["SH600001", "SH600002"],
            {"close": close, "industry": industry, "mktcap": mktcap},
        ),
    )
    (tmp_path / "meta.json").write_text(json.dumps({"seed": 1}))
    panel = load_panel(tmp_path, ["close"]).slice_dates("2021-01-05")
    panel = panel.select_instruments(["SH600002", "SH600001"])
    ind, cap = industry_and_size(tmp_path, panel)
    assert ind.dtype == np.int32 and cap.dtype == np.float32
    np.testing.assert_array_equal(ind, [[0, 3], [-1, 3]])
    np.testing.assert_array_equal(cap, np.array([[2.1e9, 1.1e9], [np.nan, 1.2e9]], np.float32))


def test_industry_and_size_without_reference_data(tmp_path: Path, cap_panel: Panel) -> None:
    write_store(tmp_path / "store", cap_panel)
    with pytest.raises(DataError, match="no reference data folder"):
        industry_and_size(tmp_path / "store", cap_panel)


# ---------------------------------------------------------------- real data (../shared)


@pytest.fixture(scope="module")
def csi300_panel(csi300_dir: Path) -> Panel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_panel(csi300_dir, ["close", "factor"], universe="csi300")


@pytest.mark.shared
@pytest.mark.parametrize("taxonomy,n_names", [("asis", 37), ("sw2021", 31)])
def test_real_every_member_has_an_industry(
    meta_dir: Path, csi300_panel: Panel, taxonomy: str, n_names: int
) -> None:
    codes, names = load_industry(
        meta_dir, csi300_panel.dates, csi300_panel.instruments, taxonomy=taxonomy
    )
    member = csi300_panel.universe
    assert member.sum() > 800_000
    assert (codes[member] >= 0).all()
    assert len(names) == n_names
    # After the switch to SW2021 every member carries an SW2021 name under either taxonomy.
    j = list(csi300_panel.instruments).index("SH600036")  # China Merchants Bank
    assert names[codes[-1, j]] == "银行"


@pytest.mark.shared
def test_real_market_cap_plausible_and_point_in_time(
    meta_dir: Path, csi300_dir: Path, csi300_panel: Panel
) -> None:
    cap = load_market_cap(meta_dir, csi300_panel)
    member = csi300_panel.universe
    assert np.isfinite(cap[member]).all()
    j = list(csi300_panel.instruments).index("SH600519")  # Kweichow Moutai
    in2020 = (csi300_panel.dates >= np.datetime64("2020-01-01")) & (
        csi300_panel.dates <= np.datetime64("2020-12-31")
    )
    moutai = cap[in2020, j]
    assert 1.5e12 < np.median(moutai) < 3.5e12
    assert 1.0e12 < moutai.min() and moutai.max() < 3.5e12
    # On a quarter end that is a trading day the derived cap equals the file's figure.
    mv = pl.read_csv(meta_dir / "total_mv_quarterly.csv").filter(
        (pl.col("instrument") == "SH600519") & (pl.col("date") == "2020-12-31")
    )
    t = csi300_panel.date_index("2020-12-31")
    assert cap[t, j] == pytest.approx(mv["total_mv_10k_cny"][0] * 1e4, rel=1e-5)
    # The day before uses the previous quarter's shares (no look-ahead): cap ratio = price ratio.
    raw = csi300_panel["close"][:, j].astype(np.float64) / csi300_panel["factor"][:, j]
    assert cap[t - 1, j] / cap[t - 2, j] == pytest.approx(raw[t - 1] / raw[t - 2], rel=1e-5)
    ind, cap2 = industry_and_size(csi300_dir, csi300_panel.slice_dates("2019-01-01"))
    np.testing.assert_array_equal(cap2, cap[csi300_panel.date_index("2019-01-02") :])
    assert (ind[csi300_panel.slice_dates("2019-01-01").universe] >= 0).all()


@pytest.mark.shared
def test_real_industry_matches_a_slow_as_of_lookup(meta_dir: Path) -> None:
    rows = pl.read_csv(meta_dir / "industry_sw_pit.csv", schema_overrides={"sw_code": pl.Utf8})
    rng = np.random.default_rng(0)
    inst = rng.choice(rows["instrument"].unique().sort().to_numpy(), 25, replace=False)
    inst = np.append(inst, "SH699999")
    dates = np.sort(
        rng.choice(np.arange("2008-01-01", "2023-01-01", dtype="datetime64[D]"), 40, replace=False)
    )
    codes, names = load_industry(meta_dir, dates, inst, level="l3")
    for j, code in enumerate(inst):
        mine = rows.filter(pl.col("instrument") == code).sort("start").rows(named=True)
        for t, d in enumerate(dates):
            before = [r for r in mine if np.datetime64(r["start"]) <= d]
            want = before[-1]["sw_code"] if before else None
            got = names[codes[t, j]] if codes[t, j] >= 0 else None
            assert got == want, (code, d)
