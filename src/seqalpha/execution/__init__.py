"""Order execution over intraday bars: a simulator of parent orders (participation cap,
square-root impact, price limits, suspensions), strategies by registered name (TWAP, VWAP, POV,
a learned policy distilled from an oracle teacher, in `rl.py`), and execution-quality metrics."""

from seqalpha.execution.bars import OrderBars, load_bars_parquet, previous_close, volume_curve
from seqalpha.execution.metrics import (
    cost_by_year,
    gain_loss_ratio,
    summarize,
    vs_arrival_bps,
    vs_benchmark_bps,
)
from seqalpha.execution.oracle import Oracle, oracle_schedule
from seqalpha.execution.policy import LearnedPolicy, student_features
from seqalpha.execution.simulator import (
    Fills,
    Orders,
    Past,
    Session,
    SimParams,
    Strategy,
    simulate,
)
from seqalpha.execution.strategies import POV, STRATEGIES, TWAP, VWAP, make_strategy

__all__ = [
    "POV",
    "STRATEGIES",
    "TWAP",
    "VWAP",
    "Fills",
    "LearnedPolicy",
    "Oracle",
    "OrderBars",
    "Orders",
    "Past",
    "Session",
    "SimParams",
    "Strategy",
    "cost_by_year",
    "gain_loss_ratio",
    "load_bars_parquet",
    "make_strategy",
    "oracle_schedule",
    "previous_close",
    "simulate",
    "student_features",
    "summarize",
    "volume_curve",
    "vs_arrival_bps",
    "vs_benchmark_bps",
]
