"""Quality bars of the research models (hist, igmtf, add) on synthetic oracle markets.

One market per planted signal (the others switched off), several market seeds. Each (signal,
seed, model) cell runs the product's walk-forward runner on the market's fixed
train/valid/test split and scores the test predictions against the realized label and the
oracle (`benchmarks/quality_synthetic.py`'s scoring). Signals:

- `leadlag`: followers of hidden concept groups earn their leaders' relative return of the day
  before; hist's predefined concepts are the market's industries (not the hidden groups), so
  only its hidden-concept module can find them. Bar: hist beats gru by >= 2 SE of the paired
  daily IC difference on every seed's market and on the days pooled over seeds.
- `interaction`: industry sign x value; the value field (`$bp`) is among the inputs.

    flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/quality_research_models.py
    .venv/bin/python benchmarks/quality_research_models.py --table-only
    .venv/bin/python benchmarks/quality_research_models.py --findability
    .venv/bin/python benchmarks/quality_research_models.py --probe

Results: benchmarks/out/research_quality/<signal>_s<seed>__<model>.json (skipped when present
unless --fresh); markets under benchmarks/out/research_quality/markets/.

Measured 2026-12-04 (defaults: 300 stocks x 750 days, seeds 0 1 2, 41 min on 2 cores), IC / oracle
IC per seed, mean IC, and the pooled paired daily IC difference against gru (SE):

    leadlag      gru    0.10 -0.03 0.33   0.0095
    leadlag      hist   0.12 -0.00 0.33   0.0105   +0.0010 (0.0016)  t 0.62: the 2-SE bar is not met
    leadlag      igmtf  0.13  0.00 0.25   0.0086   -0.0009 (0.0013)
    leadlag      add    0.21 -0.06 0.21   0.0082   -0.0013 (0.0031)
    interaction  gru    0.11  0.29 0.58   0.0216
    interaction  hist  -0.02  0.23 0.55   0.0176   -0.0040 (0.0024)
    interaction  igmtf  0.06  0.31 0.54   0.0201   -0.0015 (0.0018)
    interaction  add    0.11  0.23 0.56   0.0201   -0.0015 (0.0015)

No cell exceeds its oracle beyond sampling error; no research model beats the GRU here.

2026-12-05, variants (`--signals leadlag --models hist_co hist_og`): `hist_co` (links:
comovement) and `hist_og` (hist told the true hidden groups as its predefined concepts: the
ceiling of what it can take from them):

    leadlag      hist_co 0.23 -0.03 0.33   0.0119   +0.0024 (0.0025)  t 0.95
    leadlag      hist_og 0.16  0.01 0.41   0.0133   +0.0038 (0.0024)  t 1.59

Even the ceiling is not 2 SE above gru on these markets. With more power (`--out
benchmarks/out/research_quality_600 --n-stocks 600 --n-days 1000 --signals leadlag --models gru
hist hist_co hist_og`, 31 min), every model reaches about a tenth of the oracle:

    leadlag      gru     0.02  0.16  0.14   0.0062
    leadlag      hist    0.05  0.13  0.08   0.0051   -0.0011 (0.0019)
    leadlag      hist_co 0.06  0.15  0.07   0.0057   -0.0005 (0.0024)
    leadlag      hist_og 0.07  0.16  0.08   0.0062   +0.0000 (0.0023)

The groups can be found in the inputs (`--findability`: the most correlated other stock over 40
days is a groupmate for 38% / 43% / 34% of grouped stocks on seeds 0-2, chance 4.7%), but
knowing them does not help: the bar fails on what the trained networks take from the lead-lag
signal, not on finding the groups.

2026-12-05, later: linear probes showed the signal is easy to take once the groups are known (the
cap-weighted group mean of yesterday's relative return alone has test IC 0.045 / 0.057 / 0.078,
oracle 0.063 / 0.057 / 0.072), so hist_og's failure was hist's: the paper's predefined module
lets a stock read every concept through a softmax of its similarity to them, which mixes its own
concept away. `read: membership` (a member reads its own concept; in the hidden-concept module a
stock reads the stocks it linked to) fixes the ceiling; the hidden-group variants stay at gru's
level (`--signals leadlag --models hist_ogm hist_m hist_cm hist_cmw`, 300 x 750, 1 thread):

    leadlag      hist_ogm 0.52  0.55  0.81  0.0404   +0.0309 (0.0059)  t 5.28  (told the groups)
    leadlag      hist_m  -0.00 -0.00  0.24  0.0056   -0.0039 (0.0029)
    leadlag      hist_cm  0.05 -0.03  0.22  0.0057   -0.0038 (0.0040)
    leadlag      hist_cmw 0.03  0.03  0.33  0.0088   -0.0007 (0.0042)  (5 links, 250 days)

What co-movement links can carry at best (`--probe`: test IC of the mean of yesterday's relative
return over each stock's k most correlated stocks, trailing W days; IC over all stocks, as a
model's is measured, the true-group features 0 outside the groups): W 250, k 1: 0.0173 / 0.0152 /
0.0129 (the linked stock is a groupmate for 62% / 74% / 45% of grouped stocks); W 400, k 5:
0.0130 / 0.0191 / 0.0133; the true groups, equal weights without the stock itself: 0.0303 /
0.0355 / 0.0405; cap-weighted: 0.0381 / 0.0420 / 0.0580. Correlating the industry residuals (what
the predefined concepts leave unexplained) finds groupmates far more often (W 400, k 1: 91% /
91% / 85%) but carries no more (0.0182 / 0.0147 / 0.0093): one groupmate is most often a follower,
whose return is a noisy copy of the group factor, while the signal is the leaders' move. (A
previous version of this note compared the links' IC over all stocks with the true groups' over
grouped stocks only, and said "a quarter".) Reading the residual links cap-weighted, as the
predefined concepts are (a group's leaders are its largest members), adds little: the best, 10
links over 400 days, 0.0190 / 0.0191 / 0.0153 (equal weights 0.0174 / 0.0170 / 0.0141). On
these markets a hidden-concept read carries about two fifths of what the true groups carry, and
gru already takes 0.0095 from a stock's own returns (which share the group factor).

2026-12-05, stop 25: the groups' common factor (daily vol 0.008, now `SynthConfig.concept_vol`)
leaves them near the detectability edge (industry residuals, seed 0: mean within-group
correlation 0.16, a group block's eigenvalue about 1 + 14 x 0.16 = 3.3 against the
Marchenko-Pastur edge 3.48 for 300 stocks over 400 days). One stronger setting, fixed before any
cell ran, bar judged on hist_cmw (`--out benchmarks/out/research_quality_cv16 --concept-vol 0.016
--signals leadlag --models gru hist hist_cmw hist_ogm`, 12 cells, 11 min on 2 cores): findability
0.896 / 0.914 / 0.845 (default markets 0.381 / 0.43 / 0.34); probe, 5 most correlated over 250
days 0.0259 / 0.0385 / 0.0415 vs the cap-weighted true group 0.0391 / 0.0500 / 0.0621.

    leadlag      gru      0.24  0.25  0.48   0.0222  (oracle 0.0668)
    leadlag      hist     0.25  0.27  0.42   0.0214  -0.0008 (0.0007)  t -1.24
    leadlag      hist_cmw 0.40  0.56  0.58   0.0345  +0.0123 (0.0040)  t  3.10  PASS (pooled)
    leadlag      hist_ogm 0.54  0.76  0.85   0.0486  +0.0264 (0.0056)  t  4.74  (told the groups)

hist_cmw per seed: +0.0097 (0.0067), +0.0193 (0.0074), +0.0077 (0.0065): positive on every seed,
2 SE on seed 1 only. With the groups visible in co-movement the hidden-concept module (links by
co-movement, each stock reading its 5 links) takes them; the paper's similarity read does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_synthetic import (
    _HISTORY,
    CS_FILL,
    LABEL_PROCS,
    HistoryExecutor,
    _atomic_json,
    market_config,
    score_against_oracle,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "research_quality"
SIGNALS = ("leadlag", "interaction")
FEATURES = {
    "leadlag": {"RET": "$close/Ref($close,1)-1"},
    "interaction": {"RET": "$close/Ref($close,1)-1", "BP": "$bp"},
}
BASE = {
    "input_kind": "daily_seq",
    "seq_len": 40,
    "hidden_size": 32,
    "num_layers": 1,
    "epochs": 8,
    "patience": 3,
    "lr": 2e-3,
    "threads": 2,
    "progress": False,
    "early_stop_metric": "ic",
}
MODELS: dict[str, dict[str, Any]] = {
    "gru": {},
    "hist": {"concepts": "industry"},  # concept_dir = the market (industry, mktcap fields)
    # hist whose hidden concepts link stocks by the co-movement of their input paths
    "hist_co": {"concepts": "industry", "links": "comovement"},
    # diagnostic ceiling: hist told the hidden groups (they replace the industries)
    "hist_og": {"concepts": "industry"},
    # hist whose stocks read the concept they belong to (predefined) or joined (hidden)
    "hist_m": {"concepts": "industry", "read": "membership"},
    "hist_cm": {"concepts": "industry", "links": "comovement", "read": "membership"},
    "hist_ogm": {"concepts": "industry", "read": "membership"},
    # + each stock reads its 5 most co-moving stocks, co-movement over the last 250 days
    "hist_cmw": {
        "concepts": "industry",
        "links": "comovement",
        "read": "membership",
        "link_k": 5,
        "link_window": 250,
    },
    "igmtf": {"k_day": 10, "n_neighbor": 10},
    "add": {"days_per_batch": 4},
}


def ensure_market(signal: str, seed: int, args) -> Path:
    """The cached market of (signal, seed), generated when absent. A cached market of another
    configuration is regenerated, unless cell results trained on it are in `args.out` (they
    would be mixed with cells of the new market): that is an error naming what differs."""
    from seqalpha.data.synthetic import SynthConfig, generate_market

    cfg = market_config(signal, args.n_stocks, args.n_days, seed, args.strength)
    if args.concept_vol is not None:
        cfg = dataclasses.replace(cfg, concept_vol=args.concept_vol)
    want = json.loads(json.dumps(cfg.to_dict()))
    path = Path(args.out) / "markets" / f"{signal}_s{seed}"
    meta = path / "meta.json"
    if meta.is_file():
        # a market written before a generator parameter existed had that parameter's default
        have = (
            json.loads(json.dumps(SynthConfig().to_dict())) | json.loads(meta.read_text())["config"]
        )
        if have == want:
            return path
        cells = sorted(Path(args.out).glob(f"{signal}_s{seed}__*.json"))
        if cells:
            diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
            raise SystemExit(
                f"{path}: cached market differs from the one asked for {diff} (cached, asked), "
                f"and {len(cells)} cell result(s) in {args.out} were trained on it, e.g. "
                f"{cells[0].name}: pass another --out, or remove those results"
            )
    t0 = time.perf_counter()
    generate_market(path, cfg, overwrite=path.exists())
    print(f"[market] {signal} seed {seed}: {time.perf_counter() - t0:.0f}s", flush=True)
    return path


def market_groups(market: Path, codes: np.ndarray) -> np.ndarray:
    """The hidden concept group [N] (-1: none) of each code (`SYNnnnnn`; others -1) of the
    synthetic market `market`, as its generator drew them."""
    from seqalpha.data.synthetic import SynthConfig, hidden_concept_groups

    meta = json.loads((market / "meta.json").read_text())
    groups = hidden_concept_groups(SynthConfig(**meta["config"]))
    k = np.array([int(c[3:]) if c[3:].isdigit() else -1 for c in codes.tolist()])
    return np.where(k >= 0, groups[np.maximum(k, 0)], -1)


def groups_store(market: Path) -> Path:
    """A store beside `market` whose `industry` field is the hidden concept group (NaN outside
    the groups) and whose `mktcap` is the market's: the concepts of the `hist_og` ceiling."""
    from seqalpha.data.panel import Panel
    from seqalpha.data.qlib_bin import load_panel, read_calendar, write_store

    out = market.with_name(market.name + "_groups")
    meta = (market / "meta.json").read_text()
    done = out / "meta.json"
    if done.is_file() and done.read_text() == meta:
        return out
    panel = load_panel(market, ["industry", "mktcap"])
    g = market_groups(market, panel.instruments)
    industry = np.where(np.isfinite(panel.fields["industry"]) & (g >= 0), g, np.nan)
    fields = {"industry": industry, "mktcap": panel.fields["mktcap"]}
    write_store(
        out,
        Panel(panel.dates, panel.instruments, fields),
        calendar=read_calendar(market),
        overwrite=True,
    )
    done.write_text(meta)
    return out


