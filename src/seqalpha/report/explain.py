"""`seqalpha explain RUN_DIR`: LRP relevance of every input feature for every test prediction of
a run whose model can explain itself (`deep_factor`), written to RUN_DIR/attributions.parquet
(date, instrument, feature, relevance); and the report's charts of it.

A run directory keeps predictions, not fitted weights, so explaining refits each (window, seed)
model exactly as the run did (same config, same derived seeds, deterministic training) and
checks the refitted scores against predictions.parquet before trusting them. Relevance of a
cell is the mean over the run's seeds (as the score is).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

from seqalpha.errors import ConfigError, DataError
from seqalpha.jsonio import write_parquet_atomic
from seqalpha.report.figures import style_figure

if TYPE_CHECKING:
    from seqalpha.config.schema import PipelineConfig

ATTRIBUTIONS = "attributions.parquet"
COLUMNS = ("date", "instrument", "feature", "relevance")
TOP_FEATURES = 5  # features drawn over time
SMOOTH_DAYS = 20  # rolling mean of the daily series drawn over time
MAX_BARS = 30  # features in the bar chart
SCORE_TOLERANCE = 1e-4  # refitted vs recorded scores (float32 training is deterministic)


def explain_run(
    cfg: PipelineConfig,
    run_dir: str | Path,
    seeds: Sequence[int] | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Refit the run's models, compute LRP relevance on their test rows, write attributions.

    `seeds`: a subset of the run's seeds to explain (default: all). Raises ConfigError when the
    model has no `relevance` (only LRP-explainable models do) and DataError when a refitted
    model's scores differ from the run's predictions.parquet (the run was made by other code or
    data). Returns the path of attributions.parquet.
    """
    from seqalpha.models.registry import create_model
    from seqalpha.train.inputs import build_inputs
    from seqalpha.train.predictions import Predictions
    from seqalpha.train.walkforward import Job, fit_window, make_windows, model_seed
    from seqalpha.train.window import train_spec

    say = log or (lambda msg: None)
    run_dir = Path(run_dir)
    probe = create_model(cfg.model.name, **cfg.model.params, seed=cfg.seeds[0])
    if not callable(getattr(probe, "relevance", None)):
        raise ConfigError(
            f"model.name: {cfg.model.name!r} has no LRP relevance; explain needs an "
            "LRP-explainable model (deep_factor)"
        )
    use = list(cfg.seeds) if seeds is None else [int(s) for s in seeds]
    unknown = sorted(set(use) - set(cfg.seeds))
    if unknown or not use:
        raise ConfigError(f"--seed: {unknown or use} not among the run's seeds {list(cfg.seeds)}")
    pred_path = run_dir / "predictions.parquet"
    if not pred_path.is_file():
        raise DataError(f"{pred_path}: not found; run `seqalpha train` or `seqalpha run` first")
    recorded = Predictions.from_frame(pl.read_parquet(pred_path), str(pred_path))

    say(f"explain: building inputs from {cfg.data.dir}")
    inputs = build_inputs(cfg.data, cfg.features, cfg.labels)
    spec = train_spec(cfg)
    windows = make_windows(inputs.dates, cfg.walkforward, cfg.embargo, spec.lookback)
    names = list(inputs.feature_names)
    frames = []
    for w in windows:
        total: np.ndarray | None = None
        for s in use:
            job = Job(w, s, model_seed(s, w.index), spec)
            model, test, _ = fit_window(inputs, job)
            rel, score, (t, i) = model.relevance(test)
            check_scores(recorded, test.dates[t], test.instruments[i], score, s, len(cfg.seeds))
            if total is None:
                total, index = rel.astype(np.float64), (t, i, test.dates)
            elif not (np.array_equal(index[0], t) and np.array_equal(index[1], i)):
                raise DataError(f"explain: window {w.index}: seeds predict different rows")
            else:
                total += rel
            say(f"explain: window {w.index} seed {s}: {len(t)} predictions")
        if total is None:
            continue
        t, i, dates = index
        frames.append(long_frame(dates[t], inputs.instruments[i], names, total / len(use)))
    if not frames:
        raise DataError(f"explain: {run_dir}: the windows have no test predictions")
    out = write_parquet_atomic(pl.concat(frames), run_dir / ATTRIBUTIONS)
    say(f"explain: wrote {out}")
    return out


def check_scores(
    recorded: Any,
    dates: np.ndarray,
    instruments: np.ndarray,
    score: np.ndarray,
    seed: int,
    n_seeds: int,
) -> None:
    """The refitted model's scores equal the run's (its seed column, or `score` for one seed)."""
    grid = recorded.seed_scores.get(seed) if n_seeds > 1 else recorded.score
    if grid is None:
        raise DataError(f"predictions.parquet: no column score_seed{seed}")
    ti = np.searchsorted(recorded.dates, dates.astype("datetime64[D]"))
    order = np.argsort(recorded.instruments)
    pos = np.searchsorted(recorded.instruments, instruments, sorter=order)
    ni = order[np.minimum(pos, len(order) - 1)]
    ok = (ti < len(recorded.dates)) & (recorded.instruments[ni] == instruments)
    ti = np.minimum(ti, len(recorded.dates) - 1)
    ok &= recorded.dates[ti] == dates
    got = np.where(ok, grid[ti, ni], np.nan)
    diff = np.abs(got.astype(np.float64) - score)
    if (~ok).any() or not np.isfinite(diff).all() or diff.max(initial=0.0) > SCORE_TOLERANCE:
        worst = float(np.nanmax(diff)) if np.isfinite(diff).any() else float("nan")
        raise DataError(
            f"predictions.parquet: the refitted model (seed {seed}) does not reproduce the run's "
            f"scores ({int((~ok).sum())} rows missing, max |diff| {worst:.3g}); rerun the run "
            "with this code and data first"
        )


