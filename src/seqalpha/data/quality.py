"""Validation of loaded bars: impossible values become NaN and are counted, never silently used.

Rules (vectorised over arrays whose LAST axis is the instrument, e.g. [T, N] or [D, B, N]):
  - prices (open high low close vwap factor) must be finite and > 0;
  - volume and amount must be finite and >= 0;
  - any other field must not be +-inf (NaN is always allowed: it means missing);
  - bars, where the fields are loaded together: high >= low, open and close inside [low, high]
    (relative tolerance `BAR_RTOL`, for float32 rounding of adjusted prices); a violating bar has
    all of its loaded open/high/low/close set to NaN, since which one is wrong is unknown.
Each rule that fires yields a `Problem` with per-instrument counts, for one warning or error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from seqalpha.errors import DataError

PRICE_FIELDS = ("open", "high", "low", "close", "vwap", "factor")
NONNEG_FIELDS = ("volume", "amount")
BAR_RTOL = 1e-4
MAX_NAMED = 5


class DataQualityWarning(UserWarning):
    """Loaded data had impossible values (set to NaN) or missing field files (NaN)."""


@dataclass
class Problem:
    """One class of problem in one field: `counts[n]` offending cells of instrument n."""

    kind: str
    field: str
    counts: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def describe(self, instruments: np.ndarray) -> str:
        hit = np.nonzero(self.counts)[0]
        order = hit[np.argsort(-self.counts[hit], kind="stable")][:MAX_NAMED]
        if self.kind == "missing-file":
            named = ", ".join(str(instruments[j]) for j in order)
        else:
            named = ", ".join(f"{instruments[j]} ({int(self.counts[j])})" for j in order)
        more = f" and {len(hit) - len(order)} more" if len(hit) > len(order) else ""
        if self.kind == "missing-file":
            return f"{self.field}: no file for {len(hit)} instrument(s): {named}{more}"
        return (
            f"{self.field}: {self.total} {self.kind} value(s) in {len(hit)} instrument(s): "
            f"{named}{more}"
        )


def _count(bad: np.ndarray) -> np.ndarray:
    """Per-instrument counts of a boolean array whose last axis is the instrument."""
    return bad.reshape(-1, bad.shape[-1]).sum(axis=0)


def validate_fields(fields: dict[str, np.ndarray]) -> list[Problem]:
    """Set impossible values of `fields` to NaN IN PLACE; return what was found, by class."""
    problems: list[Problem] = []

    def flag(kind: str, name: str, bad: np.ndarray) -> None:
        if bad.any():
            problems.append(Problem(kind, name, _count(bad)))
            fields[name][bad] = np.nan

    with np.errstate(invalid="ignore"):
        for name, arr in fields.items():
            flag("infinite", name, np.isinf(arr))
            if name in PRICE_FIELDS:
                flag("non-positive", name, arr <= 0)
            elif name in NONNEG_FIELDS:
                flag("negative", name, arr < 0)
        problems += _check_bars(fields)
    return problems


def _check_bars(fields: dict[str, np.ndarray]) -> list[Problem]:
    """high < low and open/close outside [low, high], among the loaded price fields."""
    high, low = fields.get("high"), fields.get("low")
    if high is None or low is None:
        return []
    tol_hi = high * (1 + BAR_RTOL)
    tol_lo = low * (1 - BAR_RTOL)
    found = []
    bad_any = np.zeros(high.shape, dtype=bool)
    checks = [("high below low", "high", tol_hi < low)]
    for name in ("open", "close"):
        if name in fields:
            arr = fields[name]
            checks.append((f"outside [low, high] ({name})", name, (arr > tol_hi) | (arr < tol_lo)))
    for kind, name, bad in checks:
        if bad.any():
            found.append(Problem(kind, name, _count(bad)))
            bad_any |= bad
    if bad_any.any():
        for name in ("open", "high", "low", "close"):
            if name in fields:
                fields[name][bad_any] = np.nan
    return found


def report(
    problems: list[Problem], instruments: np.ndarray, where: str, strict: bool, stacklevel: int = 3
) -> None:
    """One DataQualityWarning listing every problem (or, with `strict`, a DataError)."""
    if not problems:
        return
    text = "; ".join(p.describe(instruments) for p in problems)
    if strict:
        raise DataError(f"{where}: invalid data (strict): {text}")
    warnings.warn(f"{where}: set to NaN: {text}", DataQualityWarning, stacklevel=stacklevel)
