"""Registered portfolio strategies: configs choose them by name (`portfolio.strategy`), and a
misspelt name or bad params fail when the config is checked, before any data is read.

A strategy is traded by one of the backtest's two engines: "topk" (the top-k dropout engine,
params `topk`/`n_drop`) or "weights" (target weights [T, N] from `weights`, then traded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from seqalpha.errors import ConfigError
from seqalpha.portfolio.weights import score_weighted

# weights(scores [T, N], market, params, data_dir) -> target weights [T, N]; `market` is the
# backtest's grid (dates, instruments, can_buy, can_sell)
WeightsFn = Callable[[np.ndarray, Any, dict[str, Any], str], np.ndarray]
# decide(scores, market, params, data_dir) -> a decision with `.weights` [T, N] and
# `.active(portfolio_returns [T], index_returns [T] | None) -> {year: row}` (benchmark-relative
# strategies: the pipeline writes it to metrics.json's "active" section)
DecideFn = Callable[[np.ndarray, Any, dict[str, Any], str], Any]


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its engine, its weights function, and a check of its params."""

    name: str
    engine: Literal["topk", "weights"]
    weights: WeightsFn | None = None
    check_params: Callable[[dict[str, Any]], None] | None = None
    decide: DecideFn | None = None
    risk_degree: float | None = None  # fraction invested by the backtest (None: its default)


STRATEGIES: dict[str, Strategy] = {}

# Names that look like strategies but cannot be backtested, with the reason.
UNSUPPORTED = {
    "long_short": "needs short selling, which the A-share cash backtest does not allow; "
    "evaluate it with quantile returns",
}


def register_strategy(strategy: Strategy) -> Strategy:
    """Make a strategy available to configs under `strategy.name`."""
    if strategy.name in STRATEGIES and STRATEGIES[strategy.name] != strategy:
        raise ValueError(f"strategy name {strategy.name!r} registered twice")
    STRATEGIES[strategy.name] = strategy
    return strategy


def get_strategy(name: str, params: dict[str, Any] | None = None) -> Strategy:
    """The registered strategy `name` with `params` checked; one-line ConfigErrors name the key."""
    if name in UNSUPPORTED:
        raise ConfigError(f"portfolio.strategy: {name!r} {UNSUPPORTED[name]}")
    if name not in STRATEGIES:
        raise ConfigError(
            f"portfolio.strategy: unknown strategy {name!r}; "
            f"allowed: {', '.join(sorted(STRATEGIES))}"
        )
    strategy = STRATEGIES[name]
    if params and strategy.check_params is None:
        raise ConfigError(
            f"portfolio.params: strategy {name!r} takes no params, got {sorted(params)}"
        )
    if strategy.check_params is not None:
        strategy.check_params(dict(params or {}))
    return strategy


def _score_weighted_params(params: dict[str, Any]) -> None:
    allowed = {"topk", "max_weight"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ConfigError(
            f"portfolio.params: {unknown} not accepted by 'score_weighted'; allowed: "
            f"{', '.join(sorted(allowed))}"
        )


def _score_weighted(scores: np.ndarray, market: Any, params: dict[str, Any], data_dir: str):
    return score_weighted(scores, **params)


def _optimizer_params(params: dict[str, Any]):
    from seqalpha.portfolio.optimizer import OptimizerParams

    try:
        return OptimizerParams(**params)
    except TypeError as exc:
        raise ConfigError(f"portfolio.params: {exc}") from None


def _optimizer(scores: np.ndarray, market: Any, params: dict[str, Any], data_dir: str):
    from seqalpha.portfolio.optimizer import optimize_with_factor_model

    return optimize_with_factor_model(
        scores,
        data_dir,
        market.dates,
        market.instruments,
        _optimizer_params(params),
        can_buy=market.can_buy,
        can_sell=market.can_sell,
    )


def _index_enhance_params(params: dict[str, Any]) -> None:
    from seqalpha.portfolio.index_enhance import check_params

    check_params(params)


def _index_enhance_decide(scores: np.ndarray, market: Any, params: dict[str, Any], data_dir: str):
    from seqalpha.portfolio.index_enhance import decide

    return decide(scores, market, params, data_dir)


def _index_enhance(scores: np.ndarray, market: Any, params: dict[str, Any], data_dir: str):
    return _index_enhance_decide(scores, market, params, data_dir).weights


register_strategy(Strategy("topk_dropout", "topk"))
register_strategy(Strategy("score_weighted", "weights", _score_weighted, _score_weighted_params))
register_strategy(Strategy("optimizer", "weights", _optimizer, _optimizer_params))
register_strategy(
    Strategy(
        "index_enhance",
        "weights",
        _index_enhance,
        _index_enhance_params,
        decide=_index_enhance_decide,
        risk_degree=1.0,  # fully invested, as the benchmark it tracks
    )
)