def long_frame(
    dates: np.ndarray, instruments: np.ndarray, features: list[str], relevance: np.ndarray
) -> pl.DataFrame:
    """Rows (date, instrument, feature, relevance) of relevance [n, F] for n predictions."""
    n, F = relevance.shape
    if len(features) != F:
        raise DataError(f"explain: {len(features)} feature names for {F} relevance columns")
    names, inv = np.unique(np.asarray(instruments).astype(str), return_inverse=True)
    feature = pl.Series("feature", list(features)).cast(pl.Enum(list(features)))
    return pl.DataFrame(
        {
            "date": np.repeat(np.asarray(dates, dtype="datetime64[D]"), F),
            # codes gathered from the small name lists: no [n * F] array of strings in numpy
            "instrument": pl.Series(names).gather(np.repeat(inv.astype(np.uint32), F)),
            "feature": feature.gather(np.tile(np.arange(F, dtype=np.uint32), n)),
            "relevance": relevance.astype(np.float32).reshape(-1),
        }
    ).with_columns(pl.col("date").cast(pl.Date))


def read_attributions(path: str | Path) -> pl.LazyFrame:
    """attributions.parquet as a lazy frame; DataError naming the file when a column lacks."""
    lf = pl.scan_parquet(path)
    have = lf.collect_schema().names()
    missing = [c for c in COLUMNS if c not in have]
    if missing:
        raise DataError(f"{path}: lacks the column(s) {missing}; it has {have}")
    return lf


def mean_abs_relevance(path: str | Path) -> pl.DataFrame:
    """Per feature: mean |relevance| over every prediction, largest first (feature, mean_abs)."""
    return (
        read_attributions(path)
        .group_by("feature")
        .agg(pl.col("relevance").abs().mean().alias("mean_abs"))
        .with_columns(pl.col("feature").cast(pl.Utf8))
        .sort(["mean_abs", "feature"], descending=[True, False])
        .collect()
    )


def relevance_over_time(path: str | Path, top: int = TOP_FEATURES) -> pl.DataFrame:
    """The `top` features by mean |relevance|: their daily mean |relevance| (date, feature,
    mean_abs), one row per (date, feature)."""
    keep = mean_abs_relevance(path)["feature"].head(top).to_list()
    return (
        read_attributions(path)
        .with_columns(pl.col("feature").cast(pl.Utf8))
        .filter(pl.col("feature").is_in(keep))
        .group_by(["date", "feature"])
        .agg(pl.col("relevance").abs().mean().alias("mean_abs"))
        .sort(["feature", "date"])
        .collect()
    )


def feature_relevance_figure(path: str | Path, max_bars: int = MAX_BARS) -> go.Figure:
    """Bar chart: mean |relevance| per feature (the `max_bars` largest)."""
    table = mean_abs_relevance(path).head(max_bars)
    fig = go.Figure(
        go.Bar(
            x=table["mean_abs"].to_list()[::-1],
            y=table["feature"].to_list()[::-1],
            orientation="h",
            marker_color="#486581",
        )
    )
    style_figure(
        fig,
        "Mean absolute LRP relevance per feature",
        "feature",
        pct=False,
        height=max(320, 18 * len(table) + 120),
    )
    fig.update_xaxes(title="mean |relevance| (score units)")
    fig.update_layout(hovermode="closest")
    return fig


def relevance_time_figure(
    path: str | Path, top: int = TOP_FEATURES, smooth: int = SMOOTH_DAYS
) -> go.Figure:
    """Lines: daily mean |relevance| of the `top` features, `smooth`-day rolling mean."""
    table = relevance_over_time(path, top)
    fig = go.Figure()
    order = mean_abs_relevance(path)["feature"].head(top).to_list()
    for name in order:
        part = table.filter(pl.col("feature") == name)
        y = part["mean_abs"].rolling_mean(window_size=smooth, min_samples=1)
        x = [d.isoformat() for d in part["date"].to_list()]
        fig.add_trace(go.Scatter(x=x, y=y.to_list(), mode="lines", name=name))
    return style_figure(
        fig,
        f"Relevance of the top {len(order)} features over time ({smooth}-day mean)",
        "mean |relevance|",
        pct=False,
    )


def attribution_charts(run_dir: str | Path) -> list[tuple[str, go.Figure | str]]:
    """The report's (name, figure or reason) charts; empty when the run has no attributions."""
    path = Path(run_dir) / ATTRIBUTIONS
    if not path.is_file():
        return []
    try:
        return [
            ("relevance_features", feature_relevance_figure(path)),
            ("relevance_time", relevance_time_figure(path)),
        ]
    except (DataError, pl.exceptions.PolarsError, OSError) as exc:
        reason = f"{ATTRIBUTIONS}: {exc}"
        return [("relevance_features", reason), ("relevance_time", reason)]
