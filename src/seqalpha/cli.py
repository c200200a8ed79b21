"""The `seqalpha` command. Each command is a thin shell over a function of its stage module."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from seqalpha.errors import SeqAlphaError

app = typer.Typer(help="seqalpha: from market data to a trained, validated, backtested alpha.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Data stores: inspect, synthesize, ingest.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console(stderr=True)


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@data_app.command("info")
def data_info(data_dir: Path = typer.Argument(..., help="A Qlib-format data directory.")) -> None:
    """Calendar span, instrument counts by market, fields, and missing-file warnings."""
    from seqalpha.data.info import print_store_info

    try:
        print_store_info(data_dir)
    except SeqAlphaError as exc:
        _fail(exc)


@data_app.command("ingest-daily")
def data_ingest_daily(
    src: List[Path] = typer.Argument(..., help="CSV or Parquet files of long daily bars."),
    out: Path = typer.Option(..., "--out", help="Output Qlib store directory."),
    on_bad: str = typer.Option("raise", "--on-bad", help="raise | drop (bad rows counted)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
) -> None:
    """Ingest long daily bars (date, instrument, OHLCV[, amount, vwap, factor]) into a Qlib store."""
    from seqalpha.data.ingest import ingest_daily

    try:
        report = ingest_daily(src, out, on_bad=on_bad, overwrite=overwrite)
    except SeqAlphaError as exc:
        _fail(exc)
    typer.echo(report.summary())


@app.command("train")
def train(
    config: Path = typer.Argument(..., help="A pipeline config YAML."),
    out: Path = typer.Option(..., "--out", help="Run directory (re-running resumes it)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Override data.dir."),
    set_: List[str] = typer.Option([], "--set", help="Override: key.path=value (YAML value)."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard windows of a different config."),
) -> None:
    """Walk-forward training: RUN_DIR/windows/*, predictions.parquet, metrics.json, config.yaml."""
    from seqalpha.train.commands import train_command

    try:
        train_command(config, out, data_dir, set_, fresh, log=console.print)
    except SeqAlphaError as exc:
        _fail(exc)


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
