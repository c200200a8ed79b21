"""`backtest.deal_price: execution` in a config, its checks, and the report's execution section."""

from __future__ import annotations

import polars as pl
import pytest
from pydantic import ValidationError

from seqalpha.config.schema import PipelineConfig
from seqalpha.errors import ConfigError
from seqalpha.registries import check_components
from seqalpha.report.execution import execution_cost_html, execution_table

BASE = {
    "data": {"dir": "x", "minute_dir": "x/minute"},
    "features": {"library": "alpha158"},
    "walkforward": {"schedule": "rolling", "step": 20, "train_days": 100, "valid_days": 20},
}


def _cfg(**backtest) -> PipelineConfig:
    return PipelineConfig.model_validate({**BASE, "backtest": backtest})


def test_execution_section_defaults_and_params():
    cfg = _cfg(deal_price="execution", execution={"strategy": "pov", "params": {"rate": 0.05}})
    assert cfg.backtest.execution.participation == 0.2
    check_components(cfg)  # pov with its rate is a valid registered strategy


def test_unknown_strategy_or_param_is_named_before_any_data_is_read():
    with pytest.raises(ConfigError, match=r"backtest\.execution\.strategy: unknown strategy"):
        check_components(_cfg(deal_price="execution", execution={"strategy": "sniper"}))
    with pytest.raises(ConfigError, match=r"backtest\.execution\.strategy 'twap': bad params"):
        check_components(
            _cfg(deal_price="execution", execution={"strategy": "twap", "params": {"x": 1}})
        )


def test_execution_needs_minute_bars_and_sane_numbers():
    with pytest.raises(ValidationError, match=r"needs data\.minute_dir"):
        PipelineConfig.model_validate(
            {**BASE, "data": {"dir": "x"}, "backtest": {"deal_price": "execution"}}
        )
    with pytest.raises(ValidationError, match="participation"):
        _cfg(deal_price="execution", execution={"participation": 1.5})


def test_report_table_of_cost_per_year(tmp_path):
    assert execution_table(tmp_path) is None  # no executed orders: no section
    pl.DataFrame(
        {
            "datetime": pl.Series(["2021-03-01", "2021-06-01", "2022-01-04"]).str.to_date(),
            "quantity": [100.0, 100.0, 200.0],
            "filled": [100.0, 50.0, 200.0],
            "value": [1000.0, 3000.0, 2000.0],
            "cost_vs_arrival_bps": [10.0, 2.0, -4.0],
            "cost_vs_close_bps": [1.0, 1.0, 3.0],
        }
    ).write_parquet(tmp_path / "execution.parquet")
    table = execution_table(tmp_path)
    assert table["year"].to_list() == [2021, 2022]
    assert table["cost_vs_arrival_bps"].to_list() == pytest.approx(
        [(10 * 1000 + 2 * 3000) / 4000, -4]
    )
    assert table["fill_rate"].to_list() == pytest.approx([0.75, 1.0])
    assert 'data-table="execution"' in execution_cost_html(table)
