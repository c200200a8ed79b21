"""The `seqalpha` command. Each command is a thin shell over a function of its stage module."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from seqalpha.errors import SeqAlphaError

app = typer.Typer(
    help="seqalpha: from market data to a trained, validated, backtested alpha.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Data stores: inspect, synthesize, ingest.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console(stderr=True)


def _logging(log_file: Path | None):
    """Progress and stage lines of the `seqalpha` logger: bare on a terminal (rich bars show the
    epochs), timestamped in a batch job (stderr not a terminal), and all of them in `log_file`."""
    from seqalpha.logs import configure_logging

    def echo(line: str) -> None:
        console.print(line, markup=False, soft_wrap=True)

    return configure_logging(log_file, terminal=console.is_terminal, echo=echo)


def _say(message: str) -> None:
    """The orchestrator's messages, as lines of the `seqalpha.pipeline` logger."""
    from seqalpha.logs import get_logger

    get_logger("pipeline").info(message)


_LOG_FILE_OPT = typer.Option(
    None, "--log-file", help="Also write progress lines (stages, windows, epochs) to this file."
)


def _fail(exc: Exception) -> None:
    """Print `error: <message>` on ONE line of stderr (no wrapping, no markup) and exit 2."""
    from rich.markup import escape

    text = escape(" ".join(str(exc).splitlines()))
    console.print(f"[bold red]error:[/] {text}", soft_wrap=True, highlight=False)
    raise typer.Exit(code=2)


@data_app.command("info")
def data_info(data_dir: Path = typer.Argument(..., help="A Qlib-format data directory.")) -> None:
    """Calendar span, instrument counts by market, fields, and every problem found, counted."""
    from seqalpha.data.info import print_store_info

    try:
        print_store_info(data_dir)
    except SeqAlphaError as exc:
        _fail(exc)


@data_app.command("check")
def data_check(data_dir: Path = typer.Argument(..., help="A Qlib-format data directory.")) -> None:
    """Validate a store: one line per problem class with counts; exit 1 on errors, 2 if unusable."""
    from seqalpha.data.info import print_check

    try:
        code = print_check(data_dir)
    except SeqAlphaError as exc:
        _fail(exc)
    raise typer.Exit(code=code)


