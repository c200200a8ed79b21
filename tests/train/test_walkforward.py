"""Walk-forward windows (exact boundary dates on a toy calendar), embargo guards, per-window
processor refits, label hiding, per-window files and resume."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import ClassVar

import numpy as np
import polars as pl
import pytest

from seqalpha.config import WalkForwardConfig, config_from_dict
from seqalpha.errors import ConfigError, LeakageError
from seqalpha.models.registry import MODELS, register_model
from seqalpha.train.inputs import Inputs
from seqalpha.train.walkforward import (
    Job,
    TrainSpec,
    Window,
    check_windows,
    make_windows,
    model_seed,
    run_walkforward,
    window_arrays,
    window_path,
)


def toy_calendar(n: int = 40) -> np.ndarray:
    """n weekdays from Monday 2024-01-01."""
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-12-31"))
    wd = (days.astype("datetime64[D]").view("int64") - 4) % 7  # 0 = Monday
    return days[wd < 5][:n]


def d(s: str) -> np.datetime64:
    return np.datetime64(s, "D")


def spans(w: Window, cal: np.ndarray) -> dict:
    return w.describe(cal)


# ------------------------------------------------------------------------------- schedules


def test_fixed_purges_embargo_days_exactly():
    cal = toy_calendar(30)
    wf = WalkForwardConfig(
        schedule="fixed",
        train=["2024-01-01", "2024-01-19"],
        valid=["2024-01-22", "2024-01-26"],
        test=["2024-01-29", "2024-02-09"],
    )
    (w,) = make_windows(cal, wf, embargo=2)
    assert spans(w, cal) == {
        "index": 0,
        "train": ["2024-01-01", "2024-01-17"],
        "valid": ["2024-01-22", "2024-01-24"],
        "test": ["2024-01-29", "2024-02-09"],
    }


def test_fixed_without_purge_rejects_short_embargo():
    cal = toy_calendar(30)
    wf = WalkForwardConfig(
        schedule="fixed",
        train=["2024-01-01", "2024-01-19"],
        valid=["2024-01-22", "2024-01-26"],
        test=["2024-01-29", "2024-02-09"],
        purge=False,
    )
    with pytest.raises(
        LeakageError,
        match="window 0: train ends 2024-01-19 and valid starts "
        "2024-01-22: 0 trading days apart, the embargo needs 2",
    ):
        make_windows(cal, wf, embargo=2)
    ok = WalkForwardConfig(
        schedule="fixed",
        train=["2024-01-01", "2024-01-17"],
        valid=["2024-01-22", "2024-01-24"],
        test=["2024-01-29", "2024-02-09"],
        purge=False,
    )
    (w,) = make_windows(cal, ok, embargo=2)
    assert spans(w, cal)["train"] == ["2024-01-01", "2024-01-17"]


def test_fixed_overlap_is_leakage_naming_dates():
    cal = toy_calendar(30)
    wf = WalkForwardConfig(
        schedule="fixed",
        train=["2024-01-01", "2024-01-24"],
        valid=["2024-01-22", "2024-01-26"],
        test=["2024-01-29", "2024-02-09"],
    )
    with pytest.raises(
        LeakageError,
        match=r"window 0: train 2024-01-01..2024-01-24 overlaps valid 2024-01-22..2024-01-26",
    ):
        make_windows(cal, wf, embargo=2)


def test_rolling_boundaries_exact():
    cal = toy_calendar(40)
    wf = WalkForwardConfig(schedule="rolling", step=5, train_days=12, valid_days=3)
    ws = make_windows(cal, wf, embargo=2)
    # first test day: 12 train-span days + 2 embargo days after the first calendar day
    assert spans(ws[0], cal) == {
        "index": 0,
        "train": ["2024-01-01", "2024-01-09"],
        "valid": ["2024-01-12", "2024-01-16"],
        "test": ["2024-01-19", "2024-01-25"],
    }
    assert spans(ws[1], cal) == {
        "index": 1,
        "train": ["2024-01-08", "2024-01-16"],
        "valid": ["2024-01-19", "2024-01-23"],
        "test": ["2024-01-26", "2024-02-01"],
    }
    # test blocks tile the rest of the calendar; the last one is cut at its end
    assert [w.test for w in ws] == [(14, 19), (19, 24), (24, 29), (29, 34), (34, 39), (39, 40)]
    assert all(w.train[1] - w.train[0] == 12 - 3 - 2 for w in ws)


def test_rolling_test_start_and_end():
    cal = toy_calendar(40)
    wf = WalkForwardConfig(
        schedule="rolling",
        step=10,
        train_days=12,
        valid_days=0,
        test_start="2024-01-22",
        test_end="2024-02-06",
    )
    ws = make_windows(cal, wf, embargo=2)
    assert [spans(w, cal)["test"] for w in ws] == [
        ["2024-01-22", "2024-02-02"],
        ["2024-02-05", "2024-02-06"],
    ]
    assert ws[0].valid is None
    assert spans(ws[0], cal)["train"] == ["2024-01-02", "2024-01-17"]


def test_rolling_too_early_test_start_names_earliest_date():
    cal = toy_calendar(40)
    wf = WalkForwardConfig(
        schedule="rolling", step=5, train_days=12, valid_days=3, test_start="2024-01-10"
    )
    with pytest.raises(
        ConfigError,
        match=r"window 0 tests from 2024-01-10 .* earliest test "
        "start on this calendar is 2024-01-19",
    ):
        make_windows(cal, wf, embargo=2)
    # a sequence look-back of 4 days pushes the earliest test start by 3 days
    wf2 = WalkForwardConfig(schedule="rolling", step=5, train_days=12, valid_days=3)
    assert cal[make_windows(cal, wf2, embargo=2, lookback=4)[0].test[0]] == d("2024-01-24")


def test_expanding_keeps_train_start():
    cal = toy_calendar(40)
    wf = WalkForwardConfig(
        schedule="expanding", step=10, train_days=12, valid_days=3, train_start="2024-01-03"
    )
    ws = make_windows(cal, wf, embargo=3)
    assert all(cal[w.train[0]] == d("2024-01-03") for w in ws)
    assert spans(ws[0], cal)["test"][0] == "2024-01-24"  # position 2 + 12 + 3 = 17
    assert ws[1].train[1] - ws[1].train[0] == ws[0].train[1] - ws[0].train[0] + 10


@pytest.mark.parametrize("schedule", ["rolling", "expanding"])
def test_generated_windows_respect_label_reach(schedule):
    cal = toy_calendar(120)
    for step, train_days, valid_days, embargo in itertools.product(
        [1, 3, 10], [20, 33], [0, 1, 5], [1, 2, 6]
    ):
        wf = WalkForwardConfig(
            schedule=schedule, step=step, train_days=train_days, valid_days=valid_days
        )
        for w in make_windows(cal, wf, embargo=embargo):
            last_train_label_end = w.train[1] - 1 + embargo  # reach = embargo here
            nxt = w.valid[0] if w.valid else w.test[0]
            assert last_train_label_end < nxt
            if w.valid:
                assert w.valid[1] - 1 + embargo < w.test[0]
                assert w.valid[1] - w.valid[0] == valid_days


def test_check_windows_names_window_and_dates():
    cal = toy_calendar(30)
    bad = [Window(0, (0, 5), None, (8, 10)), Window(1, (0, 9), None, (10, 12))]
    with pytest.raises(
        LeakageError,
        match="window 1: train ends 2024-01-11 and test starts 2024-01-15: 1 trading days apart",
    ):
        check_windows(bad, cal, embargo=2)


# ----------------------------------------------------------------------- window processing


def toy_inputs(T: int = 40, N: int = 12, F: int = 3, seed: int = 0) -> Inputs:
    """Features whose level drifts over time (so fitted statistics depend on the range)."""
    rng = np.random.default_rng(seed)
    trend = np.linspace(0.0, 10.0, T)[:, None, None]
    x = (rng.normal(size=(T, N, F)) * (1 + np.arange(F)) + trend).astype(np.float32)
    y = (0.5 * x[:, :, :1] + rng.normal(size=(T, N, 1))).astype(np.float32)
    mask = rng.random((T, N)) > 0.1
    y[~mask] = np.nan
    return Inputs(
        toy_calendar(T),
        [f"S{i:02d}" for i in range(N)],
        x,
        None,
        y,
        mask,
        [f"f{k}" for k in range(F)],
        ["LABEL0"],
        1,
    )


def test_processors_refit_on_each_windows_train_range():
    inp = toy_inputs()
    spec = TrainSpec("wf_probe", {}, [{"name": "zscore"}], [], 1)
    w0, w1 = Window(0, (0, 10), None, (12, 17)), Window(1, (15, 25), None, (27, 32))
    for w in (w0, w1):
        a = window_arrays(inp, Job(w, 0, 0, spec))
        lo = a["lo"]
        cells = a["mask"][w.train[0] - lo : w.train[1] - lo]
        tr = a["features"][w.train[0] - lo : w.train[1] - lo][cells]
        np.testing.assert_allclose(tr.mean(axis=0), 0.0, atol=1e-4)
        np.testing.assert_allclose(tr.std(axis=0), 1.0, atol=0.02)
    # the later window's features standardised with the first window's statistics would be far
    # from zero mean: the trend moved the level by several standard deviations
    a0 = window_arrays(inp, Job(Window(0, (0, 10), None, (27, 32)), 0, 0, spec))
    later = a0["features"][15:25][a0["mask"][15:25]]
    assert abs(later.mean()) > 1.0
    assert inp.features.dtype == np.float32 and abs(inp.features[:10].mean()) > 0.5  # untouched


def test_labels_hidden_outside_train_and_valid():
    inp = toy_inputs()
    spec = TrainSpec("wf_probe", {}, [], [{"name": "cs_zscore"}], 1)
    w = Window(0, (2, 12), (14, 18), (20, 25))
    a = window_arrays(inp, Job(w, 0, 0, spec))
    assert a["lo"] == 2 and a["hi"] == 25
    lab = a["labels"][:, :, 0]  # rows 0.. are calendar positions 2..24
    have = np.isfinite(lab).any(axis=1)
    assert have[0:10].all() and have[12:16].all()
    assert not have[10:12].any() and not have[16:].any()
    # cs_zscore on labels: each labelled day has mean 0 over the universe
    np.testing.assert_allclose(np.nanmean(lab[0:10], axis=1), 0.0, atol=1e-5)
    assert np.isfinite(inp.labels[20:25]).any()  # the raw inputs still hold test labels


def test_test_set_carries_realized_labels_through_the_fitted_label_chain():
    inp = toy_inputs()
    spec = TrainSpec("wf_probe", {}, [], [{"name": "cs_zscore"}], 1, label_reach=2)
    w = Window(0, (2, 12), (14, 18), (20, 25))
    a = window_arrays(inp, Job(w, 0, 0, spec))
    known = a["known_labels"][:, :, 0]
    # the test rows (20..24 -> 18..22) hold the day-wise z-scored realized labels
    test = known[18:23]
    assert np.isfinite(test).any(axis=1).all()
    np.testing.assert_allclose(np.nanmean(test, axis=1), 0.0, atol=1e-5)
    raw = np.where(a["mask"][18:23], inp.labels[20:25, :, 0], np.nan)
    z = (raw - np.nanmean(raw, axis=1, keepdims=True)) / np.nanstd(
        raw, axis=1, ddof=1, keepdims=True
    )
    np.testing.assert_allclose(test, z, atol=1e-4)
    # while the training labels of those rows stay hidden
    assert not np.isfinite(a["labels"][18:23]).any()


def test_history_rows_for_sequence_lookback():
    inp = toy_inputs()
    spec = TrainSpec("wf_probe", {}, [], [], lookback=5)
    a = window_arrays(inp, Job(Window(0, (10, 20), None, (22, 25)), 0, 0, spec))
    assert a["lo"] == 6 and a["hi"] == 25 and a["features"].shape[0] == 19


# --------------------------------------------------------------------- the run and resume


class WFProbe:
    """Stand-in model: score = fitted slope * first feature; records what it was given."""

    input_kind = "tabular"
    calls: ClassVar[list] = []

    def __init__(self, seed: int = 0, scale: float = 1.0):
        self.seed, self.scale = seed, scale

    def fit(self, train, valid):
        t0, t1 = train.rows
        y = train.labels[t0:t1, :, 0]
        x = train.features[t0:t1, :, 0]
        ok = train.mask[t0:t1] & np.isfinite(y) & np.isfinite(x)
        self.slope = float(np.polyfit(x[ok], y[ok], 1)[0])
        finite_rows = np.nonzero(np.isfinite(train.labels[:, :, 0]).any(axis=1))[0]
        WFProbe.calls.append(
            {
                "seed": self.seed,
                "train_dates": train.row_dates,
                "last_label_date": train.dates[finite_rows.max()],
                "valid": None if valid is None else valid.rows,
            }
        )

    def predict(self, data):
        t0, t1 = data.rows
        jitter = (self.seed % 7) * 1e-3
        out = (self.slope * self.scale + jitter) * data.features[t0:t1, :, 0]
        return np.where(data.mask[t0:t1], out, np.nan).astype(np.float32)


@pytest.fixture(autouse=True, scope="module")
def _probe_model():
    """Registered for this module's tests only (the docs' model zoo iterates over the registry)."""
    if "wf_probe" not in MODELS:
        register_model("wf_probe")(WFProbe)
    yield
    del MODELS["wf_probe"]


def rolling_cfg(tmp_path, **wf):
    raw = {
        "data": {"dir": str(tmp_path)},
        "model": {"name": "wf_probe", "params": {}},
        "features": {"library": "none", "extra": {"f0": "$close"}},
        "walkforward": {"schedule": "rolling", "step": 5, "train_days": 12, "valid_days": 3, **wf},
    }
    return config_from_dict(raw)


def test_run_writes_window_files_and_resumes(tmp_path):
    inp = toy_inputs()
    cfg = rolling_cfg(tmp_path)
    WFProbe.calls.clear()
    state = run_walkforward(cfg, tmp_path / "run", inputs=inp)
    n = len(state.windows)
    assert n == 6 and state.trained == list(range(n)) and len(WFProbe.calls) == n
    for w, call in zip(state.windows, WFProbe.calls, strict=False):
        # the model saw labels only up to its validation range, never in the test range
        assert call["last_label_date"] < inp.dates[w.test[0]]
        assert call["train_dates"][0] == inp.dates[w.train[0]]
    df = pl.read_parquet(window_path(tmp_path / "run", 2))
    assert df.columns == ["datetime", "instrument", "score", "label"]
    w2 = state.windows[2]
    assert df["datetime"].min() == inp.dates[w2.test[0]].astype(dt.date)
    assert df.height == int(inp.mask[w2.test[0] : w2.test[1]].sum())
    # predictions equal slope * feature for the universe rows
    row = df.row(0, named=True)
    t = int(np.searchsorted(inp.dates, np.datetime64(row["datetime"])))
    i = inp.instruments.tolist().index(row["instrument"])
    assert np.isclose(row["label"], inp.labels[t, i, 0])
    # resume: delete one window file; only that window is trained again
    window_path(tmp_path / "run", 3).unlink()
    WFProbe.calls.clear()
    state2 = run_walkforward(cfg, tmp_path / "run", inputs=inp)
    assert state2.trained == [3] and state2.skipped == [0, 1, 2, 4, 5]
    assert len(WFProbe.calls) == 1
    assert pl.read_parquet(window_path(tmp_path / "run", 3)).equals(
        pl.read_parquet(window_path(state.run_dir, 3))
    )


def test_changed_config_is_an_error_unless_fresh(tmp_path):
    inp = toy_inputs()
    run_walkforward(rolling_cfg(tmp_path), tmp_path / "run", inputs=inp)
    changed = rolling_cfg(tmp_path, step=4)
    with pytest.raises(ConfigError, match="different config"):
        run_walkforward(changed, tmp_path / "run", inputs=inp)
    state = run_walkforward(changed, tmp_path / "run", inputs=inp, fresh=True)
    assert state.skipped == [] and len(state.trained) == len(state.windows)


def test_seed_ensemble_is_mean_of_seeds(tmp_path):
    inp = toy_inputs()
    cfg = rolling_cfg(tmp_path)
    cfg.seeds = [1, 2, 3]
    run_walkforward(cfg, tmp_path / "run", inputs=inp)
    df = pl.read_parquet(window_path(tmp_path / "run", 0))
    seeds = df.select("score_seed1", "score_seed2", "score_seed3").to_numpy()
    np.testing.assert_allclose(df["score"].to_numpy(), seeds.mean(axis=1), rtol=1e-5)
    assert not np.allclose(seeds[:, 0], seeds[:, 1])
    assert model_seed(1, 0) != model_seed(1, 1) != model_seed(2, 1)


def test_empty_feature_columns_dropped_with_warning():
    from seqalpha.train.inputs import drop_empty_features

    x = np.random.default_rng(0).normal(size=(300, 6, 3)).astype(np.float32)
    x[:, :, 1] = np.nan  # e.g. VWAP0 on a store without $vwap
    x[:, 5, 2] = np.nan
    mask = np.ones((300, 6), dtype=bool)
    with pytest.warns(UserWarning, match=r"\['b'\] have no finite value"):
        y, names = drop_empty_features(x, ["a", "b", "c"], mask)
    assert names == ["a", "c"] and y.shape == (300, 6, 2)
    np.testing.assert_array_equal(y[:, :, 1], x[:, :, 2])
    with pytest.raises(Exception, match="every feature is empty"):
        drop_empty_features(x[:, :, 1:2], ["b"], mask)


def test_feature_blocks_give_the_same_result_as_one_pass(monkeypatch):
    import seqalpha.train.window as wfmod

    inp = toy_inputs(F=7)
    spec = TrainSpec(
        "wf_probe",
        {},
        [{"name": "robust_zscore", "clip": 3.0}, {"name": "cs_zscore"}, {"name": "fillna"}],
        [],
        1,
    )
    job = Job(Window(0, (0, 20), (23, 26), (28, 33)), 0, 0, spec)
    whole = window_arrays(inp, job)["features"]
    monkeypatch.setattr(wfmod, "FEATURE_CHUNK", 3)  # blocks of 3, 3 and 1 columns
    blocks = window_arrays(inp, job)["features"]
    np.testing.assert_array_equal(whole, blocks)


def test_resume_refuses_windows_whose_dates_moved(tmp_path):
    inp = toy_inputs()
    cfg = rolling_cfg(tmp_path)
    run_walkforward(cfg, tmp_path / "run", inputs=inp)
    # the same config on a calendar that starts 3 days later shifts every rolling window
    later = Inputs(
        inp.dates[3:],
        inp.instruments,
        inp.features[3:],
        None,
        inp.labels[3:],
        inp.mask[3:],
        inp.feature_names,
        inp.label_names,
        1,
    )
    with pytest.raises(ConfigError, match="window 0 was trained with ranges"):
        run_walkforward(cfg, tmp_path / "run", inputs=later)