def findability(market: Path, window: int = 40, every: int = 50) -> tuple[float, float]:
    """How well the hidden groups show in the returns: the share of grouped stocks whose most
    correlated other stock over `window` days (returns demeaned per day) is a groupmate, averaged
    over windows ending every `every` days; and that share by chance."""
    from seqalpha.data.qlib_bin import load_panel

    panel = load_panel(market, ["close"], universe="market")
    g = market_groups(market, panel.instruments)
    close = panel.fields["close"]
    r = close[1:] / close[:-1] - 1
    r = r - np.nanmean(r, axis=1, keepdims=True)
    hits = []
    for end in range(window, len(r), every):
        w = r[end - window : end]
        ok = np.isfinite(w).all(axis=0)
        z = (w - w.mean(axis=0)) / (w.std(axis=0) + 1e-12)
        corr = z.T @ z / window
        np.fill_diagonal(corr, -np.inf)
        corr[:, ~ok] = -np.inf
        rows = ok & (g >= 0)
        hits.append(np.mean(g[corr[rows].argmax(axis=1)] == g[rows]))
    sizes = np.bincount(g[g >= 0])
    chance = (sizes * (sizes - 1)).sum() / (sizes.sum() * (len(g) - 1))
    return float(np.mean(hits)), float(chance)


