"""A synthetic A-share-like market with planted, known signals (the oracle), written as a Qlib
store plus date-partitioned minute bars.

Timing convention: every planted signal uses information up to the close of day t and moves the
expected return from the close of t+1 to the close of t+2 (Qlib's label
`Ref($close,-2)/Ref($close,-1)-1` at t). `oracle.parquet` holds that expectation per (date, live
stock), in total and per signal. The oracle knows the hidden states (regime, concept groups,
intraday flow events), so it is an upper bound on what a model can reach.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from seqalpha.data.minute import A_SHARE, bars_frame, write_minute_day, write_minute_meta
from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import write_store_into
from seqalpha.data.safety import check_output_dir, staged_dir
from seqalpha.errors import ConfigError

SIGNALS = ("reversal", "interaction", "intraday", "regime", "leadlag")
DEFAULT_STRENGTHS = {
    "reversal": 0.06,
    "interaction": 0.06,
    "intraday": 0.06,
    "regime": 0.06,
    "leadlag": 0.06,
}
INDEX_CODE = "SYN_INDEX"
DAILY_FIELDS = (
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
)
STYLE_VOLS = np.array([0.004, 0.003, 0.004, 0.003])  # size, value, momentum, volatility
T_DOF = 4.0
ORACLE_GROUP_DAYS = 250  # days per row group of oracle.parquet


@dataclass
class SynthConfig:
    """Size, seed and signal strengths of a synthetic market.

    strengths: signal name -> strength, roughly that signal's oracle IC (0 switches it off).
    bar_minutes: length of the written minute bars (1 -> 240 bars a day; 30 -> 8).
    """

    n_stocks: int = 300
    n_days: int = 750
    start: str = "2020-01-02"
    seed: int = 0
    bar_minutes: int = 1
    n_industries: int = 10
    strengths: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_STRENGTHS))
    chunk_days: int = 50
    minute_days: int | None = None  # minute bars of the last k days only (None: every day)
    limit: float = 0.10
    idio_vol: float = 0.02
    market_vol: float = 0.012
    p_suspend: float = 0.002
    frac_late_listing: float = 0.10
    frac_delisting: float = 0.05
    p_corporate_action: float = 1 / 250
    regime_duration: float = 60.0
    # idiosyncratic-return scale in regime +1 relative to -1: a footprint of the hidden regime
    # in cross-sectional dispersion (1.0: none; the regime is then invisible in market state)
    regime_dispersion: float = 1.0
    concept_size: int = 15
    # daily volatility of each hidden concept group's common return factor: how visible the
    # groups are in co-movement (at 0.008 the groups sit near the detectability edge of a
    # 300-stock correlation matrix over a few hundred days)
    concept_vol: float = 0.008
    p_flow_event: float = 0.2
    p_decoy: float = 0.8
    valid_fraction: float = 0.15
    test_fraction: float = 0.25

    def __post_init__(self) -> None:
        for name in (
            "n_stocks",
            "n_days",
            "n_industries",
            "chunk_days",
            "bar_minutes",
            "concept_size",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"SynthConfig.{name}={value!r}: must be a positive integer")
        if self.minute_days is not None and (
            not isinstance(self.minute_days, (int, np.integer)) or self.minute_days < 0
        ):
            raise ConfigError(
                f"SynthConfig.minute_days={self.minute_days!r}: must be None or an integer >= 0"
            )
        if self.n_stocks < 10:
            raise ConfigError(f"SynthConfig.n_stocks={self.n_stocks}: need at least 10 stocks")
        if self.n_days < 10:
            raise ConfigError(f"SynthConfig.n_days={self.n_days}: need at least 10 days")
        unknown = sorted(set(self.strengths) - set(SIGNALS))
        if unknown:
            raise ConfigError(
                f"SynthConfig.strengths: unknown signal(s) {unknown}; known: {list(SIGNALS)}"
            )
        merged = dict.fromkeys(SIGNALS, 0.0)
        merged.update({k: float(v) for k, v in self.strengths.items()})
        for k, v in merged.items():
            if not math.isfinite(v) or v < 0:
                raise ConfigError(f"SynthConfig.strengths[{k!r}]={v}: must be finite and >= 0")
        self.strengths = merged
        try:
            np.datetime64(self.start, "D")
        except ValueError:
            raise ConfigError(f"SynthConfig.start={self.start!r}: not a date") from None
        A_SHARE.bar_end_minutes(
            self.bar_minutes
        )  # ConfigError when the bars do not tile the session
        for name in ("limit", "valid_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"SynthConfig.{name}={getattr(self, name)}: must be in (0, 1)")
        for name in (
            "p_suspend",
            "frac_late_listing",
            "frac_delisting",
            "p_corporate_action",
            "p_flow_event",
            "p_decoy",
        ):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"SynthConfig.{name}={getattr(self, name)}: must be in [0, 1)")
        if not (math.isfinite(self.concept_vol) and self.concept_vol >= 0):
            raise ConfigError(
                f"SynthConfig.concept_vol={self.concept_vol}: must be finite and >= 0"
            )
        if not (math.isfinite(self.regime_dispersion) and self.regime_dispersion > 0):
            raise ConfigError(
                f"SynthConfig.regime_dispersion={self.regime_dispersion}: must be finite and > 0"
            )
        if self.regime_duration <= 1:
            raise ConfigError(
                f"SynthConfig.regime_duration={self.regime_duration}: must exceed 1 day"
            )

    def to_dict(self) -> dict:
        return asdict(self)


def _zscore(x: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Cross-sectional z-score over live stocks [N] (0 elsewhere, all 0 when constant)."""
    out = np.zeros(x.shape, dtype=np.float64)
    v = x[live]
    if v.size < 2:
        return out
    sd = v.std()
    if sd > 1e-12:
        out[live] = (v - v.mean()) / sd
    return out


