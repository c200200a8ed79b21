"""The backtest on three months of the real CSI300 store (skipped without ../shared)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqalpha.backtest import backtest_topk, load_market
from seqalpha.data.qlib_bin import load_panel
from seqalpha.errors import DataError
from seqalpha.portfolio import TopkDropout

START, END = "2021-01-04", "2021-03-31"


@pytest.fixture(scope="module")
def market(csi300_dir):
    return load_market(csi300_dir, START, END)


def test_percent_change_detected_and_limits_flagged(csi300_dir, market):
    p = load_panel(csi300_dir, ["change", "close", "volume"], "all", START, END)
    assert "SH000300" not in market.instruments.tolist()  # the benchmark is not tradable
    codes = p.instruments.tolist()
    idx = np.array([codes.index(c) for c in market.instruments])
    chg = p["change"][:, idx]
    assert np.all(~market.can_buy[chg >= 9.5])  # percent data, 9.5% threshold
    assert np.all(~market.can_sell[chg <= -9.5])
    small = np.isfinite(chg) & (np.abs(chg) < 9) & (p["volume"][:, idx] > 0)
    assert market.can_buy[small].all() and market.can_sell[small].all()
    b = p["close"][:, codes.index("SH000300")].astype(np.float64)
    assert market.benchmark[1:] == pytest.approx(b[1:] / b[:-1] - 1, rel=1e-6)
    prev = load_panel(csi300_dir, ["close"], ["SH000300"], "2020-12-31", "2020-12-31")["close"][
        0, 0
    ]
    assert market.benchmark[0] == pytest.approx(b[0] / prev - 1, rel=1e-6)  # known on day one
    with pytest.raises(DataError, match="change"):
        load_market(csi300_dir, START, END, change_unit="fraction")


def test_topk_on_real_csi300_respects_rules(csi300_dir, market):
    p = load_panel(csi300_dir, ["close"], "csi300", START, END)
    codes = market.instruments.tolist()
    idx = np.array([codes.index(c) for c in p.instruments])
    mom = np.full(market.shape, np.nan)
    c = p["close"].astype(np.float64)
    mom[5:, idx] = np.where(p.universe[5:], c[5:] / c[:-5] - 1, np.nan)
    res = backtest_topk(mom, market, TopkDropout(topk=20, n_drop=3))
    n_held = res.positions.group_by("datetime").len()["len"]
    assert 18 <= n_held.median() <= 22
    t = res.trades.with_columns(pl.col("datetime").cast(pl.Date))
    day = {d: i for i, d in enumerate(np.asarray(market.dates).tolist())}
    ti = np.array([day[d] for d in t["datetime"].to_list()])
    ii = np.array([codes.index(c) for c in t["instrument"].to_list()])
    buy = (t["side"] == "buy").to_numpy()
    assert market.can_buy[ti[buy], ii[buy]].all()
    assert market.can_sell[ti[~buy], ii[~buy]].all()
    assert (t["shares"].to_numpy() % 100 == 0)[buy].all()
    m = res.metrics()["overall"]
    assert 0.02 < m["TOV"] < 0.5 and np.isfinite(m["AlphaSharpe"])
