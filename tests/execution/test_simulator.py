"""The simulator against fills computed by hand, the exchange rules, and the strategies."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha.errors import ConfigError, DataError
from seqalpha.execution import (
    POV,
    TWAP,
    VWAP,
    Orders,
    SimParams,
    make_strategy,
    simulate,
    vs_arrival_bps,
    vs_benchmark_bps,
)
from seqalpha.execution.metrics import gain_loss_ratio

from .tables import bar_table, random_table


def test_twap_buy_fills_by_hand():
    # 4 bars; bar 1 has no volume (suspended); the last bar's volume caps the catch-up
    bars = bar_table(
        close=[10.0, 10.1, 10.2, 10.3], volume=[1000, 0, 2000, 500], vwap=[10.0, 10.1, 10.2, 10.4]
    )
    orders = Orders.make(side=1, quantity=400, start=0, end=4, n_bars=4)
    fills = simulate(orders, bars, TWAP(), SimParams(participation=0.1, impact=0.01))
    # targets 100, 200, 300, 400 cumulative; caps 100, 0, 200, 50
    np.testing.assert_allclose(fills.qty[0], [100, 0, 200, 50])
    k = 0.01 * np.sqrt(0.1)  # every fill is at 10% participation
    np.testing.assert_allclose(
        fills.price[0, [0, 2, 3]], [10.0 * (1 + k), 10.2 * (1 + k), 10.4 * (1 + k)]
    )
    assert np.isnan(fills.price[0, 1])
    assert fills.unfilled[0] == pytest.approx(50)
    assert fills.fill_rate[0] == pytest.approx(350 / 400)
    avg = (100 * 10.0 + 200 * 10.2 + 50 * 10.4) * (1 + k) / 350
    assert fills.avg_price[0] == pytest.approx(avg)
    # arrival = the open of the start bar (10.0): a buy paying more has a negative advantage
    assert vs_arrival_bps(fills)[0] == pytest.approx((10.0 - avg) / 10.0 * 1e4)


def test_sell_impact_lowers_the_price_and_close_pricing():
    bars = bar_table(close=[10.0, 10.0], volume=[400, 400], vwap=[9.0, 9.0])
    orders = Orders.make(side=-1, quantity=100, start=0, end=2, n_bars=2)
    fills = simulate(orders, bars, TWAP(), SimParams(participation=1.0, impact=0.02, price="close"))
    np.testing.assert_allclose(fills.qty[0], [50, 50])
    np.testing.assert_allclose(fills.price[0], 10.0 * (1 - 0.02 * np.sqrt(50 / 400)))


def test_no_buy_at_limit_up_no_sell_at_limit_down():
    # previous close 10: bar 0 closes at the +10% limit (11.0), bar 1 at the -10% limit (9.0)
    bars = bar_table(close=[[11.0, 9.0, 10.0]] * 2, volume=[[1000, 1000, 1000]] * 2)
    orders = Orders.make(side=[1, -1], quantity=30, start=0, end=3, n_bars=3)
    fills = simulate(orders, bars, POV(rate=0.01), SimParams(impact=0.0))
    np.testing.assert_allclose(fills.qty[0], [0, 10, 10])  # the buy skips the limit-up bar
    np.testing.assert_allclose(fills.qty[1], [10, 0, 10])  # the sell skips the limit-down bar
    assert fills.unfilled.tolist() == [10, 10]
    # without a limit rule both fill everywhere
    free = simulate(orders, bars, POV(rate=0.01), SimParams(impact=0.0, limit=None))
    np.testing.assert_allclose(free.qty, 10)


def test_window_and_participation_bounds():
    bars = bar_table(close=[10.0] * 5, volume=[100] * 5)
    orders = Orders.make(side=1, quantity=1000, start=1, end=3, n_bars=5)
    fills = simulate(orders, bars, TWAP(), SimParams(participation=0.5))
    np.testing.assert_allclose(fills.qty[0], [0, 50, 50, 0, 0])  # only bars 1, 2; capped at 50


def test_vwap_follows_the_curve_and_beats_twap_on_impact():
    bars = random_table(M=400, B=16, seed=1)
    rng = np.random.default_rng(0)
    orders = Orders.make(rng.choice([-1, 1], 400), 0.02 * bars.adv, 0, 16, 16)
    params = SimParams(participation=0.3, impact=0.05)
    twap = simulate(orders, bars, TWAP(), params)
    vwap = simulate(orders, bars, VWAP(), params)
    share = vwap.qty / vwap.qty.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(share, bars.curve, atol=1e-9)
    # same price path, so the gap is impact: trading with the volume costs less
    assert np.nanmean(vs_benchmark_bps(vwap, twap)) > 0


def test_pov_trades_its_rate_of_volume():
    bars = bar_table(close=[10.0] * 3, volume=[1000, 3000, 2000])
    orders = Orders.make(side=1, quantity=1e6, start=0, end=3, n_bars=3)
    fills = simulate(orders, bars, make_strategy("pov", rate=0.1), SimParams())
    np.testing.assert_allclose(fills.qty[0], [100, 300, 200])


def test_bad_orders_and_names_are_one_line_errors():
    with pytest.raises(DataError, match=r"orders\.side"):
        Orders.make(side=2, quantity=1, start=0, end=1, n_bars=1)
    with pytest.raises(DataError, match=r"orders\.start/end"):
        Orders.make(side=1, quantity=1, start=2, end=2, n_bars=4)
    with pytest.raises(DataError, match=r"orders\.quantity"):
        Orders.make(side=1, quantity=-5, start=0, end=1, n_bars=1)
    with pytest.raises(ConfigError, match="unknown strategy 'iceberg'"):
        make_strategy("iceberg")
    with pytest.raises(ConfigError, match="participation"):
        SimParams(participation=0)


def test_gain_loss_ratio():
    assert gain_loss_ratio(np.array([2.0, 4.0, -1.0, -3.0, np.nan])) == pytest.approx(3.0 / 2.0)
