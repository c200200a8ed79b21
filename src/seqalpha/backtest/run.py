"""Backtest entry points: scores or weights in, `BacktestResult` (polars frames, Parquet) out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from seqalpha.backtest.engine import run_topk, run_weights
from seqalpha.backtest.market import Market
from seqalpha.backtest.metrics import performance_table
from seqalpha.data.qlib_bin import QlibStore
from seqalpha.errors import ConfigError, DataError
from seqalpha.jsonio import write_parquet_atomic
from seqalpha.portfolio.topk import TopkDropout


@dataclass(frozen=True)
class BacktestConfig:
    """Account and cost settings (defaults: Qlib's CSI300 benchmark, see BENCHMARKS.md).

    signal_lag: the signal of day t-lag is traded on day t (1 = Qlib's shift). hold_thresh
    applies to weight backtests (top-k uses its strategy's); >= 1 enforces T+1.
    """

    account: float = 1e8
    buy_cost: float = 0.0005
    sell_cost: float = 0.0015
    min_cost: float = 5.0
    trade_unit: int = 100
    signal_lag: int = 1
    hold_thresh: int = 1
    risk_degree: float = 0.95

    def __post_init__(self) -> None:
        if self.account <= 0:
            raise ConfigError(f"BacktestConfig.account must be > 0, got {self.account}")
        for name in ("buy_cost", "sell_cost", "min_cost"):
            if getattr(self, name) < 0:
                raise ConfigError(f"BacktestConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.buy_cost <= 0 < self.min_cost or self.sell_cost <= 0 < self.min_cost:
            raise ConfigError("BacktestConfig: a minimum cost needs positive cost rates")
        if self.trade_unit < 0 or self.signal_lag < 0 or self.hold_thresh < 1:
            raise ConfigError(
                f"BacktestConfig: trade_unit >= 0, signal_lag >= 0 and hold_thresh >= 1 "
                f"(T+1) required, got {self.trade_unit}, {self.signal_lag}, {self.hold_thresh}"
            )
        if not 0 < self.risk_degree <= 1:
            raise ConfigError(
                f"BacktestConfig.risk_degree must be in (0, 1], got {self.risk_degree}"
            )


@dataclass
class BacktestResult:
    """Daily returns, holdings and trades as polars frames (and, with `deal_price: execution`,
    the executed parent orders: `backtest.executed`).

    `write(run_dir)` stores them as Parquet.
    """

    returns: pl.DataFrame
    positions: pl.DataFrame
    trades: pl.DataFrame
    execution: pl.DataFrame | None = None  # per parent order, when trades went through bars

    def metrics(self) -> dict:
        """`performance_table` of the daily returns (by year and overall)."""
        return performance_table(self.returns)

    def write(self, run_dir: str | Path) -> None:
        """returns.parquet, positions.parquet, trades.parquet into run_dir (atomic writes), and
        execution.parquet when trades went through bars (else an older one is removed, so that
        a re-run with another deal_price does not report stale execution costs)."""
        d = Path(run_dir)
        d.mkdir(parents=True, exist_ok=True)
        for name, df in (
            ("returns", self.returns),
            ("positions", self.positions),
            ("trades", self.trades),
        ):
            write_parquet_atomic(df, d / f"{name}.parquet")
        if self.execution is not None and self.execution.height:
            write_parquet_atomic(self.execution, d / "execution.parquet")
        else:
            (d / "execution.parquet").unlink(missing_ok=True)


def load_market(
    data_dir: str | Path,
    start=None,
    end=None,
    benchmark: str | None = "SH000300",
    deal_price: str = "close",
    limit_threshold: float | None = 0.095,
    change_unit: Literal["percent", "fraction", "auto"] = "auto",
    suspend_zero_volume: bool = True,
    instruments: Sequence[str] | None = None,
) -> Market:
    """A `Market` from a Qlib store: close/open/volume/change/factor over [start, end] of the
    given instruments (default: every instrument with data) plus the benchmark.

    One trading day before `start` is read too, so that the first day's benchmark return and
    close-implied change are known (as Qlib's `Ref($close, 1)` does), then dropped.
    """
    fields = ["close", "volume", "change", "factor"] + (
        [deal_price] if deal_price != "close" else []
    )
    store = QlibStore(data_dir)
    cal = store.calendar
    lo = 0 if start is None else int(np.searchsorted(cal, np.datetime64(start, "D")))
    universe: str | list[str] = "all"
    if instruments is not None:
        universe = sorted(
            {str(c).upper() for c in instruments} | ({benchmark.upper()} if benchmark else set())
        )
    panel = store.load(fields, universe, cal[max(lo - 1, 0)] if lo < len(cal) else start, end)
    market = Market.from_panel(
        panel, deal_price, benchmark, limit_threshold, change_unit, suspend_zero_volume
    )
    return market.rows(1) if lo > 0 and len(market.dates) > 1 else market


def scores_to_grid(
    scores: pl.DataFrame | np.ndarray, market: Market, column: str = "score"
) -> np.ndarray:
    """Scores as float64 [T, N] on the market's grid; a long frame (datetime, instrument, score)
    is pivoted (unknown instruments and dates outside the market are dropped, missing = NaN)."""
    if isinstance(scores, np.ndarray):
        if scores.shape != market.shape:
            raise DataError(f"scores: shape {scores.shape} differs from the market {market.shape}")
        return scores.astype(np.float64)
    if not isinstance(scores, pl.DataFrame):
        try:
            scores = pl.from_pandas(
                scores.reset_index() if hasattr(scores, "reset_index") else scores
            )
        except Exception as exc:
            raise DataError(
                f"scores: expected a polars/pandas frame or an array, got {type(scores)}"
            ) from exc
    if column not in scores.columns:
        raise DataError(f"scores frame lacks the column {column!r}; it has {scores.columns}")
    df = scores.select(
        pl.col("datetime").cast(pl.Date),
        pl.col("instrument").cast(pl.Utf8).str.to_uppercase(),
        pl.col(column).cast(pl.Float64),
    )
    inst = pl.DataFrame(
        {
            "instrument": market.instruments.astype(str),
            "_j": np.arange(len(market.instruments), dtype=np.int64),
        }
    )
    days = pl.DataFrame(
        {"datetime": market.dates, "_t": np.arange(len(market.dates), dtype=np.int64)}
    ).with_columns(pl.col("datetime").cast(pl.Date))
    df = df.join(inst, on="instrument", how="inner").join(days, on="datetime", how="inner")
    if df.select(pl.struct("_t", "_j").is_duplicated().any()).item():
        dup = (
            df.filter(pl.struct("_t", "_j").is_duplicated())
            .head(3)
            .select("datetime", "instrument")
        )
        raise DataError(f"scores: duplicate (datetime, instrument) rows, e.g. {dup.rows()}")
    grid = np.full(market.shape, np.nan)
    grid[df["_t"].to_numpy(), df["_j"].to_numpy()] = df[column].to_numpy()
    return grid


def _lag(a: np.ndarray, lag: int) -> np.ndarray:
    out = np.full(a.shape, np.nan)
    if lag == 0:
        return a.astype(np.float64)
    if lag < a.shape[0]:
        out[lag:] = a[:-lag]
    return out


def _result(
    market: Market, cfg: BacktestConfig, value, cost, traded, positions, trade_amt, trade_cost
) -> BacktestResult:
    prev = np.concatenate([[cfg.account], value[:-1]])
    ret = value / prev - 1.0
    cost_rate = cost / prev
    ret_nc = ret + cost_rate
    bench = market.benchmark
    dates = market.dates
    returns = pl.DataFrame(
        {
            "datetime": dates,
            "return": ret,
            "return_nc": ret_nc,
            "benchmark": bench,
            "excess": ret - bench,
            "excess_nc": ret_nc - bench,
            "turnover": traded / prev,
            "cost": cost_rate,
            "value": value,
        }
    ).with_columns(pl.col("datetime").cast(pl.Date))
    # valuation price: the close, carried forward over suspensions
    close = market.close
    idx = np.where(np.isfinite(close), np.arange(close.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    val_price = np.take_along_axis(close, idx, axis=0)
    t, i = np.nonzero(positions > 0)
    amt = positions[t, i]
    pos = pl.DataFrame(
        {
            "datetime": dates[t],
            "instrument": market.instruments[i],
            "shares": amt * market.factor[t, i],
            "weight": amt * val_price[t, i] / value[t],
            "price": val_price[t, i] / market.factor[t, i],
        }
    ).with_columns(pl.col("datetime").cast(pl.Date))
    t, i = np.nonzero(trade_amt)
    a = trade_amt[t, i]
    raw_price = market.price[t, i] / market.factor[t, i]
    shares = np.abs(a) * market.factor[t, i]
    trades = pl.DataFrame(
        {
            "datetime": dates[t],
            "instrument": market.instruments[i],
            "side": np.where(a > 0, "buy", "sell"),
            "shares": np.round(shares, 6),
            "price": raw_price,
            "value": np.abs(a) * market.price[t, i],
            "cost": trade_cost[t, i],
        }
    ).with_columns(pl.col("datetime").cast(pl.Date))
    return BacktestResult(returns, pos, trades)


def backtest_topk(
    scores: pl.DataFrame | np.ndarray,
    market: Market,
    strategy: TopkDropout | None = None,
    config: BacktestConfig | None = None,
    universe: np.ndarray | None = None,
) -> BacktestResult:
    """Top-k dropout on scores ([T, N] on the market grid or a long frame): the score of day t-lag
    decides day t's trades. universe bool [T, N] (optional): scores outside it are ignored.
    Defaults: TopkDropout(50, 5) and BacktestConfig() (Qlib's CSI300 benchmark settings)."""
    strategy = TopkDropout() if strategy is None else strategy
    config = BacktestConfig() if config is None else config
    s = scores_to_grid(scores, market)
    if universe is not None:
        if universe.shape != s.shape:
            raise DataError(f"universe: shape {universe.shape} differs from the market {s.shape}")
        s = np.where(universe, s, np.nan)
    sig = _lag(s, config.signal_lag)
    if strategy.forbid_all_trade_at_limit:
        blocked = market.suspended | market.limit_up | market.limit_down
        no_buy = no_sell = blocked
    else:
        no_buy, no_sell = ~market.can_buy, ~market.can_sell
    out = run_topk(
        sig,
        market.price,
        market.close,
        market.factor,
        no_buy,
        no_sell,
        market.can_buy,
        market.can_sell,
        float(config.account),
        config.buy_cost,
        config.sell_cost,
        config.min_cost,
        float(config.trade_unit),
        strategy.topk,
        strategy.n_drop,
        max(strategy.hold_thresh, 1),
        strategy.risk_degree,
    )
    return _result(market, config, *out)


def backtest_weights(
    weights: np.ndarray, market: Market, config: BacktestConfig | None = None
) -> BacktestResult:
    """Long-only target weights [T, N] (row t decided on day t, traded on day t+lag) through the
    A-share rules; a NaN row keeps the holdings. Negative weights are an error."""
    config = BacktestConfig() if config is None else config
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != market.shape:
        raise DataError(f"weights: shape {w.shape} differs from the market {market.shape}")
    if np.nanmin(w, initial=0.0) < 0:
        raise ConfigError(
            "backtest_weights: negative weights cannot be held in a cash A-share "
            "account; use weights_returns for long-short"
        )
    if np.any(np.nansum(w, axis=1) > 1 + 1e-6):
        raise ConfigError("backtest_weights: weights of a day sum to more than 1")
    sig = _lag(w, config.signal_lag)
    out = run_weights(
        sig,
        market.price,
        market.close,
        market.factor,
        market.can_buy,
        market.can_sell,
        float(config.account),
        config.buy_cost,
        config.sell_cost,
        config.min_cost,
        float(config.trade_unit),
        config.hold_thresh,
        config.risk_degree,
    )
    return _result(market, config, *out)


def weights_returns(
    weights: np.ndarray, returns: np.ndarray, cost_rate: float = 0.001, lag: int = 1
) -> dict[str, np.ndarray]:
    """Frictionless vectorized backtest for any weights (long-short too): weights [T, N] decided on
    day t, traded at the close of t+lag and held from the next day; returns [T, N] close-to-close.
    Returns gross, net, turnover series [T]."""
    w = np.nan_to_num(_lag(np.asarray(weights, dtype=np.float64), lag))
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64))
    if w.shape != r.shape:
        raise DataError(f"weights {w.shape} and returns {r.shape} differ in shape")
    # position held over day t is the one set at the close of t-1
    held = np.vstack([np.zeros((1, w.shape[1])), w[:-1]])
    gross = (held * r).sum(axis=1)
    tov = np.abs(np.diff(np.vstack([np.zeros((1, w.shape[1])), w]), axis=0)).sum(axis=1)
    return {"gross": gross, "net": gross - cost_rate * tov, "turnover": tov}
