"""The numba top-k backtest against a slow, obviously-correct pure-Python version on random markets
with price limits, suspensions, changing adjustment factors, missing and tied scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqalpha.backtest import BacktestConfig, backtest_topk
from seqalpha.portfolio import TopkDropout


def reference_topk(sig, m, topk, n_drop, cfg, risk_degree=0.95):
    """Day by day with Python lists and dicts; sig is already lagged. Returns daily values."""
    T, N = sig.shape
    blocked = m.suspended | m.limit_up | m.limit_down  # Qlib's forbid_all_trade_at_limit
    amount: dict[int, float] = {}
    last_price: dict[int, float] = {}
    cash = cfg.account
    values = []
    for t in range(T):
        s = sig[t]
        if np.isfinite(s).any():

            def key(i, s=s):
                return -s[i] if math.isfinite(s[i]) else math.inf

            held = sorted(amount)
            cands = sorted(
                (i for i in range(N) if i not in amount and math.isfinite(s[i])), key=key
            )
            today = cands[: n_drop + topk - len(held)]
            comb = sorted(sorted(set(held) | set(today)), key=key)
            bottom = set(comb[len(comb) - n_drop :])
            sell = [i for i in held if i in bottom]
            buy = today[: len(sell) + topk - len(held)]
            for i in sell:
                if blocked[t, i]:
                    continue
                val = amount[i] * m.price[t, i]
                cash += val - max(val * cfg.sell_cost, cfg.min_cost)
                del amount[i]
            budget = cash * risk_degree / len(buy) if buy else 0.0
            for i in buy:
                if blocked[t, i]:
                    continue
                f = m.factor[t, i]
                amt = (
                    math.floor((budget / m.price[t, i] * f + 0.1) / cfg.trade_unit)
                    * cfg.trade_unit
                    / f
                )
                val = amt * m.price[t, i]
                cost = max(val * cfg.buy_cost, cfg.min_cost)
                if val <= 1e-5 or cash < val + cost:
                    continue
                cash -= val + cost
                amount[i] = amount.get(i, 0.0) + amt
                last_price[i] = m.price[t, i]
        for i in amount:
            if math.isfinite(m.close[t, i]):
                last_price[i] = m.close[t, i]
        values.append(cash + sum(amount[i] * last_price[i] for i in amount))
    return np.array(values)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numba_topk_equals_python_reference(market_factory, seed):
    rng = np.random.default_rng(seed)
    T, N = 60, 25
    ret = 0.02 * rng.standard_normal((T, N))
    ret[rng.random((T, N)) < 0.04] = 0.10  # limit-up days
    ret[rng.random((T, N)) < 0.04] = -0.10  # limit-down days
    close = 10 * np.cumprod(1 + ret, axis=0)
    vol = np.where(rng.random((T, N)) < 0.05, 0.0, 1e6)  # suspensions
    factor = np.cumprod(np.where(rng.random((T, N)) < 0.02, 1.1, 1.0), axis=0) * rng.uniform(
        1, 5, N
    )
    m = market_factory(close, volume=vol, factor=factor)
    score = np.round(rng.standard_normal((T, N)), 1)  # many ties
    score[rng.random((T, N)) < 0.1] = np.nan
    cfg = BacktestConfig(account=2e6)
    res = backtest_topk(score, m, TopkDropout(topk=6, n_drop=2), cfg)
    sig = np.full((T, N), np.nan)
    sig[1:] = score[:-1]
    ref = reference_topk(sig, m, 6, 2, cfg)
    assert res.returns["value"].to_numpy() == pytest.approx(ref, rel=1e-10)
    assert res.trades.height > 2 * T  # the market really traded
    assert not np.allclose(ref, cfg.account)
