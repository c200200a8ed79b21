"""The daily trading loop (numba): orders, exchange rules, costs, cash and valuation.

Each day t: the strategy decides from the signal it was given for t (the caller has already
lagged it), sells execute first, then buys, at the day's deal price; at the close every held
name is revalued at its close (a suspended name keeps its last price) and its holding-day
count increases. Amounts are in adjusted units (raw shares = amount * factor) so that lots of
`unit` raw shares are exact and adjusted prices carry dividends.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from seqalpha.portfolio.topk import topk_dropout_step


@nb.njit(cache=True)
def _round_lots(amount: float, factor: float, unit: float) -> float:
    """Adjusted amount rounded down to whole lots of `unit` raw shares (0.1 share tolerance)."""
    if unit <= 0:
        return amount
    return np.floor((amount * factor + 0.1) / unit) * unit / factor


@nb.njit(cache=True)
def _cash_limited(price: float, cash: float, rate: float, min_cost: float) -> float:
    """Largest amount whose value plus cost fits into `cash`."""
    if cash < min_cost:
        return 0.0
    if rate <= 0.0:
        return (cash - min_cost) / price
    if cash >= min_cost / rate + min_cost:
        return cash / (1.0 + rate) / price
    return (cash - min_cost) / price


@nb.njit(cache=True)
def _buy(
    t,
    i,
    amt,
    price,
    factor,
    cash,
    rate,
    min_cost,
    unit,
    amount,
    pos_price,
    hold,
    trade_amt,
    trade_cost,
):
    """Buy `amt` (already lot-rounded) of name i at price[t, i], limited by cash.

    Returns (cash, value, cost).
    """
    p = price[t, i]
    val = amt * p
    c = max(val * rate, min_cost)
    if cash < c:
        return cash, 0.0, 0.0
    if cash < val + c:
        amt = _round_lots(min(_cash_limited(p, cash, rate, min_cost), amt), factor[t, i], unit)
        val = amt * p
        c = max(val * rate, min_cost)
    if val <= 1e-5:
        return cash, 0.0, 0.0
    if amount[i] <= 0:
        hold[i] = 0
    amount[i] += amt
    pos_price[i] = p
    trade_amt[t, i] += amt
    trade_cost[t, i] += c
    return cash - val - c, val, c


@nb.njit(cache=True)
def _sell(t, i, amt, price, cash, rate, min_cost, amount, trade_amt, trade_cost):
    """Sell `amt` of name i at price[t, i]; returns (cash, value, cost)."""
    val = amt * price[t, i]
    if val <= 1e-5:
        return cash, 0.0, 0.0
    c = max(val * rate, min_cost)
    if cash + val < c:
        return cash, 0.0, 0.0
    amount[i] -= amt
    if amount[i] * price[t, i] <= 1e-5:
        amount[i] = 0.0
    trade_amt[t, i] -= amt
    trade_cost[t, i] += c
    return cash + val - c, val, c


@nb.njit(cache=True)
def _settle(t, close, amount, pos_price, hold, cash, positions):
    """End of day: revalue at close (suspended keep the last price), count holding days.

    Returns the value.
    """
    value = cash
    for i in range(amount.shape[0]):
        if amount[i] > 0:
            c = close[t, i]
            if np.isfinite(c):
                pos_price[i] = c
            hold[i] += 1
            value += amount[i] * pos_price[i]
            positions[t, i] = amount[i]
    return value


@nb.njit(cache=True)
def _state(T, N):
    """Book of a backtest: per-name amount, valuation price and days held [N]; per-day
    positions, signed trade amounts and trade costs [T, N]; value, cost, traded value [T]."""
    return (
        np.zeros(N),
        np.zeros(N),
        np.zeros(N, dtype=np.int64),
        np.zeros((T, N)),
        np.zeros((T, N)),
        np.zeros((T, N)),
        np.zeros(T),
        np.zeros(T),
        np.zeros(T),
    )


@nb.njit(cache=True)
def run_topk(
    signal,
    price,
    close,
    factor,
    strat_no_buy,
    strat_no_sell,
    can_buy,
    can_sell,
    account,
    buy_rate,
    sell_rate,
    min_cost,
    unit,
    topk,
    n_drop,
    hold_thresh,
    risk_degree,
):
    """Top-k dropout through the day loop. signal [T, N] already lagged (NaN row = no decision).

    Returns value [T], cost [T], traded value [T], positions [T, N] (amount), trade amount [T, N]
    (signed), trade cost [T, N].
    """
    T, N = price.shape
    amount, pos_price, hold, positions, trade_amt, trade_cost, value, cost, traded = _state(T, N)
    cash = account
    for t in range(T):
        s = signal[t]
        if np.isfinite(s).any():
            sell, buy = topk_dropout_step(s, amount > 0, topk, n_drop)
            for i in sell:
                if strat_no_sell[t, i] or not can_sell[t, i] or hold[i] < hold_thresh:
                    continue
                cash, v, c = _sell(
                    t, i, amount[i], price, cash, sell_rate, min_cost, amount, trade_amt, trade_cost
                )
                traded[t] += v
                cost[t] += c
            if len(buy) > 0:
                budget = cash * risk_degree / len(buy)
                for i in buy:
                    if strat_no_buy[t, i] or not can_buy[t, i]:
                        continue
                    amt = _round_lots(budget / price[t, i], factor[t, i], unit)
                    cash, v, c = _buy(
                        t,
                        i,
                        amt,
                        price,
                        factor,
                        cash,
                        buy_rate,
                        min_cost,
                        unit,
                        amount,
                        pos_price,
                        hold,
                        trade_amt,
                        trade_cost,
                    )
                    traded[t] += v
                    cost[t] += c
        value[t] = _settle(t, close, amount, pos_price, hold, cash, positions)
    return value, cost, traded, positions, trade_amt, trade_cost


@nb.njit(cache=True)
def run_weights(
    target,
    price,
    close,
    factor,
    can_buy,
    can_sell,
    account,
    buy_rate,
    sell_rate,
    min_cost,
    unit,
    hold_thresh,
    risk_degree,
):
    """Rebalance toward long-only target weights [T, N] (already lagged; NaN row = hold).

    Targets are lots of `risk_degree * portfolio value / price`; sells first, then buys in
    descending order of the amount to buy, limited by cash. Same outputs as `run_topk`.
    """
    T, N = price.shape
    amount, pos_price, hold, positions, trade_amt, trade_cost, value, cost, traded = _state(T, N)
    cash = account
    want = np.zeros(N)
    for t in range(T):
        w = target[t]
        if np.isfinite(w).any():
            v_now = cash
            for i in range(N):
                if amount[i] > 0:
                    p = price[t, i] if np.isfinite(price[t, i]) else pos_price[i]
                    v_now += amount[i] * p
            for i in range(N):
                wi = w[i] if np.isfinite(w[i]) else 0.0
                p = price[t, i]
                want[i] = (
                    _round_lots(wi * v_now * risk_degree / p, factor[t, i], unit)
                    if wi > 0 and np.isfinite(p) and p > 0
                    else 0.0
                )
            for i in range(N):
                if amount[i] > want[i] + 1e-9 and can_sell[t, i] and hold[i] >= hold_thresh:
                    amt = (
                        amount[i]
                        if want[i] <= 0
                        else _round_lots(amount[i] - want[i], factor[t, i], unit)
                    )
                    cash, v, c = _sell(
                        t, i, amt, price, cash, sell_rate, min_cost, amount, trade_amt, trade_cost
                    )
                    traded[t] += v
                    cost[t] += c
            need = np.zeros(N)
            for i in range(N):
                if want[i] > amount[i] + 1e-9 and can_buy[t, i]:
                    need[i] = (want[i] - amount[i]) * price[t, i]
            for i in np.argsort(-need):
                if need[i] <= 0:
                    break
                amt = _round_lots(want[i] - amount[i], factor[t, i], unit)
                cash, v, c = _buy(
                    t,
                    i,
                    amt,
                    price,
                    factor,
                    cash,
                    buy_rate,
                    min_cost,
                    unit,
                    amount,
                    pos_price,
                    hold,
                    trade_amt,
                    trade_cost,
                )
                traded[t] += v
                cost[t] += c
        value[t] = _settle(t, close, amount, pos_price, hold, cash, positions)
    return value, cost, traded, positions, trade_amt, trade_cost