def _student_t(rng: np.random.Generator, size) -> np.ndarray:
    """Unit-variance Student-t draws (fat tails)."""
    return rng.standard_t(T_DOF, size=size) / math.sqrt(T_DOF / (T_DOF - 2))


def _minute_profiles() -> tuple[np.ndarray, np.ndarray]:
    """Per-minute (240) U-shaped volume and variance weights of an A-share day, each sums to 1."""
    u = (np.arange(240) + 0.5) / 240
    vol = 0.55 + 2.2 * (2 * u - 1) ** 2 + 1.2 * np.exp(-np.arange(240) / 8.0)
    vol[120:] += 0.4 * np.exp(-np.arange(120) / 6.0)  # re-opening after lunch
    var = 0.6 + 1.6 * (2 * u - 1) ** 2 + 1.5 * np.exp(-np.arange(240) / 10.0)
    return vol / vol.sum(), var / var.sum()


class _Market:
    """The day-by-day simulation state; `step(t)` advances one day for all stocks at once."""

    def __init__(self, cfg: SynthConfig):
        self.cfg = cfg
        N, T = cfg.n_stocks, cfg.n_days
        rng = np.random.default_rng([cfg.seed, 0])
        self.rng = rng
        self.N, self.T = N, T
        # static structure
        sizes = rng.dirichlet(np.full(cfg.n_industries, 3.0))
        self.industry = rng.choice(cfg.n_industries, size=N, p=sizes)
        self.ind_sign = np.where(rng.permutation(cfg.n_industries) % 2 == 0, 1.0, -1.0)
        self.beta = np.clip(rng.normal(1.0, 0.25, N), 0.3, 1.8)
        self.sigma = cfg.idio_vol * np.exp(rng.normal(0.0, 0.3, N))
        self.h = self.sigma**2
        self.garch_a, self.garch_b = 0.08, 0.90
        self.h_mkt = cfg.market_vol**2
        self.shares = np.exp(rng.normal(math.log(8e8), 1.0, N))
        self.raw_close = np.exp(rng.normal(math.log(12.0), 0.6, N))
        self.factor = np.ones(N)
        self.turnover_mean = np.log(0.012) + rng.normal(0.0, 0.5, N)
        self.turnover_state = np.zeros(N)
        self.value_z = rng.normal(0.0, 1.0, N)
        # life: listing and delisting days
        self.list_day = np.zeros(N, dtype=np.int64)
        late = rng.random(N) < cfg.frac_late_listing
        first = min(20, T // 3)
        self.list_day[late] = rng.integers(first, max(first + 1, int(T * 0.8)), late.sum())
        self.delist_day = np.full(N, T + 10, dtype=np.int64)
        dead = (rng.random(N) < cfg.frac_delisting) & ~late
        self.delist_day[dead] = rng.integers(int(T * 0.3), T, dead.sum())
        # hidden concept groups: leaders are the largest members
        self.concept = np.full(N, -1, dtype=np.int64)
        self.leader = np.zeros(N, dtype=bool)
        size = max(2, min(cfg.concept_size, N // 2))
        n_groups = max(1, N // (2 * size))
        members = rng.permutation(N)[: n_groups * size].reshape(n_groups, size)
        cap0 = self.shares * self.raw_close
        for g, idx in enumerate(members):
            self.concept[idx] = g
            top = idx[np.argsort(-cap0[idx])[: max(1, size // 5)]]
            self.leader[top] = True
        self.n_groups = n_groups
        self.follower = (self.concept >= 0) & ~self.leader
        self.regime = 1.0 if rng.random() < 0.5 else -1.0
        # rolling state
        self.ret_hist = np.zeros((20, N))
        self.flow_hist = np.zeros((5, N))
        self.pending = [np.zeros(N), np.zeros(N)]
        self.susp_left = np.zeros(N, dtype=np.int64)
        self.sig_ref = math.sqrt(cfg.idio_vol**2 * 1.1 + 0.008**2 + np.sum(STYLE_VOLS**2))
        self.prev_cap = cap0
        self.prev_alive = np.zeros(N, dtype=bool)
        self.index_level = 1000.0
        # intraday geometry
        B = 240 // cfg.bar_minutes
        vol_min, var_min = _minute_profiles()
        self.B = B
        self.vol_prof = vol_min.reshape(B, -1).sum(axis=1)
        self.var_prof = var_min.reshape(B, -1).sum(axis=1)
        ends = A_SHARE.bar_end_minutes(cfg.bar_minutes)
        self.bar_end_minutes = ends
        self.late = ends > ends[-1] - 60
        self.n_late = int(self.late.sum())

    # ------------------------------------------------------------------------------------------
    def step(self, t: int) -> dict:
        """Simulate day t: daily raw values [N], the day's bars [B, N+1] and oracle parts."""
        cfg, rng, N = self.cfg, self.rng, self.N
        alive = (self.list_day <= t) & (t < self.delist_day)
        new = alive & ~self.prev_alive
        # suspensions: spells starting with probability p_suspend, geometric length (mean 5 days)
        start = alive & (self.susp_left == 0) & (rng.random(N) < cfg.p_suspend) & ~new
        self.susp_left[start] = rng.geometric(0.2, start.sum())
        susp = alive & (self.susp_left > 0)
        self.susp_left = np.maximum(self.susp_left - 1, 0)
        trade = alive & ~susp

        # returns: market (GARCH) + industries + styles + concepts + planted alpha + idio (GARCH, t)
        z_m = float(_student_t(rng, None))  # one draw
        f_m = math.sqrt(self.h_mkt) * z_m
        self.h_mkt = cfg.market_vol**2 * 0.05 + 0.10 * f_m**2 + 0.85 * self.h_mkt
        stress = math.sqrt(self.h_mkt) / cfg.market_vol
        f_ind = rng.normal(0.0, 0.008, cfg.n_industries) * stress
        f_sty = rng.normal(0.0, 1.0, 4) * STYLE_VOLS
        f_con = rng.normal(0.0, 1.0, self.n_groups) * cfg.concept_vol
        eps = _student_t(rng, N)
        alpha = self.pending.pop(0)
        cap = self.shares * self.raw_close
        expo = np.stack(
            [
                _zscore(np.log(cap), alive),
                self.value_z,
                _zscore(self.ret_hist[:15].sum(0), alive),
                _zscore(self.ret_hist.std(0), alive),
            ],
            axis=1,
        )
        idio = np.sqrt(self.h) * eps
        systematic = self.beta * f_m + f_ind[self.industry] + expo @ f_sty
        systematic = systematic + np.where(
            self.concept >= 0, f_con[np.maximum(self.concept, 0)], 0.0
        )
        disp = cfg.regime_dispersion if self.regime > 0 else 1.0  # not fed back into GARCH
        R = np.clip(systematic + alpha + disp * idio, -cfg.limit, cfg.limit)
        R = np.where(trade, R, 0.0)
        noise = (R - alpha)[trade]
        noise_var = float(noise.var()) if noise.size > 1 else 0.0
        self.h = (
            self.sigma**2 * (1 - self.garch_a - self.garch_b)
            + self.garch_a * idio**2
            + self.garch_b * self.h
        )

        # corporate actions (ex-dates): dividend and sometimes a split; raw reference price drops
        event = trade & ~new & (rng.random(N) < cfg.p_corporate_action)
        div = rng.uniform(0.005, 0.03, N)
        split = np.where(rng.random(N) < 0.3, rng.choice([1.5, 2.0], N), 1.0)
        ref = self.raw_close.copy()
        ref[event] = self.raw_close[event] * (1 - div[event]) / split[event]
        self.factor[event] *= self.raw_close[event] / ref[event]
        self.shares[event] *= split[event]
        close = ref * (1 + R)

        # intraday flow events (hidden): late-session volume surge with a directed late move,
        # offset earlier in the day so the day's return is unchanged
        flow = trade & (rng.random(N) < cfg.p_flow_event)
        flow_sign = np.where(rng.random(N) < 0.5, 1.0, -1.0) * flow
        # decoys: the same late move without the volume surge (not predictive), so that daily
        # high/low/open/close shapes reveal the flow direction only weakly
        decoy = trade & ~flow & (rng.random(N) < cfg.p_decoy)
        late_move = flow_sign + np.where(rng.random(N) < 0.5, 1.0, -1.0) * decoy
        bars = self._bars(t, ref, R, trade, susp, alive, late_move)

        # daily volume regime, split over bars by the U-shaped profile (+ the late surge)
        self.turnover_state = 0.9 * self.turnover_state + rng.normal(0.0, 0.25, N)
        turnover = np.exp(self.turnover_mean + self.turnover_state + 8.0 * np.abs(R))
        day_vol = self.shares * turnover
        brng = np.random.default_rng([cfg.seed, 2, t])
        share = self.vol_prof[:, None] * np.exp(brng.normal(0.0, 0.3, (self.B, N)))
        share[self.late] *= np.where(flow_sign != 0, 2.5, 1.0)
        share /= share.sum(axis=0, keepdims=True)
        vol = np.round(day_vol * share / 100.0) * 100.0
        vol[:, ~trade] = 0.0
        typical = (bars["high"] + bars["low"] + bars["close"]) / 3.0
        amount = vol * typical
        bars["volume"], bars["amount"] = vol, amount

        # characteristics known at the close of t, and the planted signals for t+2
        self.ret_hist = np.roll(self.ret_hist, -1, axis=0)
        self.ret_hist[-1] = R
        self.flow_hist = np.roll(self.flow_hist, -1, axis=0)
        self.flow_hist[-1] = flow_sign
        self.value_z = 0.995 * self.value_z + math.sqrt(1 - 0.995**2) * rng.normal(0.0, 1.0, N)
        if rng.random() < 1.0 / cfg.regime_duration:
            self.regime = -self.regime
        if trade.sum() > 1:
            sd = R[trade].std()
            self.sig_ref = 0.95 * self.sig_ref + 0.05 * sd
        lead = np.zeros(self.n_groups)
        rel = R - (R[trade].mean() if trade.any() else 0.0)
        lead_ok = self.leader & trade
        np.add.at(lead, self.concept[lead_ok], rel[lead_ok])
        n_lead = np.bincount(self.concept[lead_ok], minlength=self.n_groups)
        lead = np.where(n_lead > 0, lead / np.maximum(n_lead, 1), 0.0)
        raw = {
            "reversal": -self.ret_hist[-5:].sum(0),
            "interaction": self.ind_sign[self.industry] * self.value_z,
            "intraday": (self.flow_hist * np.linspace(0.2, 1.0, 5)[:, None]).sum(0),
            "regime": self.regime * self.ret_hist[:15].sum(0),
            "leadlag": np.where(self.follower, lead[np.maximum(self.concept, 0)], 0.0),
        }
        parts = {}
        for k in SIGNALS:
            s = cfg.strengths[k]
            parts[k] = s * self.sig_ref * _zscore(raw[k], alive) if s > 0 else np.zeros(N)
        total = np.asarray(sum(parts.values()))
        self.pending.append(total)

        # benchmark: cap-weighted over stocks alive yesterday and today
        w = np.where(alive & self.prev_alive, self.prev_cap, 0.0)
        wsum = w.sum()
        rel_bar = bars["close"] / ref[None, :]
        if wsum > 0:
            idx_close = self.index_level * (rel_bar[:, alive] @ w[alive]) / wsum
            idx_open = self.index_level * (bars["open"][0, alive] / ref[alive]) @ w[alive] / wsum
        else:
            idx_close = np.full(self.B, self.index_level)
            idx_open = self.index_level
        idx_opens = np.concatenate([[idx_open], idx_close[:-1]])
        index_bars = {
            "open": idx_opens,
            "close": idx_close,
            "high": np.maximum(idx_opens, idx_close),
            "low": np.minimum(idx_opens, idx_close),
            "volume": vol[:, alive].sum(1),
            "amount": amount[:, alive].sum(1),
        }
        self.index_level = float(idx_close[-1])
        self.raw_close = close
        self.prev_cap = self.shares * close
        self.prev_alive = alive
        return {
            "alive": alive,
            "trade": trade,
            "bars": bars,
            "index_bars": index_bars,
            "factor": self.factor.copy(),
            "mktcap": self.shares * close,
            "bp": np.exp(-0.7 + 0.5 * self.value_z),
            "parts": parts,
            "total": total,
            "noise_var": noise_var,
            "alpha_today": alpha,
        }

    def _bars(
        self,
        t: int,
        ref: np.ndarray,
        R: np.ndarray,
        trade: np.ndarray,
        susp: np.ndarray,
        alive: np.ndarray,
        late_move: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Raw-price bars [B, N] whose last close is ref * (1 + R), pinned inside the limits."""
        cfg, B, N = self.cfg, self.B, self.N
        rng = np.random.default_rng([cfg.seed, 1, t])
        g = np.log1p(R)
        sd = np.sqrt(self.h)
        overnight = 0.25 * g + rng.normal(0.0, 0.003, N)
        intraday = g - overnight
        e = rng.normal(0.0, 1.0, (B, N)) * np.sqrt(self.var_prof)[:, None] * sd[None, :]
        w = self.var_prof[:, None]
        steps = intraday[None, :] * w + e - w * e.sum(axis=0, keepdims=True)
        move = 0.6 * sd * late_move  # late move, offset by the earlier bars (day return unchanged)
        steps = steps + np.where(self.late[:, None], move / self.n_late, -move / (B - self.n_late))
        logp = np.log(ref) + overnight + np.cumsum(steps, axis=0)
        closes = np.exp(logp)
        closes[-1] = ref * (1 + R)
        opens = np.vstack([ref * np.exp(overnight), closes[:-1]])
        wick = np.abs(rng.normal(0.0, 0.25, (2, B, N))) * (np.sqrt(self.var_prof)[:, None] * sd)
        high = np.maximum(opens, closes) * np.exp(wick[0])
        low = np.minimum(opens, closes) * np.exp(-wick[1])
        lo, hi = ref * (1 - cfg.limit), ref * (1 + cfg.limit)
        out = {
            k: np.clip(v, lo, hi)
            for k, v in (("open", opens), ("high", high), ("low", low), ("close", closes))
        }
        for arr in out.values():
            arr[:, susp] = ref[susp]
            arr[:, ~alive] = np.nan
        return out


def check_market_dir(out: str | Path, overwrite: bool) -> None:
    """Refuse a non-empty `out` unless `overwrite`; always one holding no synthetic market."""
    out = Path(out)
    check_output_dir(out, True, "synthetic market directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / "meta.json").is_file():
        raise ConfigError(
            f"{out}: directory is not empty and holds no synthetic market (meta.json); "
            "refusing to write into it"
        )
    if not overwrite:
        raise ConfigError(
            f"{out}: a synthetic market exists there (pass --overwrite / overwrite=True to "
            "replace it)"
        )


def hidden_concept_groups(config: SynthConfig) -> np.ndarray:
    """The hidden concept group of each stock [n_stocks] (-1: none) of the market `config`
    generates: the lead-lag signal's groups, never written to the store (for diagnostics that
    give a model the groups it is meant to discover)."""
    return _Market(config).concept.copy()


def generate_market(
    out_dir: str | Path,
    config: SynthConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Simulate the market day by day; write the Qlib store, `minute/`, oracle and `meta.json`.

    Minute bars are written one date partition at a time (memory stays bounded);
    `progress(done, total)` is called after every chunk of `chunk_days` days. Everything is
    written into a temporary sibling of `out_dir` and renamed into place when complete; an
    existing market is replaced only with `overwrite`. Returns `out_dir`.
    """
    cfg = config or SynthConfig()
    out = Path(out_dir)
    check_market_dir(out, overwrite)
    with staged_dir(out, overwrite, "synthetic market directory") as tmp:
        _generate_into(tmp, cfg, progress)
    return out


def _generate_into(
    out: Path, cfg: SynthConfig, progress: Callable[[int, int], None] | None
) -> None:
    """The body of `generate_market`, into the empty directory `out`.

    Streams by chunks of `chunk_days` days: each chunk's daily fields are appended to
    time-major scratch files (float32 [T, N+1] per field) and its oracle rows to the parquet
    file; the Qlib store is written from the memory-mapped scratch files at the end. Peak
    memory is one chunk plus the daily store's size (not O(T x N) per simulation variable)."""
    minute_dir = out / "minute"
    minute_dir.mkdir(parents=True, exist_ok=True)
    write_minute_meta(minute_dir, cfg.bar_minutes, A_SHARE)

    N, T = cfg.n_stocks, cfg.n_days
    dates = np.busday_offset(np.datetime64(cfg.start, "D"), np.arange(T), roll="forward")
    codes = np.array([f"SYN{i:05d}" for i in range(N)] + [INDEX_CODE])
    first_minute_day = 0 if cfg.minute_days is None else max(0, T - cfg.minute_days)
    market = _Market(cfg)
    scratch = out / "_daily_scratch"
    scratch.mkdir()
    sinks = {k: open(scratch / f"{k}.f32", "wb") for k in (*DAILY_FIELDS, "tradable")}
    oracle_writer: pq.ParquetWriter | None = None
    oracle_frames: list[pl.DataFrame] = []
    expected_ic = np.full(T, np.nan)
    prev_close = np.full(N + 1, np.nan)  # adjusted close of the previous day (for `change`)
    ind_row = np.append(market.industry.astype(float), np.nan)
    try:
        for c0 in range(0, T, cfg.chunk_days):
            c1 = min(T, c0 + cfg.chunk_days)
            rows = {k: np.full((c1 - c0, N + 1), np.nan, np.float32) for k in DAILY_FIELDS}
            tradable = np.zeros((c1 - c0, N + 1), dtype=bool)
            for t in range(c0, c1):
                day = market.step(t)
                alive, bars = day["alive"], day["bars"]
                full = {
                    k: np.concatenate([bars[k], day["index_bars"][k][:, None]], axis=1)
                    for k in ("open", "high", "low", "close", "volume", "amount")
                }
                keep = np.concatenate([alive, [True]])
                if t >= first_minute_day:
                    write_minute_day(
                        minute_dir,
                        dates[t],
                        bars_frame(
                            dates[t],
                            market.bar_end_minutes,
                            codes,
                            full,
                            np.broadcast_to(keep, full["open"].shape),
                        ),
                    )
                prev_close = _daily_row(rows, t - c0, full, day, keep, ind_row, prev_close)
                tradable[t - c0, :N] = day["trade"]
                # expected oracle IC for the label ending today: sd(oracle) / sd(oracle + noise)
                # without the chance covariance between oracle and noise (exact in expectation)
                a = day["alpha_today"][day["trade"]]
                if a.size > 2 and a.std() > 0:
                    expected_ic[t] = a.std() / math.sqrt(a.var() + day["noise_var"])
                live = np.nonzero(alive)[0]
                oracle_frames.append(
                    pl.DataFrame(
                        {
                            "datetime": np.full(len(live), dates[t]),
                            "instrument": codes[live],
                            "total": day["total"][live].astype(np.float32),
                            **{k: day["parts"][k][live].astype(np.float32) for k in SIGNALS},
                        }
                    ).with_columns(pl.col("datetime").cast(pl.Date))
                )
                if (t + 1) % ORACLE_GROUP_DAYS == 0 or t == T - 1:
                    # row groups of fixed days: the file does not depend on chunk_days
                    table = pl.concat(oracle_frames).to_arrow()
                    if oracle_writer is None:
                        oracle_writer = pq.ParquetWriter(
                            out / "oracle.parquet",
                            table.schema,
                            compression="zstd",
                            write_statistics=False,
                        )
                    oracle_writer.write_table(table)
                    oracle_frames = []
            for k in DAILY_FIELDS:
                sinks[k].write(rows[k].tobytes())
            sinks["tradable"].write(tradable.astype(np.float32).tobytes())
            del rows
            if progress is not None:
                progress(c1, T)
    finally:
        for f in sinks.values():
            f.close()
        if oracle_writer is not None:
            oracle_writer.close()

    def scratch_field(k: str) -> np.ndarray:
        return np.memmap(scratch / f"{k}.f32", dtype=np.float32, mode="r", shape=(T, N + 1))

    panel = Panel(dates, codes, {k: scratch_field(k) for k in DAILY_FIELDS})
    write_store_into(out, panel, markets={"market": scratch_field("tradable") > 0})
    del panel
    shutil.rmtree(scratch)

    n_test = max(1, round(T * cfg.test_fraction))
    n_valid = max(1, round(T * cfg.valid_fraction))
    n_train = T - n_test - n_valid
    split = {
        "train": [str(dates[0]), str(dates[n_train - 1])],
        "valid": [str(dates[n_train]), str(dates[n_train + n_valid - 1])],
        "test": [str(dates[n_train + n_valid]), str(dates[-1])],
    }
    meta = {
        "generator": "seqalpha.data.synthetic",
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "benchmark": INDEX_CODE,
        "market": "market",
        "bar_minutes": cfg.bar_minutes,
        "session": A_SHARE.to_json(),
        "minute_dir": "minute",
        "minute_dates": [str(dates[first_minute_day]), str(dates[-1])]
        if first_minute_day < T
        else None,
        "minute_prices": "raw (unadjusted); "
        "daily open/high/low/close = raw * factor, volume = raw / factor, amount in currency",
        "signals": list(SIGNALS),
        "label": "Ref($close,-2)/Ref($close,-1)-1 at date t "
        "(oracle.parquet: its expectation given t)",
        "oracle_ic_expected": float(np.nanmean(expected_ic[2:])) if T > 2 else None,
        "split": split,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))


def _daily_row(
    rows: dict[str, np.ndarray],
    i: int,
    full: dict[str, np.ndarray],
    day: dict,
    keep: np.ndarray,
    ind_row: np.ndarray,
    prev_close: np.ndarray,
) -> np.ndarray:
    """Fill row i of the chunk's daily fields [c, N+1] from one day's bars [B, N+1] (stocks,
    then the index; NaN where not listed); returns the day's adjusted close (float64 [N+1])."""
    raw = {
        "open": full["open"][0],
        "high": full["high"].max(axis=0),
        "low": full["low"].min(axis=0),
        "close": full["close"][-1],
        "volume": full["volume"].sum(axis=0),
        "amount": full["amount"].sum(axis=0),
    }
    stock = keep[:-1]
    for v in raw.values():
        v[:-1][~stock] = np.nan
    factor = np.append(np.where(stock, day["factor"], np.nan), 1.0)
    close = raw["close"] * factor
    volume = raw["volume"] / factor
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, raw["amount"] / volume, np.nan)
        change = (close / prev_close - 1.0) * 100.0
    values = {
        "open": raw["open"] * factor,
        "high": raw["high"] * factor,
        "low": raw["low"] * factor,
        "close": close,
        "volume": volume,
        "amount": raw["amount"],
        "vwap": vwap,
        "factor": factor,
        "change": change,
        "industry": np.where(keep, ind_row, np.nan),
        "mktcap": np.append(np.where(stock, day["mktcap"], np.nan), np.nan),
        "bp": np.append(np.where(stock, day["bp"], np.nan), np.nan),
    }
    for k in DAILY_FIELDS:
        rows[k][i] = values[k]
    return close
