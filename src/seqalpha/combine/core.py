"""Combine members' predictions into one: align, normalise per day, weight, average.

`combine(members, method, params, reach)` returns a `Combination`: the combined `Predictions`
(a normal run's predictions: evaluation, backtest and report read them as any other) and the
weight history `[T, M]`. Files: `write_combination(out, comb, members)` writes
`members/<name>/predictions.parquet` and `combine_weights.parquet` (date, member, weight).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqalpha import xsection as xs
from seqalpha.combine.methods import METHODS, Members, check_method
from seqalpha.errors import ConfigError, DataError
from seqalpha.jsonio import write_parquet_atomic
from seqalpha.train.predictions import Predictions

NORMALIZERS = ("zscore", "rank_gauss")


@dataclass
class Combination:
    """The combined predictions, member names and the weights float64 [T, M] used each date."""

    predictions: Predictions
    members: list[str]
    weights: np.ndarray
    method: str
    params: dict[str, Any]

    def weights_frame(self) -> pl.DataFrame:
        """Long table: date, member, weight (one row per date and member)."""
        t_len, m = self.weights.shape
        return pl.DataFrame(
            {
                "date": np.repeat(self.predictions.dates, m),
                "member": np.tile(np.asarray(self.members), t_len),
                "weight": self.weights.reshape(-1),
            }
        ).with_columns(pl.col("date").cast(pl.Date))


def normalise(score: np.ndarray, mask: np.ndarray, how: str) -> np.ndarray:
    """Per-date normalisation of a score [T, N] on the mask: z-score or rank -> gaussian."""
    if how == "zscore":
        return xs.zscore(score.astype(np.float64), mask)
    if how == "rank_gauss":
        return xs.rank_gauss(score.astype(np.float64), mask)
    raise ConfigError(f"ensemble.normalize: {how!r} is not one of {', '.join(NORMALIZERS)}")


def align(members: Mapping[str, Predictions]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The common grid of the members: (dates they all predict, union of instruments, scores
    float64 [M, T, N] with NaN where a member has no prediction)."""
    if len(members) < 1:
        raise ConfigError("ensemble.members: no member to combine")
    preds = list(members.values())
    dates = preds[0].dates
    for p in preds[1:]:
        dates = np.intersect1d(dates, p.dates)
    if len(dates) == 0:
        raise DataError(f"ensemble: members {sorted(members)} share no prediction date")
    instruments = np.unique(np.concatenate([p.instruments for p in preds]))
    scores = np.stack([p.on_grid(dates, instruments) for p in preds])
    return dates, instruments, scores


def label_grid(ref: Predictions, dates: np.ndarray, instruments: np.ndarray) -> np.ndarray:
    """The reference predictions' raw label on another grid, float64 [T, N] (NaN off it)."""
    swapped = Predictions(ref.dates, ref.instruments, ref.label, ref.label, ref.mask)
    return swapped.on_grid(dates, instruments)


def combine(
    members: Mapping[str, Predictions],
    method: str = "equal",
    params: Mapping[str, Any] | None = None,
    reach: int = 2,
    normalize: str = "zscore",
    label_from: Predictions | None = None,
) -> Combination:
    """Members' scores (each normalised per date) weighted by a registered method.

    reach: trading days after a date that its label reads (`LabelsConfig.reach`); weights of a
    date use only labels of dates at least `reach` days before it. label_from: predictions whose
    `label` scores the combination (default: the first member's).
    """
    p = check_method(method, dict(params or {}))
    if reach < 0:
        raise ConfigError(f"ensemble: label reach {reach} must be >= 0")
    names = list(members)
    dates, instruments, raw = align(members)
    ref = label_from if label_from is not None else members[names[0]]
    label = label_grid(ref, dates, instruments)
    how = METHODS[method].normalize or normalize
    valid = np.isfinite(raw)
    z = np.stack([normalise(raw[k], valid[k], how) for k in range(len(names))])
    lab_ok = np.isfinite(label)
    mem = Members(names, z, xs.zscore(label, lab_ok), int(reach))
    weights = np.asarray(METHODS[method].weights(mem, p), dtype=np.float64)
    if weights.shape != (len(dates), len(names)):
        raise DataError(f"combine method {method!r}: weights {weights.shape} are not [T, M]")
    score = weighted_mean(z, weights)
    mask = np.isfinite(score)
    preds = Predictions(
        dates,
        instruments,
        score.astype(np.float32),
        label.astype(np.float32),
        mask,
    )
    return Combination(preds, names, weights, method, p)


def weighted_mean(z: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_m w[t, m] z[m, t, n] over the members present in a cell, divided by their sum |w|:
    float64 [T, N] (NaN where no member with a non-zero weight is present)."""
    w = weights.T[:, :, None]  # [M, T, 1]
    present = np.isfinite(z)
    num = np.where(present, z * w, 0.0).sum(axis=0)
    den = np.where(present, np.abs(w), 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def read_member_run(run_dir: str | Path) -> Predictions:
    """The predictions of a finished run directory (its predictions.parquet)."""
    path = Path(run_dir) / "predictions.parquet"
    if not path.is_file():
        raise DataError(f"ensemble member run {run_dir}: no predictions.parquet (run it first)")
    return Predictions.from_frame(pl.read_parquet(path), str(path))


def write_combination(
    out: str | Path, comb: Combination, members: Mapping[str, Predictions]
) -> None:
    """members/<name>/predictions.parquet and combine_weights.parquet into `out`."""
    out = Path(out)
    for name, preds in members.items():
        (out / "members" / name).mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(preds.to_frame(), out / "members" / name / "predictions.parquet")
    write_parquet_atomic(comb.weights_frame(), out / "combine_weights.parquet")