@data_app.command("ingest-daily")
def data_ingest_daily(
    src: list[Path] = typer.Argument(..., help="CSV or Parquet files of long daily bars."),
    out: Path = typer.Option(..., "--out", help="Output Qlib store directory."),
    on_bad: str = typer.Option("raise", "--on-bad", help="raise | drop (bad rows counted)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
    date_format: str | None = typer.Option(
        None, "--date-format", help="strptime format of non-ISO dates, e.g. %m/%d/%Y."
    ),
) -> None:
    """Ingest long daily bars (date, instrument, OHLCV[, amount, vwap, factor]) as a Qlib store."""
    from seqalpha.data.ingest import ingest_daily

    try:
        report = ingest_daily(
            src,
            out,
            on_bad=on_bad,  # type: ignore[arg-type]  # typer gives str; ingest_daily checks it
            overwrite=overwrite,
            date_format=date_format,
        )
    except SeqAlphaError as exc:
        _fail(exc)
    typer.echo(report.summary())


def _synthesize(out: Path, cfg, overwrite: bool = False) -> None:
    """Generate a synthetic market with a rich progress bar over chunks of days."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from seqalpha.data.synthetic import generate_market

    with Progress(
        TextColumn("[bold]synth[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} days"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(f"{cfg.n_stocks} stocks -> {out}", total=cfg.n_days)
        generate_market(
            out,
            cfg,
            progress=lambda done, total: bar.update(task, completed=done),
            overwrite=overwrite,
        )


@data_app.command("synth")
def data_synth(
    out: Path = typer.Argument(
        ..., help="Output directory (Qlib store + minute/ + oracle.parquet)."
    ),
    seed: int = typer.Option(0, "--seed"),
    n_stocks: int = typer.Option(300, "--n-stocks"),
    n_days: int = typer.Option(750, "--n-days"),
    bar_minutes: int = typer.Option(
        1, "--bar-minutes", help="Minute-bar length (1 -> 240 bars/day)."
    ),
    start: str = typer.Option("2020-01-02", "--start", help="First trading date."),
    chunk_days: int = typer.Option(50, "--chunk-days"),
    minute_days: int | None = typer.Option(
        None, "--minute-days", help="Write minute bars of the last k days only (default: all)."
    ),
    strength: list[str] = typer.Option(
        [], "--strength", help="Signal strength name=value (0 = off)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing market."),
) -> None:
    """Synthesize a market with planted signals (reversal interaction intraday regime leadlag)."""
    from seqalpha.data.synthetic import DEFAULT_STRENGTHS, SynthConfig, check_market_dir
    from seqalpha.errors import ConfigError

    try:
        check_market_dir(out, overwrite)
        strengths = dict(DEFAULT_STRENGTHS)
        for item in strength:
            name, sep, value = item.partition("=")
            try:
                strengths[name.strip()] = float(value) if sep else float("nan")
            except ValueError:
                raise ConfigError(f"--strength {item!r}: expected name=number") from None
        cfg = SynthConfig(
            n_stocks=n_stocks,
            n_days=n_days,
            start=start,
            seed=seed,
            bar_minutes=bar_minutes,
            chunk_days=chunk_days,
            minute_days=minute_days,
            strengths=strengths,
        )
        _synthesize(out, cfg, overwrite)
    except SeqAlphaError as exc:
        _fail(exc)
    typer.echo(f"synthetic market written to {out}")


@data_app.command("ingest-minute")
def data_ingest_minute(
    src: list[Path] = typer.Argument(
        ..., help="CSV or Parquet files of minute bars (datetime = bar end)."
    ),
    out: Path = typer.Option(..., "--out", help="Output directory (date=YYYY-MM-DD partitions)."),
    on_bad: str = typer.Option("raise", "--on-bad", help="raise | drop (bad rows counted)."),
    session: str = typer.Option("09:30-11:30,13:00-15:00", "--session", help="Trading sessions."),
    bar_minutes: int | None = typer.Option(None, "--bar-minutes", help="Expected bar length."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing directory."),
    merge: bool = typer.Option(False, "--merge", help="Merge into an existing directory."),
    datetime_format: str | None = typer.Option(
        None, "--datetime-format", help="strptime format of non-ISO datetimes."
    ),
) -> None:
    """Validate minute bars and write them as date-partitioned zstd Parquet."""
    from seqalpha.data.minute import Session, ingest_minute

    try:
        report = ingest_minute(
            src,
            out,
            Session.parse(session),
            on_bad=on_bad,  # type: ignore[arg-type]
            bar_minutes=bar_minutes,
            overwrite=overwrite,
            merge=merge,
            datetime_format=datetime_format,
        )
    except SeqAlphaError as exc:
        _fail(exc)
    typer.echo(report.summary())


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Demo directory (market/ and run/)."),
    market_only: bool = typer.Option(
        False, "--market-only", help="Only synthesize the market and summarize it."
    ),
    log_file: Path | None = _LOG_FILE_OPT,
) -> None:
    """The whole pipeline on the built-in synthetic market: an intraday GRU against an lgbm
    baseline (examples/demo_synthetic.yaml), then the metrics table and the report's path."""
    from rich.console import Console as _Console

    from seqalpha.data.synthetic import SynthConfig

    try:
        if market_only:
            _synthesize(
                out / "market",
                SynthConfig(n_stocks=300, n_days=750, bar_minutes=30, seed=0),
                overwrite=True,
            )
            from seqalpha.data.info import print_store_info

            print_store_info(out / "market")
            return
        from seqalpha.pipeline import run_demo, summary_table, year_table

        with _logging(log_file):
            results = run_demo(out, log=_say)
        stdout = _Console(width=None if sys.stdout.isatty() else 150)
        stdout.print(summary_table(results, "seqalpha demo: test period, overall"))
        stdout.print(year_table(results["main"], "intraday GRU by year"))
        stdout.print(f"report: {(out / 'run' / 'report.html').resolve()}")
        for name in results:
            if name != "main":
                stdout.print(
                    f"baseline report ({name}): "
                    f"{(out / 'run' / 'baselines' / name / 'report.html').resolve()}"
                )
    except SeqAlphaError as exc:
        _fail(exc)


# Options shared by `run` and `train` (typer reads them from the defaults).
_CONFIG_ARG = typer.Argument(..., help="A pipeline config YAML.")
_OUT_OPT = typer.Option(..., "--out", help="Run directory (re-running resumes it).")
_DATA_DIR_OPT = typer.Option(None, "--data-dir", help="Override data.dir.")
_SET_OPT = typer.Option([], "--set", help="Override: key.path=value (YAML value).")
_FRESH_OPT = typer.Option(False, "--fresh", help="Discard windows of a different config.")


@app.command("run")
def run(
    config: Path = _CONFIG_ARG,
    out: Path = _OUT_OPT,
    data_dir: Path | None = _DATA_DIR_OPT,
    set_: list[str] = _SET_OPT,
    fresh: bool = _FRESH_OPT,
    log_file: Path | None = _LOG_FILE_OPT,
) -> None:
    """The whole pipeline: features, labels, walk-forward, evaluation, backtest, report, MLflow."""
    from rich.console import Console as _Console

    from seqalpha.pipeline import run_pipeline, summary_table, year_table

    try:
        with _logging(log_file):
            results = run_pipeline(config, out, data_dir, set_, fresh, log=_say)
    except SeqAlphaError as exc:
        _fail(exc)
    stdout = _Console(width=None if sys.stdout.isatty() else 150)
    stdout.print(summary_table(results, f"seqalpha run {config}"))
    stdout.print(year_table(results["main"], "by year"))
    stdout.print(f"report: {(out / 'report.html').resolve()}")


@app.command("train")
def train(
    config: Path = _CONFIG_ARG,
    out: Path = _OUT_OPT,
    data_dir: Path | None = _DATA_DIR_OPT,
    set_: list[str] = _SET_OPT,
    fresh: bool = _FRESH_OPT,
    log_file: Path | None = _LOG_FILE_OPT,
) -> None:
    """Walk-forward training: RUN_DIR/windows/*, predictions.parquet, metrics.json, config.yaml."""
    from seqalpha.pipeline import train_command

    try:
        with _logging(log_file):
            train_command(config, out, data_dir, set_, fresh, log=_say)
    except SeqAlphaError as exc:
        _fail(exc)


@app.command("features")
def features(
    data_dir: Path = typer.Argument(
        ..., help="A Qlib-format data directory (minute bars for intraday)."
    ),
    library: str | None = typer.Option(None, "--library", help="alpha158 | alpha360 | intraday."),
    universe: str = typer.Option("csi300", "--universe", help="Market file under instruments/."),
    start: str | None = typer.Option(None, "--start", help="First output date (YYYY-MM-DD)."),
    end: str | None = typer.Option(None, "--end", help="Last output date (YYYY-MM-DD)."),
    instruments: Path | None = typer.Option(
        None, "--instruments", help="File of codes (replaces --universe)."
    ),
    expr: list[str] = typer.Option(
        [], "--expr", help="Extra feature NAME=EXPR (Qlib syntax); repeatable."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Output Parquet: datetime, instrument, one column per feature."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="An --expr may redefine a library feature of the same name."
    ),
    store: bool = typer.Option(
        False, "--store", help="Write an on-disk feature store directory at --out (out of core)."
    ),
) -> None:
    """Compute a factor library and/or expressions for universe members into a long Parquet."""
    from rich.progress import Progress

    from seqalpha.features.commands import features_command

    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("features", total=None)
            df = features_command(
                data_dir,
                library,
                universe,
                start,
                end,
                instruments,
                expr,
                out,
                progress=lambda i, n: bar.update(task, completed=i, total=n),
                log=console.print,
                replace=replace,
                to_store=store,
            )
        if store:
            console.print(f"wrote the feature store {out} ({df.height} features)")
        else:
            console.print(f"wrote {df.height} rows x {df.width - 2} features to {out}")
    except SeqAlphaError as exc:
        _fail(exc)


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="A run directory (metrics.json, returns...)."),
) -> None:
    """Write the self-contained RUN_DIR/report.html (plotly inlined) and print its path."""
    from seqalpha.report.html import write_report

    try:
        typer.echo(str(write_report(run_dir)))
    except SeqAlphaError as exc:
        _fail(exc)


