"""The synthetic market: structure, determinism, daily == aggregated bars, the planted oracle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.data.minute import load_minute, minute_to_daily
from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import load_panel, read_instruments
from seqalpha.data.synthetic import (
    INDEX_CODE,
    SIGNALS,
    SynthConfig,
    generate_market,
    hidden_concept_groups,
)
from seqalpha.errors import ConfigError

MODERATE = {"n_stocks": 150, "n_days": 400, "bar_minutes": 30}


def daily_ic(pred: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """Mean over days of the cross-sectional Pearson correlation [T, N] x [T, N], and its SE."""
    ics = []
    for p, y in zip(pred, label, strict=False):
        ok = np.isfinite(p) & np.isfinite(y)
        if ok.sum() > 10 and p[ok].std() > 0 and y[ok].std() > 0:
            ics.append(np.corrcoef(p[ok], y[ok])[0, 1])
    ics = np.asarray(ics)
    return float(ics.mean()), float(ics.std() / np.sqrt(len(ics)))


def label_of(panel: Panel) -> np.ndarray:
    """Qlib's default label Ref($close,-2)/Ref($close,-1)-1 at each date [T, N]."""
    close = panel["close"]
    y = np.full(close.shape, np.nan, dtype=np.float64)
    y[:-2] = close[2:].astype(np.float64) / close[1:-1] - 1
    return y


def oracle_panel(out: Path, panel: Panel) -> Panel:
    return Panel.from_long(
        pl.read_parquet(out / "oracle.parquet"), dates=panel.dates, instruments=panel.instruments
    )


def stocks(panel: Panel) -> np.ndarray:
    return panel.instruments != INDEX_CODE


@pytest.fixture(scope="module")
def moderate(tmp_path_factory):
    """150 stocks x 400 days with default strengths: (dir, panel of stocks, label, oracle panel)."""
    out = generate_market(
        tmp_path_factory.mktemp("moderate") / "m", SynthConfig(seed=11, **MODERATE)
    )
    panel = load_panel(out)
    panel = panel.select_instruments(panel.instruments[stocks(panel)].tolist())
    return out, panel, label_of(panel), oracle_panel(out, panel)


# ----------------------------------------------------------------------------- layout and structure


def test_store_layout_meta_and_split(synth_market):
    meta = json.loads((synth_market / "meta.json").read_text())
    assert meta["benchmark"] == INDEX_CODE and meta["bar_minutes"] == 30 and meta["seed"] == 7
    # the hidden concept groups are not in the meta, only the generator's parameters for them
    params = json.dumps(meta["config"]).replace("concept_size", "").replace("concept_vol", "")
    assert meta["signals"] == list(SIGNALS) and "concept" not in params
    panel = load_panel(synth_market)
    assert set(panel.field_names) >= {
        "open",
        "high",
        "low",
        "close",
        "volume",
        "amount",
        "vwap",
        "factor",
        "change",
        "industry",
        "mktcap",
        "bp",
    }
    dates = panel.dates
    split = {k: [np.datetime64(a), np.datetime64(b)] for k, (a, b) in meta["split"].items()}
    assert split["train"][0] == dates[0] and split["test"][1] == dates[-1]
    assert split["train"][1] < split["valid"][0] <= split["valid"][1] < split["test"][0]
    n_test = int(((dates >= split["test"][0]) & (dates <= split["test"][1])).sum())
    assert abs(n_test / len(dates) - 0.25) < 0.02
    codes = {s.code for s in read_instruments(synth_market, "market")}
    assert INDEX_CODE not in codes and len(codes) == 60


def test_daily_bars_equal_the_aggregate_of_minute_bars(synth_market):
    panel = load_panel(synth_market)
    bars = load_minute(synth_market / "minute", instruments=panel.instruments.tolist())
    assert bars.shape == (160, 8, 61) and bars.dates.tolist() == panel.dates.tolist()
    day = minute_to_daily(bars)
    f = panel["factor"]
    live = np.isfinite(panel["close"])
    assert np.array_equal(live, np.isfinite(day["close"]))
    for k in ("open", "high", "low", "close"):
        np.testing.assert_allclose(panel[k][live], (day[k] * f)[live], rtol=2e-6)
    np.testing.assert_allclose(panel["volume"][live], (day["volume"] / f)[live], rtol=2e-6)
    np.testing.assert_allclose(panel["amount"][live], day["amount"][live], rtol=2e-6)
    # U-shaped intraday volume: the first and last half hours trade more than midday
    with np.errstate(invalid="ignore"):  # suspended days trade nothing
        share = np.nanmean(
            bars["volume"] / np.nansum(bars["volume"], axis=1, keepdims=True), axis=(0, 2)
        )
    assert share[0] > 1.5 * share[3] and share[-1] > 1.5 * share[3]


