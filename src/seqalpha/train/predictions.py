"""Predictions: what the walk-forward hands to evaluation, the portfolio and the backtest, in
memory on the Panel's [T, N] axes. The long table (Qlib's `datetime, instrument, score` shape)
is only for files: `predictions.parquet` and the per-window files of a resumable run."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from seqalpha.errors import DataError


@dataclass
class Predictions:
    """Test-range scores of a run on a date x instrument grid.

    dates datetime64[D] [T] (test days, ascending); instruments str [N] (sorted);
    score float32 [T, N] (seed mean); label float32 [T, N] (the first label column, raw);
    mask bool [T, N] (a prediction exists: the universe on that test day);
    labels: name -> float32 [T, N] for every label column when there are several (multi-horizon);
    seed_scores: seed -> float32 [T, N] when there are several seeds.
    """

    dates: np.ndarray
    instruments: np.ndarray
    score: np.ndarray
    label: np.ndarray
    mask: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    seed_scores: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dates = np.asarray(self.dates, dtype="datetime64[D]")
        self.instruments = np.asarray(self.instruments).astype(str)
        shape = (len(self.dates), len(self.instruments))
        grids = {"score": self.score, "label": self.label, "mask": self.mask}
        grids.update({f"labels[{k!r}]": v for k, v in self.labels.items()})
        grids.update({f"seed_scores[{k}]": v for k, v in self.seed_scores.items()})
        for name, arr in grids.items():
            if np.shape(arr) != shape:
                raise DataError(f"Predictions.{name}: shape {np.shape(arr)} is not {shape}")
        if len(self.dates) > 1 and not (np.diff(self.dates) > np.timedelta64(0, "D")).all():
            raise DataError("Predictions.dates: test days must be strictly increasing")

    @property
    def n(self) -> int:
        """Number of predictions (cells in the mask)."""
        return int(self.mask.sum())

    def compact(self) -> Predictions:
        """Only the dates and instruments with at least one prediction (the grid a long table
        of the same rows pivots to)."""
        rows, cols = self.mask.any(axis=1), self.mask.any(axis=0)
        if rows.all() and cols.all():
            return self

        def cut(a: np.ndarray) -> np.ndarray:
            return a[rows][:, cols]

        return Predictions(
            self.dates[rows],
            self.instruments[cols],
            cut(self.score),
            cut(self.label),
            cut(self.mask),
            {k: cut(v) for k, v in self.labels.items()},
            {k: cut(v) for k, v in self.seed_scores.items()},
        )

    def on_grid(self, dates: np.ndarray, instruments: np.ndarray) -> np.ndarray:
        """Scores as float64 [len(dates), len(instruments)] on another grid (a market's); cells
        without a prediction, or outside this grid, are NaN."""
        dates = np.asarray(dates, dtype="datetime64[D]")
        instruments = np.asarray(instruments).astype(str)
        out = np.full((len(dates), len(instruments)), np.nan)
        ti = np.searchsorted(self.dates, dates)
        t_ok = (ti < len(self.dates)) & (self.dates[np.minimum(ti, len(self.dates) - 1)] == dates)
        order = np.argsort(self.instruments)
        pos = np.searchsorted(self.instruments[order], instruments)
        ni = order[np.minimum(pos, len(self.instruments) - 1)]
        n_ok = (pos < len(self.instruments)) & (self.instruments[ni] == instruments)
        t_idx, n_idx = np.nonzero(t_ok)[0], np.nonzero(n_ok)[0]
        src = np.where(self.mask, self.score, np.nan)[ti[t_idx]][:, ni[n_idx]]
        out[np.ix_(t_idx, n_idx)] = src
        return out

    def to_frame(self) -> pl.DataFrame:
        """Long table: datetime, instrument, score, label, `label_<name>` per label column when
        several, `score_seed<s>` per seed when several; one row per prediction, sorted."""
        t, i = np.nonzero(self.mask)
        cols = {
            "datetime": self.dates[t],
            "instrument": self.instruments[i],
            "score": self.score[t, i].astype(np.float32),
            "label": self.label[t, i].astype(np.float32),
        }
        for name, arr in self.labels.items():
            cols[f"label_{name}"] = arr[t, i].astype(np.float32)
        for seed, arr in self.seed_scores.items():
            cols[f"score_seed{seed}"] = arr[t, i].astype(np.float32)
        df = pl.DataFrame(cols).with_columns(pl.col("datetime").cast(pl.Date))
        return df.sort(["datetime", "instrument"])

    @classmethod
    def from_frame(cls, df: pl.DataFrame, source: str = "predictions") -> Predictions:
        """The inverse of `to_frame` (a file of a finished window or run)."""
        for col in ("datetime", "instrument", "score", "label"):
            if col not in df.columns:
                raise DataError(f"{source}: lacks the column {col!r}; it has {df.columns}")
        d = df["datetime"].cast(pl.Date).to_numpy().astype("datetime64[D]")
        inst = df["instrument"].cast(pl.Utf8).to_numpy().astype(str)
        dates, ti = np.unique(d, return_inverse=True)
        instruments, ni = np.unique(inst, return_inverse=True)
        if len(np.unique(ti.astype(np.int64) * len(instruments) + ni)) != len(ti):
            raise DataError(f"{source}: duplicate (datetime, instrument) rows")
        shape = (len(dates), len(instruments))
        mask = np.zeros(shape, dtype=bool)
        mask[ti, ni] = True

        def grid(col: str) -> np.ndarray:
            out = np.full(shape, np.nan, dtype=np.float32)
            out[ti, ni] = df[col].to_numpy().astype(np.float32, copy=False)
            return out

        labels = {c[len("label_") :]: grid(c) for c in df.columns if c.startswith("label_")}
        seeds = {
            int(c[len("score_seed") :]): grid(c) for c in df.columns if c.startswith("score_seed")
        }
        return cls(dates, instruments, grid("score"), grid("label"), mask, labels, seeds)

    @classmethod
    def concat(cls, parts: list[Predictions]) -> Predictions:
        """Predictions of consecutive test ranges (e.g. walk-forward windows) as one, on the
        union of their instruments; the ranges must not share a date."""
        if not parts:
            raise DataError("Predictions.concat: no predictions to join")
        instruments = np.unique(np.concatenate([p.instruments for p in parts]))
        dates = np.concatenate([p.dates for p in parts])
        order = np.argsort(dates, kind="stable")
        T, N = len(dates), len(instruments)

        def stack(get, fill, dtype) -> np.ndarray:
            out = np.full((T, N), fill, dtype=dtype)
            t0 = 0
            for p in parts:
                cols = np.searchsorted(instruments, p.instruments)
                out[t0 : t0 + len(p.dates), cols] = get(p)
                t0 += len(p.dates)
            return out[order]

        first = parts[0]
        return cls(
            dates[order],
            instruments,
            stack(lambda p: p.score, np.nan, np.float32),
            stack(lambda p: p.label, np.nan, np.float32),
            stack(lambda p: p.mask, False, bool),
            {k: stack(lambda p, k=k: p.labels[k], np.nan, np.float32) for k in first.labels},
            {
                k: stack(lambda p, k=k: p.seed_scores[k], np.nan, np.float32)
                for k in first.seed_scores
            },
        )