def link_probe(
    market: Path, windows=(250, 400), ks=(1, 5, 10)
) -> dict[str, tuple[float, float, float]]:
    """What a concept read can carry on a lead-lag market, without training: the mean test IC of
    yesterday's relative return averaged over the true group (cap-weighted, or equal-weighted
    without the stock itself; 0 outside the groups) and over each stock's k most correlated
    stocks (trailing W days, the hidden-concept module's co-movement links; correlated on the
    relative returns, or on their industry residuals: what the predefined concepts leave
    unexplained; residual links are also read cap-weighted, as the predefined concepts are).
    Per feature: (IC over all stocks, as a model's IC is measured; IC over the grouped stocks
    only; share of links that are groupmates)."""
    from seqalpha.data.qlib_bin import load_panel
    from seqalpha.features.processors import Neutralize
    from seqalpha.xsection import daily_ic

    split = json.loads((market / "meta.json").read_text())["split"]
    panel = load_panel(market, ["close", "mktcap", "industry"], universe="market")
    g = market_groups(market, panel.instruments)
    close, cap = panel.fields["close"], panel.fields["mktcap"]
    rel = np.full_like(close, np.nan)
    rel[1:] = close[1:] / close[:-1] - 1
    rel -= np.nanmean(rel, axis=1, keepdims=True)
    industry = panel.fields["industry"]  # float codes, NaN unknown
    codes = np.where(np.isfinite(industry), industry, -1).astype(np.int64)
    resid = Neutralize(industry=codes).transform(rel)  # minus the day's industry mean
    y = np.full_like(close, np.nan)  # the label of date t: the return from t + 1 to t + 2
    y[:-2] = rel[2:]
    days = np.array([str(d) for d in panel.dates])
    test = np.nonzero((days >= split["test"][0]) & (days <= split["test"][1]))[0]
    G, grouped = int(g.max()) + 1, g >= 0
    feats: dict[str, np.ndarray] = {}
    shares: dict[str, list[float]] = {}
    for name in ("true group, cap-weighted", "true group, equal, others"):
        feats[name] = np.full((len(test), len(g)), np.nan)
    for n, t in enumerate(test):
        ok = np.isfinite(rel[t]) & grouped
        w = np.where(ok & np.isfinite(cap[t]), cap[t], 0.0)
        num = np.bincount(g[ok], weights=(w * rel[t])[ok], minlength=G)
        den = np.bincount(g[ok], weights=w[ok], minlength=G)
        gi = np.maximum(g, 0)
        feats["true group, cap-weighted"][n] = np.where(
            grouped, num[gi] / np.maximum(den[gi], 1e-12), 0.0
        )
        tot = np.bincount(g[ok], weights=rel[t][ok], minlength=G)
        cnt = np.bincount(g[ok], minlength=G)
        own = np.where(ok, rel[t], 0.0)
        feats["true group, equal, others"][n] = np.where(
            grouped, (tot[gi] - own) / np.maximum(cnt[gi] - ok, 1), 0.0
        )
        for W, (on, path) in itertools.product(windows, (("", rel), (" of residuals", resid))):
            z = np.nan_to_num(path[t - W + 1 : t + 1])
            z = (z - z.mean(axis=0)) / (z.std(axis=0) + 1e-12)
            corr = z.T @ z / W
            np.fill_diagonal(corr, -np.inf)
            order = np.argsort(-corr, axis=1)
            for k in ks:
                name = f"{k} most correlated{on}, {W} days"
                nb = order[:, :k]
                share = float(np.mean(g[nb][grouped] == g[grouped, None]))
                feats.setdefault(name, np.full((len(test), len(g)), np.nan))
                feats[name][n] = np.nanmean(rel[t][nb], axis=1)
                shares.setdefault(name, []).append(share)
                if on:  # the leaders are a group's largest members: weigh the links by cap
                    capped = f"{name}, cap-weighted"
                    c = np.where(np.isfinite(cap[t]) & np.isfinite(rel[t]), cap[t], 0.0)[nb]
                    feats.setdefault(capped, np.full((len(test), len(g)), np.nan))
                    feats[capped][n] = (c * np.nan_to_num(rel[t][nb])).sum(1) / np.maximum(
                        c.sum(1), 1e-12
                    )
                    shares.setdefault(capped, []).append(share)

    def ic(f: np.ndarray) -> float:
        return float(np.nanmean(daily_ic(f, y[test])))

    return {
        name: (ic(f), ic(np.where(grouped, f, np.nan)), float(np.mean(shares.get(name, [1.0]))))
        for name, f in feats.items()
    }


