"""Qlib round trip: Qlib-shaped predictions -> run directory -> report/compare -> pred.pkl."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.errors import ConfigError, DataError
from seqalpha.report.compare import load_runs, paired_ic_table
from seqalpha.report.html import write_report
from seqalpha.report.qlib_interop import export_qlib_pred, import_qlib_pred
from seqalpha.report.rundir import load_run

ROOT = Path(__file__).resolve().parents[2]
INSTRUMENTS = ["SH600000", "SH600004", "SH600009", "SZ000001", "SZ000002"]


def qlib_pred(n_days: int = 6, seed: int = 0) -> pd.DataFrame:
    """Qlib's pred.pkl shape: MultiIndex (datetime Timestamp, instrument), `score`, and `label`."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2021-12-28", periods=n_days)
    index = pd.MultiIndex.from_product([days, INSTRUMENTS], names=["datetime", "instrument"])
    label = rng.normal(0, 0.02, len(index))
    score = label + rng.normal(0, 0.02, len(index))
    return pd.DataFrame({"score": score, "label": label}, index=index)


@pytest.fixture
def pred_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "pred.parquet"
    qlib_pred().to_parquet(path)
    return path


def test_parquet_round_trip_keeps_scores_exactly(pred_parquet: Path, tmp_path: Path) -> None:
    run = tmp_path / "imported"
    metrics = import_qlib_pred(pred_parquet, run)
    assert metrics["n_predictions"] == 30 and metrics["has_label"]
    assert (metrics["test_start"], metrics["test_end"]) == ("2021-12-28", "2022-01-04")
    loaded = load_run(run)  # what `seqalpha report` and `compare` read
    assert loaded.predictions.columns == ["datetime", "instrument", "score", "label"]
    assert write_report(run).is_file()

    for name in ("back.parquet", "back.pkl"):
        export_qlib_pred(run, tmp_path / name)
        back = (pd.read_parquet if name.endswith("parquet") else pd.read_pickle)(tmp_path / name)
        source = qlib_pred()[["score"]]
        assert list(back.index.names) == ["datetime", "instrument"]
        assert list(back.columns) == ["score"]
        assert back.index.get_level_values("datetime").dtype == "datetime64[ns]"
        assert list(back.index) == list(source.index)
        np.testing.assert_array_equal(back["score"].to_numpy(), source["score"].to_numpy())


def test_metrics_are_the_pipeline_signal_metrics(tmp_path: Path) -> None:
    """A score equal to the label has IC 1 on every day (as `seqalpha train` would report)."""
    frame = qlib_pred()
    frame["score"] = frame["label"]
    frame.to_parquet(tmp_path / "perfect.parquet")
    metrics = import_qlib_pred(tmp_path / "perfect.parquet", tmp_path / "run")
    assert metrics["ic"] == pytest.approx(1.0) and metrics["rank_ic"] == pytest.approx(1.0)
    assert metrics["n_days"] == 6 and set(metrics["by_year"]) == {"2021", "2022"}
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["ic"] == pytest.approx(1.0)


def test_csv_without_label_gives_a_signal_only_run(tmp_path: Path) -> None:
    csv = tmp_path / "pred.csv"
    qlib_pred()[["score"]].reset_index().to_csv(csv, index=False)
    metrics = import_qlib_pred(csv, tmp_path / "run")
    assert not metrics["has_label"] and "ic" not in metrics
    preds = load_run(tmp_path / "run").predictions
    assert preds.height == 30 and preds["label"].is_nan().all()


def test_csv_codes_keep_leading_zeros(tmp_path: Path) -> None:
    csv = tmp_path / "pred.csv"
    csv.write_text("datetime,instrument,score\n2022-01-04,000001,0.5\n2022-01-04,600000,0.1\n")
    import_qlib_pred(csv, tmp_path / "run")
    codes = load_run(tmp_path / "run").predictions["instrument"].to_list()
    assert codes == ["000001", "600000"]


def test_qlib_label_pkl_is_joined(tmp_path: Path) -> None:
    """Qlib's recorder keeps pred.pkl (score) and label.pkl (LABEL0) apart: --label joins them."""
    frame = qlib_pred()
    frame[["score"]].to_pickle(tmp_path / "pred.pkl")
    label = frame[["label"]].rename(columns={"label": "LABEL0"}).iloc[5:]  # first day unlabelled
    label.to_pickle(tmp_path / "label.pkl")
    seen: list[str] = []
    metrics = import_qlib_pred(
        tmp_path / "pred.pkl",
        tmp_path / "run",
        allow_pickle=True,
        warn=seen.append,
        label=tmp_path / "label.pkl",
    )
    assert len(seen) == 2 and all("arbitrary code" in m for m in seen)
    assert metrics["has_label"] and metrics["n_days"] == 5
    preds = load_run(tmp_path / "run").predictions
    assert preds["label"].is_nan().sum() == 5
    np.testing.assert_array_equal(preds["label"].to_numpy()[5:], label["LABEL0"].to_numpy())
    with pytest.raises(ConfigError, match="'label' column already"):
        qlib_pred().to_parquet(tmp_path / "both.parquet")
        import_qlib_pred(tmp_path / "both.parquet", tmp_path / "r2", label=tmp_path / "x.parquet")


