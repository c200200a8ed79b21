"""What the exchange knows each day: deal prices, valuation prices, lots, and tradability.

All arrays are `[T, N]` on the backtest's (date x instrument) grid; prices are adjusted
(raw = adjusted / factor, as in Qlib's store), so holdings valued at adjusted prices earn
dividends and splits, while lots of 100 shares are counted in raw shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from seqalpha.data.panel import Panel
from seqalpha.errors import ConfigError, DataError

DEAL_PRICES = ("close", "open", "vwap")


@dataclass
class Market:
    """Exchange state per day. price/close/factor float64 [T, N]; can_buy/can_sell/suspended bool
    [T, N]; benchmark float64 [T] daily return (0 where unknown)."""

    dates: np.ndarray
    instruments: np.ndarray
    price: np.ndarray
    close: np.ndarray
    factor: np.ndarray
    can_buy: np.ndarray
    can_sell: np.ndarray
    suspended: np.ndarray
    limit_up: np.ndarray
    limit_down: np.ndarray
    benchmark: np.ndarray
    benchmark_name: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.price.shape

    def rows(self, start: int, stop: int | None = None) -> Market:
        """The market restricted to days start..stop-1 (views)."""
        sl = slice(start, stop)
        return Market(
            self.dates[sl],
            self.instruments,
            self.price[sl],
            self.close[sl],
            self.factor[sl],
            self.can_buy[sl],
            self.can_sell[sl],
            self.suspended[sl],
            self.limit_up[sl],
            self.limit_down[sl],
            self.benchmark[sl],
            self.benchmark_name,
        )

    @classmethod
    def from_panel(
        cls,
        panel: Panel,
        deal_price: str = "close",
        benchmark: str | None = "SH000300",
        limit_threshold: float | None = 0.095,
        change_unit: Literal["percent", "fraction", "auto"] = "auto",
        suspend_zero_volume: bool = True,
    ) -> Market:
        """Build from a Panel with `close`.

        Also reads `open`/`vwap`, `factor`, `volume`, `change` if present.

        limit_threshold is a fraction (0.095 = 9.5%); `change` is read in `change_unit` (the shared
        cn_csi300 data stores percent) and checked against close/prev close; without `change` it
        is computed from close. Suspended: close NaN, or (suspend_zero_volume) volume 0 or NaN.
        The benchmark instrument's close gives the benchmark return; it is not tradable.
        """
        if deal_price not in DEAL_PRICES:
            raise ConfigError(f"deal_price must be one of {DEAL_PRICES}, got {deal_price!r}")
        if "close" not in panel:
            raise DataError(f"the panel has no 'close' field (fields: {panel.field_names})")
        if deal_price != "close" and deal_price not in panel:
            raise DataError(
                f"deal_price={deal_price!r} but the panel has no {deal_price!r} field "
                f"(fields: {panel.field_names}); use 'close' or 'open'"
            )
        T, N = panel.shape
        close = panel["close"].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            implied = np.full((T, N), np.nan)
            implied[1:] = close[1:] / close[:-1] - 1.0
        change = implied
        if "change" in panel:
            raw = panel["change"].astype(np.float64)
            change = np.where(
                np.isfinite(raw), raw / _change_scale(raw, implied, change_unit), implied
            )
        bench = np.zeros(T)
        keep = np.ones(N, dtype=bool)
        if benchmark is not None:
            codes = panel.instruments.tolist()
            if benchmark.upper() not in codes:
                raise DataError(f"benchmark {benchmark!r} is not among the panel's instruments")
            j = codes.index(benchmark.upper())
            bench = np.nan_to_num(implied[:, j], nan=0.0)
            bench[0] = 0.0
            keep[j] = False
        suspended = ~np.isfinite(close)
        if suspend_zero_volume and "volume" in panel:
            vol = panel["volume"]
            suspended |= ~np.isfinite(vol) | (vol <= 0)
        price = (
            close
            if deal_price == "close"
            else np.where(
                np.isfinite(panel[deal_price]) & (panel[deal_price] > 0), panel[deal_price], close
            ).astype(np.float64)
        )
        factor = panel["factor"].astype(np.float64) if "factor" in panel else np.ones((T, N))
        factor = np.where(
            np.isfinite(factor) & (factor > 0), factor, 1.0
        )  # unknown: raw = adjusted
        if limit_threshold is None:
            up = down = np.zeros((T, N), dtype=bool)
        else:
            if not 0 < limit_threshold < 1:
                raise ConfigError(
                    f"limit_threshold is a fraction in (0, 1) (0.095 = 9.5%), got {limit_threshold}"
                )
            thr = round(limit_threshold, 12)
            up, down = change >= thr - 1e-12, change <= -thr + 1e-12
        ok = ~suspended
        return cls(
            panel.dates,
            panel.instruments[keep],
            price[:, keep],
            close[:, keep],
            factor[:, keep],
            (ok & ~up)[:, keep],
            (ok & ~down)[:, keep],
            suspended[:, keep],
            up[:, keep],
            down[:, keep],
            bench,
            benchmark.upper() if benchmark else None,
        )


def _change_scale(change: np.ndarray, implied: np.ndarray, unit: str) -> float:
    """100 for percent, 1 for fraction; 'auto' decides from close/prev close, and a stated unit
    that contradicts the prices is an error naming the field."""
    both = np.isfinite(change) & np.isfinite(implied) & (np.abs(implied) > 0.005)
    ratio = float(np.median(change[both] / implied[both])) if both.sum() >= 20 else float("nan")
    if unit == "auto":
        if not np.isfinite(ratio):
            raise DataError(
                "field 'change': too few days to tell percent from fraction; pass "
                "change_unit='percent' or 'fraction'"
            )
        return 100.0 if ratio > 10 else 1.0
    if unit not in ("percent", "fraction"):
        raise ConfigError(f"change_unit must be 'percent', 'fraction' or 'auto', got {unit!r}")
    scale = 100.0 if unit == "percent" else 1.0
    if np.isfinite(ratio) and not 0.5 < ratio / scale < 2.0:
        raise DataError(
            f"field 'change' looks like a {'fraction' if ratio < 10 else 'percent'} "
            f"(median change / (close/prev close - 1) = {ratio:.3g}), not {unit}"
        )
    return scale