@app.command("explain")
def explain(
    run_dir: Path = typer.Argument(..., help="A run directory of an LRP-explainable model."),
    seed: list[int] = typer.Option([], "--seed", help="Explain only this seed (repeatable)."),
    data_dir: Path | None = _DATA_DIR_OPT,
    log_file: Path | None = _LOG_FILE_OPT,
) -> None:
    """LRP relevance of every feature for every test prediction (deep_factor):
    RUN_DIR/attributions.parquet; an existing report.html is rewritten with its charts."""
    from seqalpha.registries import load_checked_config
    from seqalpha.report.explain import explain_run
    from seqalpha.report.html import write_report

    try:
        with _logging(log_file):
            cfg = load_checked_config(run_dir / "config.yaml", data_dir=data_dir)
            path = explain_run(cfg, run_dir, seeds=seed or None, log=_say)
            if (run_dir / "report.html").is_file():
                write_report(run_dir)
    except SeqAlphaError as exc:
        _fail(exc)
    typer.echo(str(path))


@app.command("compare")
def compare(
    run_dirs: list[Path] = typer.Argument(..., help="Two or more run directories."),
    out: Path = typer.Option(Path("compare.html"), "--out", help="HTML page to write."),
) -> None:
    """Runs side by side: metrics by year and overall, paired daily IC differences (SE, t) on
    shared test days, and an HTML page with overlaid cumulative excess and IC curves."""
    import polars as pl
    from rich.console import Console as _Console
    from rich.table import Table

    from seqalpha.report.compare import comparison_table, paired_ic_table, write_compare
    from seqalpha.report.html import format_metric

    try:
        path, runs = write_compare(run_dirs, out)
        tables = [
            ("metrics by year and overall", comparison_table(runs)),
            ("paired daily IC difference a - b on shared days", paired_ic_table(runs)),
        ]
    except SeqAlphaError as exc:
        _fail(exc)
    stdout = _Console(width=None if sys.stdout.isatty() else 200)
    for title, frame in tables:
        table = Table(title=title)
        for col in frame.columns:
            table.add_column(col, justify="left" if frame[col].dtype == pl.Utf8 else "right")
        for row in frame.iter_rows(named=True):
            table.add_row(
                *(v if isinstance(v, str) else format_metric(k, v) for k, v in row.items())
            )
        stdout.print(table)
    stdout.print(f"compare page: {path.resolve()}")


