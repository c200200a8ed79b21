"""Holdings count and concentration, checked on hand-made weights."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from seqalpha.errors import DataError
from seqalpha.report.holdings import holdings_stats


def positions(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "datetime": [dt.date.fromisoformat(d) for d, _, _ in rows],
            "instrument": [c for _, c, _ in rows],
            "weight": [w for _, _, w in rows],
        }
    )


def test_equal_weights_give_hhi_one_over_n_and_cash_does_not_count() -> None:
    # day 1: four names at 0.2 each (20% cash): shares 0.25 each -> HHI 0.25, 4 effective names
    # day 2: 0.6 / 0.2 / 0.2 -> shares .6 .2 .2 -> HHI .36 + .04 + .04 = .44
    pos = positions(
        [("2024-01-02", c, 0.2) for c in "ABCD"]
        + [("2024-01-03", "A", 0.6), ("2024-01-03", "B", 0.2), ("2024-01-03", "C", 0.2)]
    )
    st = holdings_stats(pos, top=2)
    assert st["n_holdings"].to_list() == [4.0, 3.0]
    assert st["gross"].to_list() == pytest.approx([0.8, 1.0])
    assert st["hhi"].to_list() == pytest.approx([0.25, 0.44])
    assert st["effective_n"].to_list() == pytest.approx([4.0, 1 / 0.44])
    assert st["top_weight"].to_list() == pytest.approx([0.5, 0.8])  # two largest shares


def test_zero_weights_are_not_holdings_and_empty_days_are_kept_when_dates_given() -> None:
    pos = positions([("2024-01-03", "A", 0.5), ("2024-01-03", "B", 0.0)])
    days = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    st = holdings_stats(pos, dates=days)
    assert st["n_holdings"].to_list() == [0.0, 1.0]
    assert st["gross"].to_list() == [0.0, 0.5]
    assert np.isnan(st["hhi"][0]) and st["hhi"][1] == 1.0


def test_a_short_book_is_measured_on_absolute_weights() -> None:
    pos = positions([("2024-01-02", "A", 0.5), ("2024-01-02", "B", -0.5)])
    assert holdings_stats(pos)["hhi"].to_list() == pytest.approx([0.5])


def test_missing_weight_column_is_a_one_line_error() -> None:
    with pytest.raises(DataError, match=r"positions: missing column\(s\) \['weight'\]"):
        holdings_stats(pl.DataFrame({"datetime": [dt.date(2024, 1, 2)], "instrument": ["A"]}))
