"""The Python API: what the `seqalpha` commands do, as functions returning typed results.

Load a config (a YAML file, a dict or a loaded config; `--set`-style overrides), run it into a
run directory or stop after training, read a finished run back, compute features as a long
table, and plot a run's cumulative IC, excess return and quantile returns (plotly figures).
Everything here is re-exported lazily by `seqalpha` (`import seqalpha` stays cheap), e.g.

>>> import seqalpha, tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> market = seqalpha.example_market(tmp / "market")
>>> res = seqalpha.run(seqalpha.example_config(market), tmp / "run", stop_after="train")
>>> res.predictions.n == res.metrics["n_predictions"] > 0
True
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from seqalpha.config import PipelineConfig, apply_overrides, config_from_dict, config_to_dict
from seqalpha.errors import ConfigError, DataError, SeqAlphaError

if TYPE_CHECKING:  # the heavy stages are imported when used
    import plotly.graph_objects as go

    from seqalpha.backtest import BacktestResult
    from seqalpha.train.predictions import Predictions

ConfigSource = str | Path | Mapping[str, Any] | PipelineConfig
STAGES = ("train", "report")


# ------------------------------------------------------------------------------------- configs


def _raw(source: ConfigSource) -> tuple[dict | None, Path | None, str]:
    """(plain data or None for a file, the file, a name for messages) of a config source."""
    if isinstance(source, PipelineConfig):
        return config_to_dict(source), None, "<config>"
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source)), None, "<dict>"
    if isinstance(source, (str, Path)):
        return None, Path(source), str(source)
    raise ConfigError(
        f"config: expected a YAML path, a dict or a PipelineConfig, got {type(source).__name__}"
    )


def _load_one(
    source: ConfigSource, sets: Sequence[str], data_dir: str | Path | None
) -> PipelineConfig:
    from seqalpha.config.loading import check_data_names
    from seqalpha.registries import check_components, load_checked_config

    raw, path, name = _raw(source)
    if path is not None:
        return load_checked_config(path, sets, data_dir)
    if raw is None:
        raise ConfigError(f"{name}: neither a config file nor a config mapping")
    cfg = config_from_dict(apply_overrides(raw, sets), source=name, data_dir=data_dir)
    try:
        check_data_names(cfg)
        check_components(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return cfg


def _baseline_sets(sets: Sequence[str], base) -> list[str]:
    return [*sets, *(f"{k}={json.dumps(v)}" for k, v in base.set.items()), "baselines=[]"]


def load_config(
    config: ConfigSource, sets: Sequence[str] = (), data_dir: str | Path | None = None
) -> PipelineConfig:
    """A checked config from a YAML file, a dict or a config, with `key.path=value` overrides.

    Schema, registered names and each baseline's overrides are checked before any data is read;
    a mistake is a one-line ConfigError naming the key.

    >>> import tempfile, pathlib
    >>> raw = example_config(example_market(pathlib.Path(tempfile.mkdtemp()) / "market"))
    >>> cfg = load_config(raw, sets=["portfolio.topk=10", "model.name=lgbm"])
    >>> (cfg.model.name, cfg.portfolio.topk, raw["model"]["name"])
    ('lgbm', 10, 'linear')
    >>> load_config(raw, sets=["model.name=nope"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqalpha.errors.ConfigError: <dict>: model.name: unknown model 'nope'; allowed: ...
    """
    cfg = _load_one(config, sets, data_dir)
    for base in cfg.baselines:
        try:
            _load_one(config, _baseline_sets(sets, base), data_dir)
        except ConfigError as exc:
            raise ConfigError(f"baselines.{base.name}: {exc}") from None
    return cfg


# ------------------------------------------------------------------------------------- results


@dataclass
class RunResult:
    """A run directory's results in memory.

    metrics: metrics.json; predictions: score/label/mask [T, N] on the test days; ic and
    quantiles: daily tables (computed from the predictions when the run stopped after
    training); backtest: returns, positions, trades (None without a backtest); baselines:
    name -> RunResult of each baseline run.
    """

    run_dir: Path
    metrics: dict[str, Any]
    predictions: Predictions
    ic: pl.DataFrame
    quantiles: pl.DataFrame
    backtest: BacktestResult | None = None
    baselines: dict[str, RunResult] = field(default_factory=dict)

    def to_qlib(self) -> Any:
        """The predictions as Qlib's pred.pkl frame: pandas, MultiIndex (datetime, instrument),
        column `score`."""
        from seqalpha.report.qlib_interop import to_qlib_frame

        return to_qlib_frame(self.predictions.to_frame())


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except Exception as exc:  # polars/pyarrow raise many kinds on a corrupt file
        raise DataError(f"{path}: cannot read parquet: {exc}") from None


def load_run(run_dir: str | Path) -> RunResult:
    """A finished run directory (of `seqalpha run`, `seqalpha train` or `run`) as a RunResult.

    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> cfg = example_config(example_market(tmp / "market"))
    >>> first = run(cfg, tmp / "run", stop_after="train")
    >>> again = load_run(tmp / "run")
    >>> bool((again.predictions.score == first.predictions.score)[first.predictions.mask].all())
    True
    >>> again.backtest is None  # stopped after training
    True
    """
    from seqalpha.backtest import BacktestResult
    from seqalpha.pipeline import evaluate_predictions
    from seqalpha.report.rundir import read_metrics
    from seqalpha.train.predictions import Predictions

    run_dir = Path(run_dir)
    for name in ("metrics.json", "predictions.parquet"):
        if not (run_dir / name).is_file():
            raise DataError(f"{run_dir}: no {name} (not a finished run directory)")
    metrics = read_metrics(run_dir / "metrics.json")
    pred_path = run_dir / "predictions.parquet"
    preds = Predictions.from_frame(_read_parquet(pred_path), str(pred_path))
    tables = {n: run_dir / f"{n}.parquet" for n in ("ic", "quantiles")}
    if all(p.is_file() for p in tables.values()):
        ic, quantiles = (_read_parquet(p) for p in tables.values())
    else:
        computed = evaluate_predictions(preds)
        ic, quantiles = computed["ic"], computed["quantiles"]
    parts = {n: run_dir / f"{n}.parquet" for n in ("returns", "positions", "trades")}
    backtest = None
    if all(p.is_file() for p in parts.values()):
        backtest = BacktestResult(**{n: _read_parquet(p) for n, p in parts.items()})
    baselines = {}
    base_dir = run_dir / "baselines"
    if base_dir.is_dir():
        for sub in sorted(base_dir.iterdir()):
            if (sub / "metrics.json").is_file():
                baselines[sub.name] = load_run(sub)
    return RunResult(run_dir, metrics, preds, ic, quantiles, backtest, baselines)


@contextlib.contextmanager
def _logging(verbose: bool, log_file: str | Path | None) -> Iterator[Callable[[str], None] | None]:
    if not verbose and log_file is None:
        yield None
        return
    from seqalpha.logs import configure_logging, get_logger

    with configure_logging(log_file, stream=sys.stderr, terminal=False, show=verbose):
        yield get_logger("pipeline").info


def run(
    config: ConfigSource,
    out: str | Path,
    stop_after: str = "report",
    sets: Sequence[str] = (),
    data_dir: str | Path | None = None,
    fresh: bool = False,
    verbose: bool = False,
    log_file: str | Path | None = None,
) -> RunResult:
    """Run a config into `out` as `seqalpha run` does (or `seqalpha train`: stop_after="train").

    Finished windows are resumed; baselines run into `out/baselines/<name>` after the main run
    (not when stopping after training). `verbose` prints stage, window and epoch lines on stderr;
    `log_file` writes them to a file. Returns the run's results, read from what it wrote.

    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> cfg = example_config(example_market(tmp / "market"))
    >>> res = run(cfg, tmp / "run", sets=["portfolio.topk=4", "portfolio.n_drop=1"])
    >>> sorted(res.backtest.returns.columns)[:3], "IC" in res.metrics["overall"]
    (['benchmark', 'cost', 'datetime'], True)
    >>> (tmp / "run" / "report.html").is_file()
    True
    """
    from seqalpha.pipeline import run_config

    if stop_after not in STAGES:
        raise ConfigError(f"stop_after: {stop_after!r} is not one of {STAGES}")
    stage: Literal["train", "report"] = "train" if stop_after == "train" else "report"
    out = Path(out).resolve()
    cfg = load_config(config, sets, data_dir)
    name = _raw(config)[2]
    with _logging(verbose, log_file) as say:
        run_config(cfg, out, stage, fresh, say, {"config": name, "sets": list(sets)})
        if stage == "report":
            for base in cfg.baselines:
                extra = _baseline_sets(sets, base)
                bcfg = _load_one(config, extra, data_dir)
                prov = {"config": name, "sets": extra}
                run_config(bcfg, out / "baselines" / base.name, stage, fresh, say, prov)
    return load_run(out)


# ------------------------------------------------------------------------------------ features


def features(
    data_dir: str | Path,
    exprs_or_library: str | Mapping[str, str] | Sequence[str],
    universe: str | Sequence[str] = "csi300",
    start: str | None = None,
    end: str | None = None,
    library: str | None = None,
    replace: bool = False,
) -> pl.DataFrame:
    """Features of universe members as a long table `datetime, instrument, <feature>...` (as
    `seqalpha features` writes, and like Qlib's `D.features`; `.to_pandas()` for pandas).

    `exprs_or_library`: a library name (`alpha158`, `alpha360`, `intraday`), a dict NAME ->
    Qlib expression, or a list of expressions (columns named by their text, as in Qlib).
    `universe`: a market file name under `instruments/`, or a list of codes (every day they
    have data). `library`: a library computed beside the expressions; `replace`: an expression
    may then redefine a library feature of the same name (in its place).

    >>> import tempfile, pathlib
    >>> market = example_market(pathlib.Path(tempfile.mkdtemp()) / "market")
    >>> df = features(market, ["$close/Ref($close,1)-1", "Mean($volume,5)"], "market",
    ...               "2020-03-02", "2020-03-31")
    >>> df.columns
    ['datetime', 'instrument', '$close/Ref($close,1)-1', 'Mean($volume,5)']
    >>> str(df["datetime"].min()), df["instrument"].n_unique() <= 20
    ('2020-03-02', True)
    >>> features(market, {"r": "Ref($close,-1)/$close"}, "market")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqalpha.errors.LeakageError: ...
    """
    from seqalpha.features.commands import features_command

    lib, exprs, names = _feature_request(exprs_or_library)
    if library is not None and lib is not None:
        raise ConfigError(f"library={library!r}: a library is already given ({lib!r})")
    library = lib if lib is not None else library
    with tempfile.TemporaryDirectory(prefix="seqalpha-features-") as tmp:
        codes = None
        if not isinstance(universe, str):
            codes = Path(tmp) / "instruments.txt"
            listed = [str(c).strip() for c in universe if str(c).strip()]
            if not listed:
                raise ConfigError("universe: an empty list of instruments")
            codes.write_text("\n".join(listed) + "\n")
        try:
            df = features_command(
                Path(data_dir),
                library,
                universe if isinstance(universe, str) else "all",
                start,
                end,
                codes,
                [f"{k}={v}" for k, v in exprs.items()],
                Path(tmp) / "features.parquet",
                replace=replace,
            )
        except SeqAlphaError as exc:  # name the argument, not the temporary file of codes
            text = str(exc).replace(f"--instruments {codes}:", "universe:")
            raise type(exc)(text) from None
    return df.rename(names) if names else df


def _feature_request(
    spec: str | Mapping[str, str] | Sequence[str],
) -> tuple[str | None, dict[str, str], dict[str, str]]:
    """(library, NAME -> expression, generated name -> expression text for a list)."""
    if isinstance(spec, str):
        return spec, {}, {}
    if isinstance(spec, Mapping):
        return None, {str(k): str(v) for k, v in spec.items()}, {}
    exprs = [str(e) for e in spec]
    if not exprs:
        raise ConfigError("exprs_or_library: an empty list of expressions")
    if len(set(exprs)) != len(exprs):
        raise ConfigError("exprs_or_library: an expression is listed twice")
    names = {f"f{i}": e for i, e in enumerate(exprs)}
    return None, dict(names), names


# ------------------------------------------------------------------------------------- figures


def plot_cumulative_ic(result: RunResult) -> go.Figure:
    """Cumulative daily IC and Rank IC of a run's test predictions (a plotly figure).

    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> res = run(example_config(example_market(tmp / "m")), tmp / "run", stop_after="train")
    >>> [t.name for t in plot_cumulative_ic(res).data]
    ['IC', 'Rank IC']
    """
    from seqalpha.report.figures import cumulative_ic_figure

    ic = result.ic
    dates = ic["datetime"].to_numpy().astype("datetime64[D]")
    return cumulative_ic_figure(
        dates,
        ic["ic"].to_numpy(),
        ic["rank_ic"].to_numpy(),
        f"Cumulative IC: {result.run_dir.name}",
    )


def plot_cumulative_excess(result: RunResult) -> go.Figure:
    """Cumulative daily excess return (with and without costs) and the benchmark's.

    A run stopped after training has no backtest: a DataError says so."""
    from seqalpha.report.figures import cumulative_excess_figure

    if result.backtest is None:
        raise DataError(f"{result.run_dir}: no backtest (the run stopped after training)")
    r = result.backtest.returns
    return cumulative_excess_figure(
        r["datetime"].to_numpy().astype("datetime64[D]"),
        r["excess"].to_numpy(),
        r["excess_nc"].to_numpy(),
        r["benchmark"].to_numpy(),
        f"Cumulative excess return: {result.run_dir.name}",
    )


def plot_quantile_returns(result: RunResult) -> go.Figure:
    """Cumulative mean label of each score quantile (q1 = lowest) and of q_top - q1."""
    from seqalpha.report.figures import quantile_returns_figure
    from seqalpha.report.rundir import quantile_columns

    q = result.quantiles
    cols = quantile_columns(q)
    return quantile_returns_figure(
        q["datetime"].to_numpy().astype("datetime64[D]"),
        np.column_stack([q[c].to_numpy() for c in cols]) if cols else np.empty((q.height, 0)),
        f"Quantile returns: {result.run_dir.name}",
    )


# ------------------------------------------------------------------------------------ examples


def example_market(out: str | Path, n_stocks: int = 20, n_days: int = 120, seed: int = 0) -> Path:
    """A tiny synthetic market (Qlib store, 30-minute bars, planted signals) in `out`, generated
    unless it is there already; market `market`, benchmark `SYN_INDEX`."""
    from seqalpha.data.synthetic import SynthConfig, generate_market

    out = Path(out)
    if (out / "meta.json").is_file():
        return out
    return generate_market(
        out, SynthConfig(n_stocks=n_stocks, n_days=n_days, bar_minutes=30, seed=seed)
    )


def example_config(market: str | Path) -> dict[str, Any]:
    """A small config (dict) for a synthetic market: three price features, a linear model on
    the market's train/valid/test split, a top-5 portfolio, no MLflow.

    >>> import tempfile, pathlib
    >>> cfg = example_config(example_market(pathlib.Path(tempfile.mkdtemp()) / "market"))
    >>> sorted(cfg["features"]["extra"]), cfg["model"]
    (['ret1', 'rev5', 'vol10'], {'name': 'linear'})
    """
    market = Path(market)
    try:
        split = json.loads((market / "meta.json").read_text())["split"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{market}/meta.json: not a synthetic market ({exc})") from None
    return {
        "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
        "features": {
            "library": "none",
            "extra": {
                "rev5": "-($close/Ref($close,5)-1)",
                "ret1": "$close/Ref($close,1)-1",
                "vol10": "Std($close/Ref($close,1)-1, 10)",
            },
        },
        "labels": {"horizons": [1], "offset": 1},
        "processors": {
            "features": [{"name": "cs_zscore"}, {"name": "fillna"}],
            "labels": [{"name": "drop_missing_label"}, {"name": "cs_zscore"}],
        },
        "model": {"name": "linear"},
        "walkforward": {"schedule": "fixed", **{k: split[k] for k in ("train", "valid", "test")}},
        "portfolio": {"strategy": "topk_dropout", "topk": 5, "n_drop": 1},
        "tracking": {"enabled": False},
    }


__all__ = [
    "RunResult",
    "example_config",
    "example_market",
    "features",
    "load_config",
    "load_run",
    "plot_cumulative_excess",
    "plot_cumulative_ic",
    "plot_quantile_returns",
    "run",
]
