"""A small, CI-sized version of benchmarks/quality_synthetic.py: the scoring against the oracle
on hand-made frames, and `linear` on a reversal-only market through the walk-forward runner."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqalpha.errors import ConfigError, DataError

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "quality_synthetic.py"


@pytest.fixture(scope="module")
def qs():
    spec = importlib.util.spec_from_file_location("quality_synthetic", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["quality_synthetic"] = mod
    spec.loader.exec_module(mod)
    return mod


def _frames(T: int = 40, N: int = 30, seed: int = 0):
    """A planted oracle o, labels y = o + noise, on T dates x N stocks (long frames)."""
    rng = np.random.default_rng(seed)
    dates = np.busday_offset(np.datetime64("2021-01-04"), np.arange(T), roll="forward")
    o = rng.normal(0, 1, (T, N))
    y = 0.3 * o + rng.normal(0, 1, (T, N))
    tt, ii = np.meshgrid(np.arange(T), np.arange(N), indexing="ij")
    base = {
        "datetime": dates[tt.ravel()],
        "instrument": np.array([f"S{i:03d}" for i in ii.ravel()]),
    }
    oracle = pl.DataFrame({**base, "reversal": o.ravel().astype(np.float32)}).with_columns(
        pl.col("datetime").cast(pl.Date)
    )
    return base, o, y, oracle


def test_score_equal_to_oracle_has_ratio_one_and_no_leak(qs):
    base, o, y, oracle = _frames()
    preds = pl.DataFrame({**base, "score": o.ravel(), "label": y.ravel()}).with_columns(
        pl.col("datetime").cast(pl.Date)
    )
    res = qs.score_against_oracle(preds, oracle, "reversal")
    assert res["ratio"] == pytest.approx(1.0, abs=1e-6)
    assert res["diff_se"] == pytest.approx(0.0, abs=1e-6)
    assert res["leak_ok"]
    assert res["n_days"] == 40 and res["n_cells"] == 40 * 30
    assert 0.15 < res["oracle_ic"] < 0.45  # 0.3 / sqrt(1.09) ~ 0.29 in expectation


def test_score_that_reads_the_label_is_flagged_as_leak(qs):
    base, _o, y, oracle = _frames()
    leaky = y + 0.5 * np.random.default_rng(1).normal(0, 1, y.shape)
    preds = pl.DataFrame({**base, "score": leaky.ravel(), "label": y.ravel()}).with_columns(
        pl.col("datetime").cast(pl.Date)
    )
    res = qs.score_against_oracle(preds, oracle, "reversal")
    assert res["ic"] > res["oracle_ic"] + 2 * res["diff_se"]
    assert not res["leak_ok"]


def test_score_only_on_cells_with_a_prediction(qs):
    base, o, y, oracle = _frames()
    score = o.copy()
    score[:, :10] = np.nan  # the model predicts 20 of 30 stocks
    preds = pl.DataFrame({**base, "score": score.ravel(), "label": y.ravel()}).with_columns(
        pl.col("datetime").cast(pl.Date)
    )
    res = qs.score_against_oracle(preds, oracle, "reversal")
    assert res["n_cells"] == 40 * 20
    assert res["ratio"] == pytest.approx(1.0, abs=1e-6)  # oracle scored on the same 20 stocks
    with pytest.raises(DataError, match="intraday"):
        qs.score_against_oracle(preds, oracle, "intraday")


def test_market_config_switches_on_one_signal(qs):
    cfg = qs.market_config("regime", 50, 100, 3, 0.1)
    assert cfg.strengths["regime"] == 0.1
    assert sum(cfg.strengths.values()) == pytest.approx(0.1)
    assert cfg.bar_minutes == 30
    with pytest.raises(ConfigError, match="momentum"):
        qs.market_config("momentum", 50, 100, 3, 0.1)


@pytest.mark.timeout(120)
def test_linear_on_reversal_market_reaches_half_the_oracle(qs, tmp_path):
    # small market, stronger planted signal (0.2 instead of 0.06) so 75 test days give a stable IC
    args = argparse.Namespace(
        out=str(tmp_path), n_stocks=80, n_days=300, seed=0, strength=0.2, fresh=False
    )
    cell = next(c for c in qs.CELLS if c.key == "reversal__linear")
    res = qs.run_cell(cell, args)
    assert res["oracle_ic"] > 0.1
    assert res["ratio"] >= 0.5
    assert res["leak_ok"]
    test = res["windows"][0]["test"]
    assert res["dates"][0] >= test[0] and res["dates"][-1] <= test[1]
    # the cached market is reused: a second run does not regenerate it
    meta = tmp_path / "markets" / "reversal" / "meta.json"
    before = meta.stat().st_mtime_ns
    qs.ensure_market(cell, args)
    assert meta.stat().st_mtime_ns == before
    # a cell with its own size gets its own market directory
    big = qs.Cell("reversal", "linear_big", "daily_returns", {}, "x", size=(90, 300))
    assert qs.market_path(big, args) == tmp_path / "markets" / "reversal_90x300"
    assert qs.market_size(big, args) == (90, 300) and qs.market_size(cell, args) == (80, 300)


def _cell(ic: float, oracle: float, daily: list[float], leak_ok: bool = True) -> dict:
    dates = [f"2022-01-{d + 1:02d}" for d in range(len(daily))]
    return {
        "ic": ic,
        "oracle_ic": oracle,
        "ratio": ic / oracle,
        "leak_ok": leak_ok,
        "dates": dates,
        "daily_ic": daily,
    }


def test_bars_verdicts_follow_the_thresholds(qs):
    rng = np.random.default_rng(0)
    noise = list(rng.normal(0, 0.01, 50))
    res = {
        "reversal__linear": _cell(0.05, 0.06, noise),  # 0.83 >= 0.7
        "reversal__lgbm": _cell(0.03, 0.06, noise),  # 0.50 < 0.7
        "intraday__lgbm_agg": _cell(0.01, 0.06, [x + 0.01 for x in noise]),
        "intraday__gru": _cell(0.04, 0.06, [x + 0.04 for x in noise]),
        "regime__gru": _cell(0.00, 0.06, noise),
        "regime__tra": _cell(0.00, 0.06, [x - 0.001 for x in noise], leak_ok=False),
        "regime__tra_market": _cell(0.03, 0.06, [x + 0.03 for x in noise]),
        "intraday__lgbm_agg_2k": _cell(0.02, 0.06, [x + 0.02 for x in noise]),
        "intraday__alstm_2k": _cell(0.025, 0.06, [x + 0.025 for x in noise]),
    }
    verdicts = {name: v for name, _, v in qs.bars(res)}
    assert verdicts["linear >= 70% of oracle IC (reversal)"] == "PASS"
    assert verdicts["lgbm >= 70% of oracle IC (reversal)"] == "FAIL"
    assert verdicts["gru >= 50% of oracle IC (intraday, 300 st.)"] == "PASS"
    assert verdicts["gru clearly > lgbm on daily aggregates (intraday, 300 st.)"] == "PASS"
    assert verdicts["alstm >= 50% of oracle IC (intraday, 300 st.)"] == "n/a"
    assert verdicts["alstm >= 50% of oracle IC (intraday, 2000 st.)"] == "FAIL"  # 0.42
    assert verdicts["alstm clearly > lgbm on daily aggregates (intraday, 2000 st.)"] == "PASS"
    assert verdicts["tra (sample memory) beats gru (regime)"] == "FAIL"
    assert verdicts["tra (market memory) beats gru (regime)"] == "PASS"
    assert verdicts["no model above oracle + 2 SE (leakage)"] == "FAIL"
    dm, se = qs.paired(res["intraday__gru"], res["intraday__lgbm_agg"])
    assert dm == pytest.approx(0.03, abs=1e-9) and se == pytest.approx(0.0, abs=1e-9)
