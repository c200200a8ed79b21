"""Look-ahead is impossible in features: the engine knows each expression's forward reach, refuses
features that read after their date, and only labels (allow_forward=True) may look forward."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.data.panel import Panel
from seqalpha.errors import ConfigError, LeakageError
from seqalpha.features import (
    alpha158_expressions,
    alpha360_expressions,
    check_feature_specs,
    evaluate,
    evaluate_long,
    forward_reach,
    required_window,
)
from seqalpha.features.alpha158 import ALPHA158_LABEL

# ----------------------------------------------------------------------------- hand-written reach


@pytest.mark.parametrize(
    "expr, back, ahead",
    [
        ("$close", 0, 0),
        ("Ref($close, 2)", 2, 0),
        ("Ref($close, -2)", 0, 2),
        ("Mean(Ref($close, -3), 5)", 4, 3),  # t-1..t+3, and whether t-4 is in the series
        ("Ref(Ref($close, 2), -5)", 0, 3),  # reads only t+3
        ("Ref(Ref($close, -5), 2)", 2, 3),  # the inner forward shift is blanked before listing
        ("Ref(Ref($close, -2), 5)", 5, 0),  # value t-3, presence t-5: no look-ahead
        ("Ref(Mean($close, 10), -4)", 5, 4),
        ("Delta($close, -2)", 0, 2),  # $close - Ref($close, -2)
        ("Delta(Ref($close, -1), 3)", 3, 1),
        ("Corr(Ref($close, -1), $volume, 10)", 9, 1),
        ("CSRank(Ref($close, -1))", 0, 1),  # cross-sections do not move in time
        ("EMA(Ref($close, -4), 0.5)", 18, 4),
        ("Max(Ref($close, -1), 0)", 0, 1),  # expanding window: all history, still 1 ahead
        ("If($close > 0, Ref($close, -1), Ref($close, -3))", 0, 3),
        ("Mul($close, 5)", 0, 0),
        ("Ref(5, -2)", 0, 2),  # a constant is blanked after delisting: it reads t+2's presence
        ("Ref($close, -2)/Ref($close, -1) - 1", 0, 2),  # Qlib's label
    ],
)
def test_reach_composes_through_nesting(expr: str, back: int, ahead: int) -> None:
    assert required_window(expr) == (back, ahead)
    assert forward_reach(expr) == ahead


def test_factor_libraries_never_look_ahead() -> None:
    exprs = {**alpha158_expressions(), **alpha360_expressions()}
    assert {n: forward_reach(e) for n, e in exprs.items() if forward_reach(e)} == {}
    check_feature_specs("alpha158", {})
    check_feature_specs("alpha360", {})


# ----------------------------------------------------------------------------- the engine refuses


@pytest.fixture(scope="module")
def panel() -> Panel:
    rng = np.random.default_rng(5)
    T, N = 30, 4
    close = (10 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))).astype(np.float32)
    volume = rng.uniform(1e3, 1e4, (T, N)).astype(np.float32)
    dates = np.arange("2022-01-03", T, dtype="datetime64[D]")[:T]
    return Panel(dates, np.array([f"S{i}" for i in range(N)]), {"close": close, "volume": volume})


def test_evaluate_refuses_a_forward_feature_naming_it(panel: Panel) -> None:
    with pytest.raises(LeakageError) as info:
        evaluate(panel, {"ok": "$close", "FUT": "Ref($close,-2)/$close"})
    msg = str(info.value)
    assert "'FUT'" in msg and "'Ref($close,-2)/$close'" in msg and "2 day(s)" in msg
    assert "\n" not in msg


def test_evaluate_long_refuses_a_forward_feature(panel: Panel) -> None:
    with pytest.raises(LeakageError, match="'leak' = 'Mean"):
        evaluate_long(panel, {"leak": "Mean(Ref($close, -3), 5)"})


def test_labels_may_look_forward_explicitly(panel: Panel) -> None:
    lab = evaluate(panel, ALPHA158_LABEL, allow_forward=True)["LABEL0"]
    c = panel["close"]
    np.testing.assert_allclose(lab[:-2], c[2:] / c[1:-1] - 1, rtol=1e-6)
    assert np.isnan(lab[-2:]).all()


def test_a_suspension_looks_the_same_whether_or_not_trading_resumes() -> None:
    """Features at t must not tell a stock that is delisted after t from one that resumes."""
    T = 30
    close = np.linspace(10, 12, T, dtype=np.float32)[:, None].repeat(2, axis=1)
    close[20:, 0] = np.nan  # S0: suspended from row 20, never trades again
    close[20:26, 1] = np.nan  # S1: the same suspension, resumes at row 26
    dates = np.arange("2022-01-03", T, dtype="datetime64[D]")[:T]
    p = Panel(dates, np.array(["S0", "S1"]), {"close": close})
    exprs = {
        "cnt": "Count($close, 5)",
        "up": "$close > Ref($close, 1)",
        "ema": "EMA($close, 5)",
        "const": "Not($close)",
        "idx": "IdxMax($close, 5)",
    }
    out = evaluate(p, exprs)
    for name in exprs:
        np.testing.assert_array_equal(out[name][:26, 0], out[name][:26, 1], err_msg=name)
    assert out["cnt"][22, 0] == 2  # rows 18, 19: the suspension is visible, as in real time


def test_only_labels_may_pass_allow_forward() -> None:
    import seqalpha

    root = Path(seqalpha.__file__).parent
    users = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "allow_forward=True" in p.read_text() and p.parent.name != "labels"
    ]
    assert users == []


# ----------------------------------------------------------------------------- feature specs


def test_forward_extra_feature_is_a_leakage_error() -> None:
    with pytest.raises(LeakageError) as info:
        check_feature_specs("alpha158", {"FUT": "Ref($close,-2)/$close"})
    msg = str(info.value)
    assert msg.startswith("features.extra.FUT:") and "'Ref($close,-2)/$close'" in msg


def test_extra_name_reusing_a_library_name_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\['KMID'\] are already features of alpha158.*replace"):
        check_feature_specs("alpha158", {"KMID": "$close/$open"})


def test_extra_may_replace_a_library_feature_when_asked() -> None:
    check_feature_specs("alpha158", {"KMID": "$close/$open"}, replace=True)
    with pytest.raises(LeakageError):  # replacing is no way around the look-ahead check
        check_feature_specs("alpha158", {"KMID": "Ref($close,-1)/$open"}, replace=True)


def test_intraday_feature_names_cannot_be_redefined() -> None:
    with pytest.raises(ConfigError, match="intraday features"):
        check_feature_specs("intraday", {"rv_mean20": "$close"}, replace=True)
    check_feature_specs("intraday", {"my_rv": "$close"})


@pytest.mark.parametrize("name", ["1x", "a b", "x-y", "", "é", "a" * 65, "$close", "x\n"])
def test_extra_names_must_be_identifiers(name: str) -> None:
    with pytest.raises(ConfigError, match="must match") as info:
        check_feature_specs(None, {name: "$close"})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["datetime", "instrument"])
def test_key_column_names_are_reserved(panel: Panel, name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name!r} is reserved"):
        check_feature_specs(None, {name: "$close"})
    with pytest.raises(ConfigError, match="key columns of the long table"):
        evaluate_long(panel, {name: "$close"})  # it would overwrite the key column


def test_extra_expression_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^features\.extra\.bad: cannot parse"):
        check_feature_specs("none", {"bad": "Mean($close, 5"})
    with pytest.raises(ConfigError, match=r"^features\.extra\.num: expression must be a string"):
        check_feature_specs("none", {"num": 5})


def test_unknown_library_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown feature library 'alpha999'"):
        check_feature_specs("alpha999", {})


# ----------------------------------------------------------------------------- train and CLI paths


def test_build_inputs_refuses_a_forward_extra_before_reading_data(monkeypatch) -> None:
    import seqalpha.data
    from seqalpha.config import FeaturesConfig
    from seqalpha.train.inputs import build_inputs

    def no_data(*args, **kwargs):
        raise AssertionError("data was read before the features were checked")

    monkeypatch.setattr(seqalpha.data, "load_panel", no_data)
    data = SimpleNamespace(dir="/nonexistent", universe="csi300", start=None, end=None)
    features = FeaturesConfig(library="alpha158", extra={"FUT": "Ref($close,-2)/$close"})
    labels = SimpleNamespace(horizons=[1], kind="return", offset=1)
    with pytest.raises(LeakageError, match="'FUT'"):
        build_inputs(data, features, labels)
    features.extra = {"KMID": "$close"}  # the reported 0.97-IC case: a reused library name
    with pytest.raises(ConfigError, match="KMID"):
        build_inputs(data, features, labels)


def test_train_command_exits_2_on_a_forward_extra(synth_market: Path, tmp_path: Path) -> None:
    raw = {
        "data": {"dir": str(synth_market), "universe": "market"},
        "features": {"library": "none", "extra": {"ret1": "$close/Ref($close,1)-1"}},
        "labels": {"horizons": [1], "offset": 1},
        "model": {"name": "linear"},
        "walkforward": {"schedule": "rolling", "step": 20, "train_days": 60, "valid_days": 5},
    }
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        [
            "train",
            str(cfg),
            "--out",
            str(run),
            "--set",
            'features.extra={FUT: "Ref($close,-2)/$close"}',
        ],
    )
    assert res.exit_code == 2, res.output
    assert "reads 2 day(s) after its date" in " ".join(res.output.split())
    assert not (run / "predictions.parquet").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--expr", "FUT=Ref($close,-1)"], "'FUT' = 'Ref($close,-1)' reads 1 day(s)"),
        (["--expr", "X=Mean(Delta($close, -3), 5)"], "'X' = 'Mean(Delta($close, -3), 5)'"),
        (["--library", "alpha158", "--expr", "KMID=$close"], "already features of alpha158"),
        (["--expr", "9lives=$close"], "must match"),
        (["--library", "intraday", "--expr", "x=$close"], "cannot be combined"),
    ],
)
def test_features_command_refuses_before_reading_data(tmp_path: Path, args, message) -> None:
    empty = tmp_path / "no_store"  # nothing to read: the check comes first
    out = tmp_path / "f.parquet"
    res = CliRunner().invoke(app, ["features", str(empty), *args, "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert res.output.strip().startswith("error:") and message in " ".join(res.output.split())
    assert not out.exists()


# ----------------------------------------------------------------------------- property: reach
# Random expression trees: the computed forward (and backward) reach equals the empirical one,
# found by perturbing the raw panel after (before) a date and seeing which outputs change.

T, N, S_FWD, S_BACK = 120, 64, 70, 40
ROLL_OPS = ("Mean", "Sum", "Std", "Var", "Skew", "Max", "Min", "Med", "Mad", "Rank", "IdxMax")
ROLL_OPS += ("Slope", "Rsquare", "Resi", "WMA", "Kurt")
ELEM2 = ("Add", "Sub", "Mul", "Div", "Greater", "Less")


def random_tree(
    rng: np.random.Generator,
    depth: int,
    unbounded: bool,
    top: bool = True,
    fields: tuple[str, ...] = ("$a", "$b", "$c", "$d"),
) -> str:
    """A random expression: shifts either way, rolling, pairwise and cross-sectional operators.

    The two sides of a binary operator read disjoint fields (independent noise), so no tree is
    degenerate like `$a - $a` or `Corr(Neg($a), $a, 5)`; operators whose output ignores most of
    its inputs (comparisons, Sign, Count, zero shifts) are left to the soundness property below.
    `unbounded` adds EMA and expanding windows.
    """
    if depth == 0 or (not top and rng.random() < 0.2):
        return str(rng.choice(fields))
    kinds = ["ref", "ref", "roll", "elem1", "cs", "delta"]
    kind = rng.choice(kinds + (["pair", "elem2"] if len(fields) > 1 else []))

    def sub(fs: tuple[str, ...] = fields) -> str:
        return random_tree(rng, depth - 1, unbounded, top=False, fields=fs)

    half = len(fields) // 2
    if kind == "ref":
        return f"Ref({sub()}, {int(rng.choice([-4, -3, -2, -1, 1, 2, 3, 4]))})"
    if kind == "delta":
        return f"Delta({sub()}, {int(rng.choice([-3, -2, -1, 1, 2, 3]))})"
    if kind == "roll":
        w = int(rng.integers(4, 7))
        if unbounded and rng.random() < 0.3:
            return str(
                rng.choice([f"EMA({sub()}, 0.5)", f"EMA({sub()}, {w})", f"Mean({sub()}, 0)"])
            )
        if rng.random() < 0.1:
            return f"Quantile({sub()}, {w}, 0.25)"
        return f"{rng.choice(ROLL_OPS)}({sub()}, {w})"
    if kind == "elem1":
        return str(rng.choice([f"Abs({sub()})", f"Neg({sub()})", f"Log(Abs({sub()}))"]))
    if kind == "cs":
        return f"{rng.choice(['CSRank', 'CSZScore', 'CSDemean'])}({sub()})"
    a, b = sub(fields[:half]), sub(fields[half:])
    if kind == "pair":
        return f"{rng.choice(['Corr', 'Cov'])}({a}, {b}, {int(rng.integers(4, 7))})"
    return f"{rng.choice(ELEM2)}({a}, {b})"


@pytest.fixture(scope="module")
def raw() -> Panel:
    rng = np.random.default_rng(0)
    fields = {k: rng.normal(0, 1, (T, N)).astype(np.float32) for k in ("a", "b", "c", "d")}
    dates = np.arange("2020-01-01", T, dtype="datetime64[D]")[:T]
    return Panel(dates, np.array([f"S{i:02d}" for i in range(N)]), fields)


def _perturbed(p: Panel, rows: slice, mode: str) -> Panel:
    rng = np.random.default_rng(1)
    fields = {}
    for k, v in p.fields.items():
        v = v.copy()
        if mode == "nan":
            v[rows] = np.nan
        else:
            v[rows] = rng.normal(0, 1, v[rows].shape).astype(np.float32)
        fields[k] = v
    return Panel(p.dates, p.instruments, fields, p.universe)


def _changed_rows(
    p: Panel, base: np.ndarray, expr: str, rows: slice, mode: str, tol: float
) -> np.ndarray:
    out = evaluate(_perturbed(p, rows, mode), {"x": expr}, allow_forward=True)["x"]
    with np.errstate(invalid="ignore"):
        same = np.abs(out - base) <= tol * (1 + np.abs(base))
    same |= (out == base) | (np.isnan(out) & np.isnan(base))
    return np.nonzero(~same.all(axis=1))[0]


def empirical_reach(p: Panel, expr: str) -> tuple[int, int]:
    """(back, ahead): the farthest rows before/after t whose change reaches the output at t.

    Ahead compares bit for bit (no kernel ever sees later rows); back allows the float rounding
    that streaming kernels carry from values already out of their window.
    """
    base = evaluate(p, {"x": expr}, allow_forward=True)["x"]
    back = ahead = 0
    for mode in ("replace", "nan"):
        late = _changed_rows(p, base, expr, slice(S_FWD, None), mode, 0.0)
        late = late[late < S_FWD]
        ahead = max(ahead, S_FWD - int(late.min()) if late.size else 0)
        early = _changed_rows(p, base, expr, slice(0, S_BACK + 1), mode, 1e-3)
        early = early[early > S_BACK]
        back = max(back, int(early.max()) - S_BACK if early.size else 0)
    return back, ahead


@pytest.mark.parametrize("seed", range(8))
def test_random_trees_reach_equals_empirical(raw: Panel, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):
        expr = random_tree(rng, int(rng.integers(1, 5)), unbounded=False)
        assert empirical_reach(raw, expr) == required_window(expr), expr


@pytest.mark.parametrize("seed", range(4))
def test_random_trees_with_unbounded_windows_forward_reach(raw: Panel, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    for _ in range(25):
        expr = random_tree(rng, int(rng.integers(1, 5)), unbounded=True)
        assert empirical_reach(raw, expr)[1] == forward_reach(expr), expr


# soundness over every operator (some ignore most of their inputs): never an unreported leak
_LEAF = st.sampled_from(["$a", "$b", "1.5"])


def _grow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    shift = st.integers(-4, 4)
    win = st.integers(2, 6)
    one = st.sampled_from(["Abs", "Sign", "Log", "Not", "CSRank", "Neg"])
    two = st.sampled_from(["Add", "Sub", "Div", "Gt", "Le", "And", "Or", "Power", "Greater"])
    roll = st.sampled_from(["Mean", "Count", "Max", "IdxMin", "Rank", "Std", "Slope", "Sum"])
    return st.one_of(
        st.builds(lambda x, k: f"Ref({x}, {k})", children, shift),
        st.builds(lambda x, k: f"Delta({x}, {k})", children, shift),
        st.builds(lambda o, x, w: f"{o}({x}, {w})", roll, children, win),
        st.builds(lambda o, x: f"{o}({x})", one, children),
        st.builds(lambda o, x, y: f"{o}({x}, {y})", two, children, children),
        st.builds(lambda c, x, y: f"If({c}, {x}, {y})", children, children, children),
        st.builds(lambda x, y, w: f"Corr({x}, {y}, {w})", children, children, win),
    )


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(expr=st.recursive(_LEAF, _grow, max_leaves=6))
def test_no_expression_reads_beyond_its_computed_reach(raw: Panel, expr: str) -> None:
    back, ahead = empirical_reach(raw, expr)
    want_back, want_ahead = required_window(expr)
    assert ahead <= want_ahead
    # Corr/Cov co-moments carry float rounding from up to 2w rows back, which windows with a
    # constant side among complete pairs amplify: history is checked without them
    if "Corr" not in expr:
        assert back <= want_back