def test_price_limits_suspensions_and_life(synth_market):
    panel = load_panel(synth_market)
    st = stocks(panel)
    close, high, low = (panel[k][:, st].astype(np.float64) for k in ("close", "high", "low"))
    prev = close[:-1]
    ret = close[1:] / prev - 1
    ok = np.isfinite(ret)
    assert np.abs(ret[ok]).max() <= 0.1 + 1e-5
    assert (high[1:][ok] <= prev[ok] * 1.1 * (1 + 1e-5)).all() and (
        low[1:][ok] >= prev[ok] * 0.9 * (1 - 1e-5)
    ).all()
    assert (np.abs(np.abs(ret[ok]) - 0.1) < 1e-5).sum() >= 1  # some closes pinned at the limit
    # suspended days: zero volume, flat price, outside the tradable `market` universe
    market = load_panel(synth_market, fields=["close"], universe="market")
    assert market.instruments.tolist() == panel.instruments[st].tolist()
    tradable = market.universe
    vol = panel["volume"][:, st]
    susp = (vol == 0) & np.isfinite(vol)
    assert (
        susp.sum() > 0
        and not (tradable & susp).any()
        and (tradable | ~np.isfinite(vol) | susp).all()
    )
    s_t, s_n = np.nonzero(susp[1:])
    np.testing.assert_allclose(close[1:][s_t, s_n], close[:-1][s_t, s_n], rtol=1e-6)
    np.testing.assert_allclose(high[1:][s_t, s_n], low[1:][s_t, s_n], rtol=1e-6)
    # listings and delistings: NaN outside each stock's life, which is a single spell
    live = np.isfinite(close)
    first, last = live.argmax(0), len(live) - 1 - live[::-1].argmax(0)
    assert (first > 0).any() and (last < len(live) - 1).any()
    for j in range(live.shape[1]):
        assert live[first[j] : last[j] + 1, j].all()


def test_adjustment_factors_keep_adjusted_prices_continuous(synth_market):
    panel = load_panel(synth_market)
    st = stocks(panel)
    f, close = panel["factor"][:, st].astype(np.float64), panel["close"][:, st].astype(np.float64)
    jump = (f[1:] / f[:-1] > 1.001) & np.isfinite(f[1:] / f[:-1])
    assert jump.sum() >= 3
    raw = close / f
    raw_ret, adj_ret = raw[1:][jump] / raw[:-1][jump] - 1, close[1:][jump] / close[:-1][jump] - 1
    assert np.abs(adj_ret).max() <= 0.1 + 1e-5
    assert (raw_ret < adj_ret - 0.004).all()  # the raw price drops by the dividend / split


def test_benchmark_is_cap_weighted_and_fields_are_sane(synth_market):
    panel = load_panel(synth_market)
    st = stocks(panel)
    idx = panel["close"][:, ~st][:, 0].astype(np.float64)
    close, cap = panel["close"][:, st].astype(np.float64), panel["mktcap"][:, st].astype(np.float64)
    ret = close[1:] / close[:-1] - 1
    w = np.where(np.isfinite(ret) & np.isfinite(cap[:-1]), cap[:-1], 0.0)
    expect = (np.nan_to_num(ret) * w).sum(1) / w.sum(1)
    np.testing.assert_allclose(idx[1:] / idx[:-1] - 1, expect, atol=2e-5)
    ind = panel["industry"][:, st]
    live = np.isfinite(close)
    assert np.array_equal(live, np.isfinite(ind)) and set(np.unique(ind[live])) <= set(range(10))
    assert (np.nanmax(ind, 0) == np.nanmin(ind, 0)).all()
    assert (cap[live] > 0).all() and (panel["bp"][:, st][live] > 0).all()
    chg = panel["change"][:, st][1:]
    np.testing.assert_allclose(chg[np.isfinite(ret)], 100 * ret[np.isfinite(ret)], atol=1e-3)