def registered(model: str) -> str:
    """The registered model name of a cell's model (a variant is `name_suffix`)."""
    return model.split("_")[0]


def pipeline_dict(signal: str, model: str, market: Path) -> dict:
    split = json.loads((market / "meta.json").read_text())["split"]
    params = {**BASE, **MODELS[model]}
    if registered(model) == "hist":
        params["concept_dir"] = str(groups_store(market) if model.startswith("hist_og") else market)
    # ADD reads raw labels (its market label is the day mean); the others cs-z-scored ones
    labels = [{"name": "drop_missing_label"}] if model == "add" else LABEL_PROCS
    return {
        "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
        "features": {"library": "none", "extra": dict(FEATURES[signal])},
        "labels": {"horizons": [1], "offset": 1, "kind": "raw"},
        "processors": {"features": CS_FILL, "labels": labels},
        "model": {"name": registered(model), "params": params},
        "walkforward": {
            "schedule": "fixed",
            "train": split["train"],
            "valid": split["valid"],
            "test": split["test"],
        },
        "executor": {"kind": "local"},
        "seeds": [0],
        "tracking": {"enabled": False},
    }


_INPUTS: dict[str, Any] = {}


def run_cell(signal: str, seed: int, model: str, args) -> dict:
    from seqalpha.config import config_from_dict
    from seqalpha.train.inputs import build_inputs
    from seqalpha.train.walkforward import collect_predictions, run_walkforward

    market = ensure_market(signal, seed, args)
    cfg = config_from_dict(pipeline_dict(signal, model, market), source=f"{signal}/{model}")
    key = str(market)
    if key not in _INPUTS:
        _INPUTS.clear()
        _INPUTS[key] = build_inputs(cfg.data, cfg.features, cfg.labels)
    run_dir = Path(args.out) / "runs" / f"{signal}_s{seed}__{model}"
    # a cell without its result json is trained anew: a run directory left by an earlier
    # version of the model (same params) would otherwise be resumed
    shutil.rmtree(run_dir, ignore_errors=True)
    _HISTORY.clear()
    t0 = time.perf_counter()
    state = run_walkforward(
        cfg, run_dir, inputs=_INPUTS[key], fresh=True, executor=HistoryExecutor()
    )
    preds = collect_predictions(run_dir, state.windows)
    res = score_against_oracle(preds, pl.read_parquet(market / "oracle.parquet"), signal)
    hist = next(iter(_HISTORY.values()), None)
    epoch_s = [h["train_seconds"] for h in hist["history"]] if hist else []
    res.update(
        {
            "signal": signal,
            "seed": seed,
            "model": model,
            "params": cfg.model.params,
            "best_epoch": hist["best_epoch"] if hist else None,
            "epoch_seconds": epoch_s,
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )
    return res


def paired(a: dict, b: dict) -> tuple[float, float, int]:
    """Mean, SE and count of the daily IC difference a - b on their common test days."""
    da = dict(zip(a["dates"], a["daily_ic"], strict=True))
    db = dict(zip(b["dates"], b["daily_ic"], strict=True))
    d = np.array([da[k] - db[k] for k in sorted(set(da) & set(db))])
    if len(d) < 2:
        return float("nan"), float("nan"), len(d)
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d))), len(d)


