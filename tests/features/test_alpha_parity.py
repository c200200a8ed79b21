"""Alpha158 / Alpha360 against pyqlib 0.9.7's values on the real CSI300 store (shared/reference).

Qlib computed each instrument on its own series; features at 2021-01-04 use history before it,
so the panel is loaded from the calendar start and the sample dates are sliced afterwards.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from seqalpha.data.qlib_bin import load_panel
from seqalpha.features import alpha158_expressions, alpha360_expressions, evaluate
from seqalpha.features.alpha158 import ALPHA158_LABEL

LIBS = {"alpha158": alpha158_expressions, "alpha360": alpha360_expressions}


def _failure_table(ref: pd.DataFrame, got: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for c in ref.columns:
        q = ref[c].to_numpy(np.float64)
        s = got[c].astype(np.float64)
        has = ~np.isnan(q)
        bad = has & ~(np.abs(s - q) <= 1e-4 * (1 + np.abs(q)))
        nan_bad = ~has & ~np.isnan(s)
        rows.append((c, int(has.sum()), int(bad.sum()), int((~has).sum()), int(nan_bad.sum())))
    t = pd.DataFrame(rows, columns=["feature", "cells", "mismatch", "nan_cells", "not_nan"])
    t["mismatch_frac"] = t.mismatch / t.cells.clip(lower=1)
    t["not_nan_frac"] = t.not_nan / t.nan_cells.clip(lower=1)
    return t


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_library_matches_qlib_reference(lib: str, csi300_dir, reference_dir) -> None:
    ref = pd.read_parquet(reference_dir / f"qlib_{lib}_sample.parquet")
    codes = sorted(ref.index.get_level_values("instrument").unique())
    panel = load_panel(csi300_dir, ["open", "high", "low", "close", "volume"], codes)
    exprs = {**LIBS[lib](), **ALPHA158_LABEL}
    assert list(ref.columns) == list(exprs)  # Qlib's names, in Qlib's order
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # $vwap is absent from this store
        out = evaluate(panel, LIBS[lib](), missing="nan")  # features refuse to look forward
    out.fields.update(evaluate(panel, ALPHA158_LABEL, allow_forward=True).fields)  # label may
    ti = np.searchsorted(
        panel.dates, ref.index.get_level_values("datetime").values.astype("datetime64[D]")
    )
    ni = np.searchsorted(panel.instruments, ref.index.get_level_values("instrument").values)
    got = {c: out[c][ti, ni] for c in ref.columns}
    table = _failure_table(ref, got)
    failing = table[(table.mismatch_frac > 1e-3) | (table.not_nan_frac > 1e-3)]
    assert failing.empty, "features off Qlib:\n" + failing.to_string()
    assert table.cells.sum() > 0.5 * ref.size  # the comparison is not vacuous
