"""`cs_rank` against pyqlib 0.9.7's own CSRankNorm output on the reference sample.

pyqlib runs in its own venv (benchmarks/qlib_venv.sh, or SEQALPHA_QLIB_PYTHON); the test skips
when the venv or the reference sample is absent. Both sides rank the same frame: the Alpha158
reference features and label of ~30 instruments a day (ties and missing values included).
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha.features.processors import make_processor

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["KMID", "KLEN", "OPEN0", "ROC5", "MA20", "STD20", "RSV5", "VMA5", "CNTP10", "LABEL0"]


def qlib_python() -> Path:
    return Path(os.environ.get("SEQALPHA_QLIB_PYTHON", ROOT / "benchmarks/.qlib-venv/bin/python"))


def test_cs_rank_matches_pyqlib_csranknorm(reference_dir: Path, tmp_path: Path) -> None:
    python = qlib_python()
    if not python.exists():
        pytest.skip(f"no pyqlib venv at {python} (create it with benchmarks/qlib_venv.sh)")
    frame = pd.read_parquet(reference_dir / "qlib_alpha158_sample.parquet")[COLUMNS]
    frame.to_parquet(tmp_path / "in.parquet")
    script = textwrap.dedent(
        f"""
        import pandas as pd
        from qlib.data.dataset.processor import CSRankNorm
        df = pd.read_parquet({str(tmp_path / "in.parquet")!r})
        CSRankNorm()(df).to_parquet({str(tmp_path / "out.parquet")!r})
        """
    )
    done = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ref = pd.read_parquet(tmp_path / "out.parquet")

    # the same long frame on seqalpha's [T, N, F] grid; the universe = the rows of the frame
    dates = frame.index.get_level_values("datetime")
    codes = frame.index.get_level_values("instrument")
    ti, t_axis = pd.factorize(dates, sort=True)
    ni, n_axis = pd.factorize(codes, sort=True)
    x = np.full((len(t_axis), len(n_axis), len(COLUMNS)), np.nan, dtype=np.float32)
    x[ti, ni] = frame.to_numpy(np.float32)
    universe = np.zeros(x.shape[:2], dtype=bool)
    universe[ti, ni] = True
    got = make_processor("cs_rank").transform(x, universe)[ti, ni]

    want = ref[COLUMNS].to_numpy(np.float64)
    assert np.array_equal(np.isnan(got), np.isnan(want))  # NaN stays NaN, nothing else is
    has = ~np.isnan(want)
    assert has.sum() > 0.9 * want.size  # not vacuous
    np.testing.assert_allclose(got[has], want[has], atol=1e-5)
    # ties exist in this sample (CNTP10 is a count), so the average-rank rule is exercised
    assert frame.groupby(level="datetime")["CNTP10"].apply(lambda s: s.duplicated().any()).any()