def print_tables(results: dict[str, dict], seeds: list[int]) -> None:
    print(
        f"\n{'signal':12s} {'model':6s} "
        + " ".join(f"{'IC/oracle s' + str(s):>14s}" for s in seeds)
        + f" {'mean IC':>8s} {'mean oracle':>11s} {'ratio':>6s} {'leak':>5s} {'s/epoch':>8s}"
    )
    for signal in SIGNALS:
        for model in MODELS:
            cells = [results.get(f"{signal}_s{s}__{model}") for s in seeds]
            if not any(cells):
                continue
            ratios = [f"{c['ratio']:14.2f}" if c else f"{'-':>14s}" for c in cells]
            got = [c for c in cells if c]
            ic = np.mean([c["ic"] for c in got])
            orc = np.mean([c["oracle_ic"] for c in got])
            leak = "ok" if all(c["leak_ok"] for c in got) else "LEAK"
            ep = np.median([s for c in got for s in c["epoch_seconds"]] or [np.nan])
            print(
                f"{signal:12s} {model:7s} "
                + " ".join(ratios)
                + f" {ic:8.4f} {orc:11.4f} {ic / orc:6.2f} {leak:>5s} {ep:8.1f}"
            )
    print("\npaired daily IC difference vs gru (mean, SE = std/sqrt(days)):")
    for signal in SIGNALS:
        for model in MODELS:
            if model == "gru":
                continue
            diffs = []
            for s in seeds:
                a, b = results.get(f"{signal}_s{s}__{model}"), results.get(f"{signal}_s{s}__gru")
                if a and b:
                    m, se, n = paired(a, b)
                    diffs.append((s, m, se, n, a, b))
            if not diffs:
                continue
            per = "  ".join(f"s{s}: {m:+.4f} ({se:.4f})" for s, m, se, _, _, _ in diffs)
            # pooled: all seeds' paired daily differences together
            pooled = np.concatenate(
                [
                    np.array(
                        [
                            dict(zip(a["dates"], a["daily_ic"], strict=True))[k]
                            - dict(zip(b["dates"], b["daily_ic"], strict=True))[k]
                            for k in sorted(set(a["dates"]) & set(b["dates"]))
                        ]
                    )
                    for _, _, _, _, a, b in diffs
                ]
            )
            pm, pse = pooled.mean(), pooled.std(ddof=1) / math.sqrt(len(pooled))
            verdict = "PASS" if pm > 2 * pse else "FAIL"
            if registered(model) != "hist" or signal != "leadlag":
                verdict = ""  # the bar is hist's on the lead-lag signal
            elif model.startswith("hist_og"):
                verdict = "(ceiling: told the groups)"
            print(
                f"  {signal:12s} {model:7s} {per}  pooled {pm:+.4f} ({pse:.4f}) "
                f"t={pm / pse:5.2f} {verdict}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--n-stocks", type=int, default=300)
    ap.add_argument("--n-days", type=int, default=750)
    ap.add_argument("--strength", type=float, default=0.06)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--signals", nargs="*", default=list(SIGNALS))
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument(
        "--concept-vol",
        type=float,
        default=None,
        help="daily vol of the hidden groups' common factor (default: the generator's); "
        "cells of another value need another --out",
    )
    ap.add_argument("--epochs", type=int, default=BASE["epochs"])
    ap.add_argument("--seq-len", type=int, default=BASE["seq_len"])
    ap.add_argument("--threads", type=int, default=BASE["threads"])
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument(
        "--findability",
        action="store_true",
        help="print how often a stock's most correlated neighbour (40 days) is a groupmate",
    )
    ap.add_argument(
        "--probe",
        action="store_true",
        help="print what group means and co-movement links carry on the lead-lag markets",
    )
    args = ap.parse_args(argv)
    if args.findability:
        for seed in args.seeds:
            hit, chance = findability(ensure_market("leadlag", seed, args))
            print(
                f"leadlag seed {seed}: top-1 neighbour a groupmate {hit:.3f} (chance {chance:.3f})"
            )
        return 0
    if args.probe:
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)  # empty days
        for seed in args.seeds:
            probe = link_probe(ensure_market("leadlag", seed, args))
            for name, (ic, ic_in, share) in probe.items():
                print(
                    f"leadlag seed {seed}: {name:58s} test IC {ic:.4f}  in groups {ic_in:.4f}"
                    f"  groupmates {share:.2f}"
                )
        return 0
    BASE.update(epochs=args.epochs, seq_len=args.seq_len, threads=args.threads)
    results: dict[str, dict] = {}
    for path in Path(args.out).glob("*__*.json"):
        results[path.stem] = json.loads(path.read_text())
    if not args.table_only:
        for signal in args.signals:
            for seed in args.seeds:
                for model in args.models:
                    key = f"{signal}_s{seed}__{model}"
                    path = Path(args.out) / f"{key}.json"
                    if path.exists() and not args.fresh:
                        continue
                    print(f"[cell] {key} ...", flush=True)
                    res = run_cell(signal, seed, model, args)
                    _atomic_json(res, path)
                    results[key] = res
                    print(
                        f"[cell] {key}: IC {res['ic']:.4f} oracle {res['oracle_ic']:.4f} "
                        f"ratio {res['ratio']:.2f} best epoch {res['best_epoch']} "
                        f"({res['seconds']:.0f}s)",
                        flush=True,
                    )
    print_tables(results, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