def test_returns_have_fat_tails_and_volatility_clustering(moderate):
    _, panel, _, _ = moderate
    close = panel["close"].astype(np.float64)
    ret = close[1:] / close[:-1] - 1
    ret = ret - np.nanmean(ret, axis=1, keepdims=True)
    z = ret / np.nanstd(ret, axis=0, keepdims=True)
    z = z[np.isfinite(z) & (z != 0)]
    kurt = np.mean(z**4) / np.mean(z**2) ** 2
    assert kurt > 4.0
    disp = np.nanmean(np.abs(ret), axis=1)
    assert np.corrcoef(disp[1:], disp[:-1])[0, 1] > 0.1


# ------------------------------------------------------------------------------ determinism


def test_same_seed_gives_byte_identical_files_whatever_the_chunking(tmp_path):
    cfg = {"n_stocks": 20, "n_days": 40, "bar_minutes": 30, "seed": 5}
    a = generate_market(tmp_path / "a", SynthConfig(chunk_days=7, **cfg))
    b = generate_market(tmp_path / "b", SynthConfig(chunk_days=40, **cfg))
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 40 * 1 + 20
    for rel in files_a:
        if rel.name == "meta.json":  # records chunk_days, otherwise identical
            meta_a, meta_b = (json.loads((d / rel).read_text()) for d in (a, b))
            assert (
                meta_a["config"].pop("chunk_days") == 7 and meta_b["config"].pop("chunk_days") == 40
            )
            assert meta_a == meta_b
            continue
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    c = generate_market(tmp_path / "c", SynthConfig(**{**cfg, "seed": 6}))
    assert (a / "features/syn00000/close.day.bin").read_bytes() != (
        c / "features/syn00000/close.day.bin"
    ).read_bytes()


def test_regenerating_into_a_market_replaces_it_but_foreign_folders_are_refused(tmp_path):
    out = generate_market(tmp_path / "m", SynthConfig(n_stocks=12, n_days=40, bar_minutes=60))
    with pytest.raises(ConfigError, match="overwrite"):
        generate_market(out, SynthConfig(n_stocks=12, n_days=30, bar_minutes=60))
    generate_market(out, SynthConfig(n_stocks=12, n_days=30, bar_minutes=60), overwrite=True)
    assert len(list((out / "minute").glob("date=*"))) == 30
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        generate_market(tmp_path / "other", SynthConfig(n_stocks=12, n_days=30))


def test_config_validation_names_the_key():
    with pytest.raises(ConfigError, match="momentum"):
        SynthConfig(strengths={"momentum": 0.1})
    with pytest.raises(ConfigError, match="bar_minutes=7"):
        SynthConfig(bar_minutes=7)
    with pytest.raises(ConfigError, match="n_stocks"):
        SynthConfig(n_stocks=0)
    assert SynthConfig(strengths={"reversal": 0.0}).strengths["leadlag"] == 0.0


# ------------------------------------------------------------------------------ the oracle


def test_oracle_rows_and_timing(synth_market):
    panel = load_panel(synth_market)
    orc = pl.read_parquet(synth_market / "oracle.parquet")
    assert orc.columns == ["datetime", "instrument", "total", *SIGNALS]
    assert orc.height == int(np.isfinite(panel["close"][:, stocks(panel)]).sum())
    parts = orc.select(pl.sum_horizontal(list(SIGNALS))).to_series().to_numpy()
    np.testing.assert_allclose(orc["total"].to_numpy(), parts, atol=1e-6)


def test_oracle_ic_matches_expectation_and_each_signal_predicts(moderate):
    out, _, label, orc = moderate
    meta = json.loads((out / "meta.json").read_text())
    ic, se = daily_ic(orc["total"], label)
    assert 0.10 <= ic <= 0.15
    assert abs(ic - meta["oracle_ic_expected"]) < 3 * se
    # the oracle is aligned with the t+1 -> t+2 return: neighbouring returns correlate less
    # (only through the persistence of the signals)
    for lag in (1, -1):
        shifted = np.full(label.shape, np.nan)
        shifted[max(lag, 0) : len(label) + min(lag, 0)] = label[
            max(-lag, 0) : len(label) - max(lag, 0)
        ]
        assert daily_ic(orc["total"], shifted)[0] < ic - 3 * se
    for name in SIGNALS:
        ic_k, se_k = daily_ic(orc[name], label)
        assert ic_k > 3 * se_k and 0.02 < ic_k < 0.09, (name, ic_k, se_k)