def test_imported_runs_can_be_compared(tmp_path: Path) -> None:
    for seed in (0, 1):
        qlib_pred(seed=seed).to_parquet(tmp_path / f"p{seed}.parquet")
        import_qlib_pred(tmp_path / f"p{seed}.parquet", tmp_path / f"run{seed}")
    pairs = paired_ic_table(load_runs([tmp_path / "run0", tmp_path / "run1"]))
    assert pairs.filter(pl.col("period") == "overall")["n_days"].to_list() == [6, 6]


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "bad.parquet") -> Path:
    path = tmp_path / name
    frame.to_parquet(path) if name.endswith("parquet") else frame.to_csv(path, index=False)
    return path


def _flat() -> pd.DataFrame:
    return qlib_pred().reset_index()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: pd.concat([_flat(), _flat().iloc[:1]]), "share a (datetime, instrument) pair"),
        (lambda: _flat().assign(score=np.where(np.arange(30) == 3, np.nan, 1.0)), "'score'"),
        (lambda: _flat().assign(score="high"), "column 'score' has type"),
        (lambda: _flat().assign(label=np.inf), "column 'label' has 30 infinite"),
        (lambda: _flat().drop(columns="instrument"), "missing column(s) ['instrument']"),
        (
            lambda: _flat().assign(datetime=_flat()["datetime"] + pd.Timedelta("9h30min")),
            "times of day",
        ),
        (lambda: _flat().assign(datetime="2021-13-45"), "does not parse as dates"),
    ],
)
def test_bad_predictions_are_one_line_errors_naming_file_and_column(
    tmp_path: Path, make, message: str
) -> None:
    path = _write(tmp_path, make())
    with pytest.raises(DataError) as info:
        import_qlib_pred(path, tmp_path / "run")
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text
    assert not (tmp_path / "run").exists()  # nothing written for bad input


def test_existing_run_dir_needs_overwrite(pred_parquet: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "returns.parquet").write_text("stale backtest of another signal")
    with pytest.raises(ConfigError, match="--overwrite"):
        import_qlib_pred(pred_parquet, run)
    import_qlib_pred(pred_parquet, run, overwrite=True)
    assert not (run / "returns.parquet").exists()  # a stale artifact would contradict the import
    assert (run / "predictions.parquet").is_file()


def test_pickle_needs_the_flag_and_warns(tmp_path: Path) -> None:
    pkl = tmp_path / "pred.pkl"
    qlib_pred()[["score"]].to_pickle(pkl)
    runner = CliRunner()
    refused = runner.invoke(app, ["import-qlib-pred", str(pkl), "--out", str(tmp_path / "r1")])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error:") and "--allow-pickle" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r1").exists()

    accepted = runner.invoke(
        app, ["import-qlib-pred", str(pkl), "--out", str(tmp_path / "r2"), "--allow-pickle"]
    )
    assert accepted.exit_code == 0, accepted.output
    assert "warning:" in accepted.stderr and "execute arbitrary code" in accepted.stderr
    assert "30 predictions" in accepted.stdout
    assert load_run(tmp_path / "r2").predictions.height == 30


def test_cli_export_and_bad_suffix(pred_parquet: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["import-qlib-pred", str(pred_parquet), "--out", str(tmp_path / "r")]
        ).exit_code
        == 0
    )
    ok = runner.invoke(
        app, ["export-qlib-pred", str(tmp_path / "r"), "--out", str(tmp_path / "p.pkl")]
    )
    assert ok.exit_code == 0 and (tmp_path / "p.pkl").is_file()
    bad = runner.invoke(
        app, ["export-qlib-pred", str(tmp_path / "r"), "--out", str(tmp_path / "p.txt")]
    )
    assert bad.exit_code == 2 and "p.txt" in bad.stderr
    missing = runner.invoke(
        app, ["export-qlib-pred", str(tmp_path), "--out", str(tmp_path / "q.pkl")]
    )
    assert missing.exit_code == 2 and "predictions.parquet" in missing.stderr


def qlib_python() -> Path:
    """The pyqlib venv of the benchmarks (benchmarks/qlib_venv.sh), or SEQALPHA_QLIB_PYTHON."""
    return Path(os.environ.get("SEQALPHA_QLIB_PYTHON", ROOT / "benchmarks/.qlib-venv/bin/python"))


def test_export_loads_in_qlib_and_its_ic_matches(pred_parquet: Path, tmp_path: Path) -> None:
    """Qlib's own `calc_ic` on the exported pred.pkl/label.pkl gives seqalpha's daily IC."""
    python = qlib_python()
    if not python.exists():
        pytest.skip(f"no pyqlib venv at {python} (create it with benchmarks/qlib_venv.sh)")
    metrics = import_qlib_pred(pred_parquet, tmp_path / "run")
    export_qlib_pred(tmp_path / "run", tmp_path / "pred.pkl", label_out=tmp_path / "label.pkl")
    script = textwrap.dedent(
        f"""
        import pandas as pd
        from qlib.contrib.eva.alpha import calc_ic
        pred = pd.read_pickle({str(tmp_path / "pred.pkl")!r})
        label = pd.read_pickle({str(tmp_path / "label.pkl")!r})
        assert list(pred.index.names) == ["datetime", "instrument"], pred.index.names
        assert list(pred.columns) == ["score"], pred.columns
        assert isinstance(pred.index.get_level_values("datetime")[0], pd.Timestamp)
        assert pred.index.get_level_values("instrument")[0] == "SH600000"
        ic, ric = calc_ic(pred.iloc[:, 0], label.iloc[:, 0])
        print(len(pred), ic.mean(), ric.mean())
        """
    )
    done = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    n, ic, ric = done.stdout.split()[-3:]
    assert int(n) == 30
    assert float(ic) == pytest.approx(metrics["ic"], abs=1e-6)
    assert float(ric) == pytest.approx(metrics["rank_ic"], abs=1e-6)