@app.command("import-qlib-pred")
def import_qlib_pred(
    src: Path = typer.Argument(..., help="Qlib predictions: .parquet or .csv (.pkl needs a flag)."),
    out: Path = typer.Option(..., "--out", help="A new (or empty) run directory."),
    allow_pickle: bool = typer.Option(
        False, "--allow-pickle", help="Read a pandas pickle (can execute code: trusted files only)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty run directory."),
    label: Path | None = typer.Option(
        None, "--label", help="A separate label file (Qlib's label.pkl, or .parquet/.csv)."
    ),
) -> None:
    """Qlib predictions (datetime, instrument, score[, label]) -> a run directory for `report`
    and `compare`."""
    from rich.markup import escape

    from seqalpha.report.qlib_interop import import_qlib_pred as _import

    def warn(message: str) -> None:
        console.print(f"[bold yellow]warning:[/] {escape(message)}", soft_wrap=True)

    try:
        metrics = _import(
            src, out, allow_pickle=allow_pickle, overwrite=overwrite, warn=warn, label=label
        )
    except SeqAlphaError as exc:
        _fail(exc)
    line = f"{metrics['n_predictions']} predictions {metrics['test_start']}..{metrics['test_end']}"
    if metrics["has_label"]:
        line += f", IC {metrics['ic']:.4f}, Rank IC {metrics['rank_ic']:.4f}"
    typer.echo(f"{line} -> {out}")


@app.command("export-qlib-pred")
def export_qlib_pred(
    run_dir: Path = typer.Argument(..., help="A run directory with predictions.parquet."),
    out: Path = typer.Option(..., "--out", help="pred.pkl or pred.parquet (Qlib's shape)."),
    label_out: Path | None = typer.Option(
        None, "--label-out", help="Also write the label as Qlib's label.pkl (column LABEL0)."
    ),
) -> None:
    """RUN_DIR's predictions as Qlib's pred.pkl: MultiIndex (datetime, instrument), `score`."""
    from seqalpha.report.qlib_interop import export_qlib_pred as _export

    try:
        pred = _export(run_dir, out, label_out)
    except SeqAlphaError as exc:
        _fail(exc)
    typer.echo(f"{len(pred)} predictions -> {out}")


config_app = typer.Typer(help="Pipeline config: JSON schema.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("schema")
def config_schema(
    out: Path | None = typer.Option(None, "--out", help="Write to FILE (default: stdout)."),
) -> None:
    """The JSON schema of a pipeline config (for editor completion and checking of YAML keys)."""
    from seqalpha.config.json_schema import config_schema_json
    from seqalpha.errors import ConfigError

    text = config_schema_json()
    if out is None:
        typer.echo(text)
        return
    from seqalpha.jsonio import write_text_atomic

    try:
        write_text_atomic(out, text + "\n")
    except OSError as exc:
        _fail(ConfigError(f"--out {out}: cannot write: {exc.strerror or exc}"))
    typer.echo(f"config schema -> {out}")


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