def test_switched_off_signal_leaves_no_trace(moderate, tmp_path):
    _, panel_on, label_on, _ = moderate
    out = generate_market(
        tmp_path / "off",
        SynthConfig(
            seed=11,
            strengths={
                "reversal": 0.0,
                "interaction": 0.06,
                "intraday": 0.06,
                "regime": 0.06,
                "leadlag": 0.06,
            },
            **{**MODERATE, "bar_minutes": 120},
        ),
    )  # daily paths do not depend on the bar length
    panel = load_panel(out)
    panel = panel.select_instruments(panel.instruments[stocks(panel)].tolist())
    orc = oracle_panel(out, panel)
    assert np.nanmax(np.abs(orc["reversal"])) == 0.0

    def minus_5d_return(p: Panel) -> np.ndarray:
        c = p["close"].astype(np.float64)
        r = np.vstack([np.full((1, c.shape[1]), np.nan), c[1:] / c[:-1] - 1])
        x = np.full(c.shape, np.nan)
        x[5:] = -sum(r[5 - k : len(r) - k] for k in range(5))
        return x

    ic_on, se_on = daily_ic(minus_5d_return(panel_on), label_on)
    ic_off, se_off = daily_ic(minus_5d_return(panel), label_of(panel))
    assert ic_on > 3 * se_on
    assert abs(ic_off) < 3 * se_off


def test_planted_structure_is_visible_in_observables(moderate):
    out, panel, _, orc = moderate
    # interaction: within an industry the oracle is a linear function of log(bp), with an
    # industry-dependent sign, so bp alone barely predicts it
    logbp, inter, ind = np.log(panel["bp"]), orc["interaction"], panel["industry"]
    t = 200
    signs = set()
    for k in np.unique(ind[t][np.isfinite(ind[t])]):
        m = (ind[t] == k) & np.isfinite(logbp[t])
        if m.sum() > 3:
            c = np.corrcoef(logbp[t][m], inter[t][m])[0, 1]
            assert abs(c) > 0.999
            signs.add(np.sign(c))
    assert signs == {-1.0, 1.0}
    # regime: the sign of the momentum coefficient flips over time
    c = panel["close"].astype(np.float64)
    mom = np.full(c.shape, np.nan)
    mom[20:] = c[15:-5] / c[:-20] - 1
    corr = np.array(
        [
            np.corrcoef(mom[t][m], orc["regime"][t][m])[0, 1]
            if (m := np.isfinite(mom[t]) & np.isfinite(orc["regime"][t])).sum() > 10
            else np.nan
            for t in range(25, len(c))
        ]
    )
    assert (corr > 0.8).sum() > 20 and (corr < -0.8).sum() > 20
    # intraday: visible from 30-minute bars (late volume surge x late return direction),
    # much less from daily OHLC shapes
    bars = load_minute(out / "minute", instruments=panel.instruments.tolist())
    with np.errstate(invalid="ignore"):
        share = bars["volume"] / np.nansum(bars["volume"], axis=1, keepdims=True)
    late = np.sign(np.log(bars["close"][:, -1] / bars["close"][:, -3])) * (
        share[:, -2:].sum(1) > 0.45
    )
    day = minute_to_daily(bars)
    shape = (
        np.minimum(day["open"], day["close"])
        - day["low"]
        - day["high"]
        + np.maximum(day["open"], day["close"])
    ) / day["open"]
    w = np.linspace(0.2, 1.0, 5)
    feat_bar, feat_day = np.full(late.shape, np.nan), np.full(late.shape, np.nan)
    for t in range(4, len(late)):
        feat_bar[t] = (late[t - 4 : t + 1] * w[:, None]).sum(0)
        feat_day[t] = (shape[t - 4 : t + 1] * w[:, None]).sum(0)
    c_bar = daily_ic(feat_bar, orc["intraday"])[0]
    c_day = daily_ic(feat_day, orc["intraday"])[0]
    assert c_bar > 0.4 and c_bar > 1.5 * c_day


