"""Long bar files as dense arrays, and the real 15-minute bars through the simulator."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqalpha.errors import DataError
from seqalpha.execution import TWAP, OrderBars, Orders, SimParams, load_bars_parquet, simulate


def test_long_bar_file_to_dense_arrays(tmp_path):
    times = ["2025-01-02 09:45", "2025-01-02 10:00", "2025-01-03 09:45", "2025-01-03 10:00"]
    df = pl.DataFrame(
        {
            "datetime": pl.Series(times * 2).str.to_datetime(),
            "instrument": ["SH600000"] * 4 + ["SH600001"] * 4,
            "open": [10.0, 10.1, 10.2, 10.3, 5.0, 5.1, 5.2, 5.3],
            "high": [10.2] * 4 + [5.4] * 4,
            "low": [9.9] * 4 + [4.9] * 4,
            "close": [10.1, 10.2, 10.3, 10.4, 5.1, 5.2, 5.3, 5.4],
            "volume": [100.0, 200.0, 300.0, 0.0, 10.0, 20.0, 30.0, 40.0],
            "amount": [1010.0, 2040.0, 3090.0, 0.0, 51.0, 104.0, 159.0, 216.0],
        }
    ).filter(~((pl.col("instrument") == "SH600001") & (pl.col("datetime").dt.day() == 3)))
    path = tmp_path / "bars.parquet"
    df.write_parquet(path)
    bars = load_bars_parquet(path)
    assert bars.shape == (2, 2, 2)
    assert bars.bar_ends.tolist() == ["09:45", "10:00"]
    np.testing.assert_allclose(bars["close"][:, :, 0], [[10.1, 10.2], [10.3, 10.4]])
    assert np.isnan(bars["close"][1, :, 1]).all()  # SH600001 has no bars on the 3rd
    ob = OrderBars.gather(bars, np.array([1]), np.array([0]), lookback=5)
    assert ob.prev_close[0] == pytest.approx(10.2)
    np.testing.assert_allclose(ob.vwap[0], [10.3, 10.4])  # amount / volume, close at no volume
    np.testing.assert_allclose(ob.curve[0], [1 / 3, 2 / 3])  # day 0's volume shares
    assert ob.adv[0] == pytest.approx(300.0)
    with pytest.raises(DataError, match="no bars"):
        load_bars_parquet(path, start="2026-01-01")


def test_real_15_minute_bars_through_twap(intraday15_path):
    bars = load_bars_parquet(
        intraday15_path, start="2025-03-03", end="2025-03-31", instruments=["SH600000", "SH600519"]
    )
    assert bars.shape[1:] == (16, 2)
    D = bars.shape[0]
    day = np.repeat(np.arange(10, D), 2)
    inst = np.tile([0, 1], D - 10)
    ob = OrderBars.gather(bars, day, inst, lookback=10)
    orders = Orders.make(np.where(inst == 0, 1.0, -1.0), 0.01 * ob.adv, 0, 16, 16)
    fills = simulate(orders, ob, TWAP(), SimParams(participation=0.2, impact=0.01))
    assert fills.fill_rate.mean() > 0.99  # 1% of daily volume fits under 20% participation
    assert np.all(np.abs(fills.avg_price / ob.vwap.mean(axis=1) - 1) < 0.05)
