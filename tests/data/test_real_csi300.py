"""The real CSI300 Qlib store in ../shared: shape, membership, documented data quirks, speed."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from seqalpha.data.info import describe_store
from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import load_panel, read_calendar, read_instruments, universe_mask

pytestmark = pytest.mark.shared

FIELDS = ["change", "close", "factor", "high", "low", "open", "volume"]
INDICES = [
    "SH000001",
    "SH000016",
    "SH000300",
    "SH000852",
    "SH000905",
    "SH000906",
    "SZ399001",
    "SZ399006",
]


@pytest.fixture(scope="module")
def full(csi300_dir: Path) -> Panel:
    return load_panel(csi300_dir)


def test_full_read_shape_fields_and_speed(csi300_dir: Path, full: Panel) -> None:
    assert full.shape == (3159, 753)
    assert sorted(full.field_names) == FIELDS
    assert str(full.dates[0]) == "2010-01-04" and str(full.dates[-1]) == "2022-12-30"
    assert set(INDICES) <= set(full.instruments.tolist())
    assert all(full[f].dtype == np.float32 for f in FIELDS)
    best = np.inf
    for _ in range(2):
        t0 = time.perf_counter()
        load_panel(csi300_dir)
        best = min(best, time.perf_counter() - t0)
    assert best < 3.0, f"full read took {best:.2f} s (budget 3 s)"


def test_documented_nan_close_and_zero_volume_counts(full: Panel) -> None:
    listed = full.universe  # instruments/all.txt spans
    assert int((np.isnan(full["close"]) & listed).sum()) == 244  # 243 of them CSI1000 pre-launch
    stocks = ~np.isin(full.instruments, INDICES)
    stock_days = listed[:, stocks]
    assert 1.9e6 < stock_days.sum() < 2.1e6
    assert int((full["volume"][:, stocks][stock_days] == 0).sum()) == 60858


def test_csi300_universe_warns_once_about_codes_without_data(csi300_dir: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = load_panel(csi300_dir, ["close"], universe="csi300")
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1
    assert msgs[0].startswith("38 instruments of universe 'csi300' have no data files")
    assert "SH600005" in msgs[0]
    assert p.shape == (3159, 744 - 38)
    members = p.universe.sum(axis=1)
    assert 260 < members.mean() < 275  # members that have data
    # SH600004 has two spells: 2010-01-04..2011-12-12 and 2018-12-17..2021-06-14.
    col = p.universe[:, p.instruments.tolist().index("SH600004")]
    assert col.sum() == int(
        (
            (p.dates <= np.datetime64("2011-12-12"))
            | ((p.dates >= np.datetime64("2018-12-17")) & (p.dates <= np.datetime64("2021-06-14")))
        ).sum()
    )
    assert col[p.date_index("2011-12-12")] and not col[p.date_index("2011-12-13")]
    assert col[p.date_index("2018-12-17")] and not col[p.date_index("2018-12-14")]


def test_csi300_listing_average_membership(csi300_dir: Path) -> None:
    info = describe_store(csi300_dir)
    m = info["markets"]["csi300"]
    assert (m["codes"], m["spells"], len(m["codes_without_data"])) == (744, 874, 38)
    assert 276 < m["mean_members"] < 280  # "about 278 names on average"
    spells = read_instruments(csi300_dir, "csi300")
    cal = read_calendar(csi300_dir)
    listed = universe_mask(spells, cal, np.array(sorted({s.code for s in spells})))
    assert listed.sum(axis=1).min() == 245  # "minimum 245"
    assert info["n_with_data"] == 753 and info["fields"] == {f: 753 for f in FIELDS}