def test_cli_synth_and_bad_strength(tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "data",
            "synth",
            str(tmp_path / "m"),
            "--seed",
            "3",
            "--n-stocks",
            "12",
            "--n-days",
            "30",
            "--bar-minutes",
            "30",
            "--strength",
            "leadlag=0",
        ],
    )
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["config"]["strengths"]["leadlag"] == 0.0 and meta["config"]["n_stocks"] == 12
    assert len(list((tmp_path / "m" / "minute").glob("date=*"))) == 30
    res = runner.invoke(
        app,
        [
            "data",
            "synth",
            str(tmp_path / "x"),
            "--n-stocks",
            "12",
            "--n-days",
            "30",
            "--strength",
            "alpha=1",
        ],
    )
    assert res.exit_code == 2 and "alpha" in res.output


def test_hidden_concept_groups_are_the_ones_the_lead_lag_signal_follows(tmp_path):
    strengths = dict.fromkeys(SIGNALS, 0.0) | {"leadlag": 0.06}
    cfg = SynthConfig(
        n_stocks=40, n_days=30, seed=3, concept_size=5, minute_days=0, strengths=strengths
    )
    groups = hidden_concept_groups(cfg)
    assert np.array_equal(groups, hidden_concept_groups(cfg))  # drawn from the seed
    sizes = np.bincount(groups[groups >= 0])
    assert len(sizes) == 4 and (sizes == 5).all()  # 40 // (2 * 5) groups of 5
    oracle = pl.read_parquet(generate_market(tmp_path / "m", cfg) / "oracle.parquet")
    day = oracle.filter(pl.col("datetime") == pl.col("datetime").max())
    part = dict(zip(day["instrument"].to_list(), day["leadlag"].to_numpy(), strict=True))
    value = np.array([part.get(f"SYN{k:05d}", np.nan) for k in range(40)])
    live = np.isfinite(value)  # stocks trading that day
    none = value[
        (groups == -1) & live
    ]  # outside the groups: the (z-scored) zero of no lead-lag part
    assert len(none) > 10 and np.allclose(none, none[0])
    for g in range(4):  # a group's followers share one value (their leaders' move)
        v = value[(groups == g) & live]
        followers = v[~np.isclose(v, none[0])]
        assert len(followers) >= 3 and np.allclose(followers, followers[0])


def test_concept_vol_sets_how_strongly_the_hidden_groups_co_move(tmp_path):
    def groupmate_excess_corr(concept_vol: float) -> float:
        cfg = SynthConfig(  # no planted signal: the lead-lag one also ties groupmates
            n_stocks=40,
            n_days=150,
            seed=5,
            concept_size=5,
            minute_days=0,
            concept_vol=concept_vol,
            strengths={"leadlag": 0.0},
        )
        panel = load_panel(generate_market(tmp_path / f"m{concept_vol}", cfg), ["close"])
        codes = panel.instruments.tolist()
        keep = [i for i, c in enumerate(codes) if c[3:].isdigit()]  # stocks, not the index
        close = panel.fields["close"][:, keep]
        ret = close[1:] / close[:-1] - 1
        whole = np.isfinite(ret).all(axis=0)  # listed on every day
        ret = ret[:, whole]
        corr = np.corrcoef(ret - ret.mean(axis=1, keepdims=True), rowvar=False)
        g = hidden_concept_groups(cfg)[[int(codes[i][3:]) for i in keep]][whole]
        same = (g[:, None] == g[None, :]) & (g[:, None] >= 0) & ~np.eye(len(g), dtype=bool)
        other = (g[:, None] != g[None, :]) & ~np.eye(len(g), dtype=bool)
        return float(corr[same].mean() - corr[other].mean())

    assert abs(groupmate_excess_corr(0.0)) < 0.05  # no group factor: groupmates are strangers
    assert groupmate_excess_corr(0.03) > 0.3  # a strong group factor: they move together
    with pytest.raises(ConfigError, match="concept_vol"):
        SynthConfig(concept_vol=-0.01)
