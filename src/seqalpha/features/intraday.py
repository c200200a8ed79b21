"""Intraday factor library from 30-minute (or 10-minute) bars `MinuteBars` [D, B, N].

Everything is computed within a day: the first bar's return is close/open of that bar, never
against the previous day's close, so overnight gaps (splits, dividends on raw prices) do not
enter. Volume-like quantities use the traded amount (price x shares), which a split leaves
unchanged, either as a share of the day or relative to the stock's trailing mean. Features at
day t read bars of days <= t only.

- `intraday_sequences(bars)` -> per-bar features `[D, N, B, Fb]` (a view of an
  instrument-major buffer, so that `intraday_windows(seq, L)` can give `[D-L+1, N, L*B, Fb]`
  windows without copying).
- `intraday_daily_features(bars, window)` -> daily aggregates and their trailing `window`-day
  mean, std and t-statistic `[D, N, F]`.
"""

from __future__ import annotations

import warnings

import numpy as np

from seqalpha.data.minute import MinuteBars
from seqalpha.errors import ConfigError, DataError

BAR_FEATURES: tuple[str, ...] = (
    "ret",  # within-day log return of the bar (first bar: log close/open)
    "cum_ret",  # log(close / first open of the day)
    "range",  # log(high / low)
    "close_pos",  # (close - low) / (high - low) - 0.5, 0 when high == low
    "amount_share",  # bar amount / day amount
    "signed_share",  # sign(ret) * amount_share: up/down traded value
    "log1p_rel_amount",  # log(1 + bar amount / trailing mean bar amount of the stock)
    "vwap_dev",  # log(close / running VWAP of the day up to this bar)
)

DAILY_BASE: tuple[str, ...] = (
    "id_ret",  # log(last close / first open): the intraday return
    "rv",  # realized volatility: sqrt(sum of squared bar returns)
    "updown_imb",  # (amount on up bars - on down bars) / (their sum)
    "autocorr1",  # lag-1 autocorrelation of bar returns within the day
    "hl_range",  # log(day high / day low)
    "vwap_dev",  # log(last close / day VWAP)
    "late_early",  # log(amount of the last quarter of bars / of the first quarter)
    "log_rel_amount",  # log(day amount / trailing mean day amount)
    "amount_hhi",  # sum of squared bar amount shares (volume concentration)
)

_MAX_CELLS = 4_000_000
_REQUIRED = ("open", "high", "low", "close", "volume")


def _check_bars(bars: MinuteBars) -> tuple[int, int, int]:
    D, B, N = bars.shape
    missing = [f for f in _REQUIRED if f not in bars.fields]
    if missing:
        raise DataError(
            f"intraday features: bars lack fields {missing}; they have {sorted(bars.fields)}"
        )
    for name, arr in bars.fields.items():
        if arr.shape != (D, B, N):
            raise DataError(
                f"intraday features: bars field {name!r} has shape {arr.shape}, "
                f"expected [D, B, N] = {(D, B, N)}"
            )
    if B < 2:
        raise DataError(f"intraday features need at least 2 bars a day, got B={B}")
    return D, B, N


def _amount(bars: MinuteBars, sl: slice) -> np.ndarray:
    """Traded value [d, B, N] (amount, or close x volume when amount is absent); NaN -> 0."""
    if "amount" in bars.fields:
        a = bars["amount"][sl].astype(np.float64)
    else:
        a = bars["close"][sl].astype(np.float64) * bars["volume"][sl]
    return np.where(np.isfinite(a) & (a > 0), a, 0.0)


def bar_log_returns(bars: MinuteBars, sl: slice = slice(None)) -> np.ndarray:
    """Within-day log return of each bar [d, B, N]: log(close_b / close_{b-1}), and
    log(close_b / open_b) for the first bar or after a missing bar. NaN where close is missing."""
    o = bars["open"][sl].astype(np.float64)
    c = bars["close"][sl].astype(np.float64)
    c = np.where(c > 0, c, np.nan)
    o = np.where(o > 0, o, np.nan)
    prev = np.empty_like(c)
    prev[:, 0] = o[:, 0]
    prev[:, 1:] = np.where(np.isfinite(c[:, :-1]), c[:, :-1], o[:, 1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(c / prev)


def _day_amounts(bars: MinuteBars, chunk_days: int) -> np.ndarray:
    """Day amount [D, N] (NaN when nothing traded)."""
    D, _, N = bars.shape
    out = np.empty((D, N))
    for lo in range(0, D, chunk_days):
        sl = slice(lo, min(D, lo + chunk_days))
        out[sl] = _amount(bars, sl).sum(axis=1)
    out[out <= 0] = np.nan
    return out


def _trailing_mean(a: np.ndarray, window: int) -> np.ndarray:
    """Mean over the last `window` days including t of the finite values of a [D, ...]."""
    ok = np.isfinite(a)
    z = np.zeros((1, *a.shape[1:]))
    cs = np.concatenate([z, np.cumsum(np.where(ok, a, 0.0), axis=0)])
    cn = np.concatenate([z, np.cumsum(ok, axis=0)])
    hi = np.arange(1, a.shape[0] + 1)
    lo = np.maximum(hi - window, 0)
    s, n = cs[hi] - cs[lo], cn[hi] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _check_params(window: int, chunk_days: int) -> None:
    if not isinstance(window, (int, np.integer)) or window < 2:
        raise ConfigError(f"intraday features: window must be an integer >= 2, got {window!r}")
    if not isinstance(chunk_days, (int, np.integer)) or chunk_days < 1:
        raise ConfigError(
            f"intraday features: chunk_days must be an integer >= 1, got {chunk_days!r}"
        )


def _chunk(chunk_days: int, B: int, N: int) -> int:
    """Days per chunk: at most chunk_days and at most ~4M bar cells, to bound temporaries."""
    return max(1, min(int(chunk_days), _MAX_CELLS // max(1, B * N)))


def _bar_block(bars: MinuteBars, sl: slice, mean_bar_amount: np.ndarray) -> np.ndarray:
    """Per-bar features of the days in sl: float32 [d, B, N, Fb]."""
    r = bar_log_returns(bars, sl)
    o = bars["open"][sl].astype(np.float64)
    h = bars["high"][sl].astype(np.float64)
    lo = bars["low"][sl].astype(np.float64)
    c = bars["close"][sl].astype(np.float64)
    amt = _amount(bars, sl)
    vol = np.where(np.isfinite(bars["volume"][sl]), bars["volume"][sl], 0.0).astype(np.float64)
    day_amt = amt.sum(axis=1, keepdims=True)
    traded = day_amt > 0
    d, B, N = c.shape
    out = np.empty((d, B, N, len(BAR_FEATURES)), dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        first_open = o[:, :1]
        share = np.where(traded, amt / np.where(traded, day_amt, 1.0), np.nan)
        out[..., 0] = r
        out[..., 1] = np.log(
            np.where(c > 0, c, np.nan) / np.where(first_open > 0, first_open, np.nan)
        )
        out[..., 2] = np.log(h / lo)
        span = h - lo
        out[..., 3] = np.where(span > 0, (c - lo) / np.where(span > 0, span, 1.0) - 0.5, 0.0)
        out[..., 3][~np.isfinite(c)] = np.nan
        out[..., 4] = share
        out[..., 5] = np.sign(np.nan_to_num(r)) * share
        m = mean_bar_amount[sl][:, None, :]
        out[..., 6] = np.log1p(amt / np.where(m > 0, m, np.nan))
        cum_amt = np.cumsum(amt, axis=1)
        cum_vol = np.cumsum(vol, axis=1)
        run_vwap = np.where(
            (cum_vol > 0) & (cum_amt > 0), cum_amt / np.where(cum_vol > 0, cum_vol, 1.0), np.nan
        )
        out[..., 7] = np.log(c / run_vwap)
    out[~np.isfinite(out)] = np.nan
    return out


def intraday_sequences(
    bars: MinuteBars, window: int = 20, chunk_days: int = 64
) -> tuple[list[str], np.ndarray]:
    """Per-bar features of every day: (names [Fb], x float32 [D, N, B, Fb]).

    x is a view of an instrument-major buffer [N, D, B, Fb], which lets `intraday_windows`
    build `[D-L+1, N, L*B, Fb]` sequences as views. `window` is the trailing span (days) of
    the stock's mean bar amount used by `log1p_rel_amount`.
    """
    D, B, N = _check_bars(bars)
    _check_params(window, chunk_days)
    chunk_days = _chunk(chunk_days, B, N)
    mean_bar = _trailing_mean(_day_amounts(bars, chunk_days), window) / B  # [D, N]
    buf = np.empty((N, D, B, len(BAR_FEATURES)), dtype=np.float32)
    for lo in range(0, D, chunk_days):
        sl = slice(lo, min(D, lo + chunk_days))
        buf[:, sl] = _bar_block(bars, sl, mean_bar).transpose(2, 0, 1, 3)
    return list(BAR_FEATURES), buf.transpose(1, 0, 2, 3)


def intraday_windows(seq: np.ndarray, L: int = 20) -> np.ndarray:
    """Read-only view [D-L+1, N, L*B, Fb] of the last L days of bars ending at each day d >= L-1.

    Row i ends at day i+L-1. `seq` must have the layout `intraday_sequences` returns (day
    stride == B x bar stride, e.g. a transposed [N, D, B, Fb] buffer); otherwise pass
    `np.ascontiguousarray(seq.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)` once.
    """
    if seq.ndim != 4:
        raise DataError(f"intraday_windows: expected [D, N, B, Fb], got shape {seq.shape}")
    D, N, B, F = seq.shape
    if not isinstance(L, (int, np.integer)) or not 1 <= L <= D:
        raise ConfigError(f"intraday_windows: L must be an integer in 1..{D}, got {L!r}")
    sd, sn, sb, sf = seq.strides
    if sd != B * sb:
        raise DataError(
            "intraday_windows: seq's days are not contiguous bar blocks (day stride "
            f"{sd} != B x bar stride {B * sb}); use the array intraday_sequences returns"
        )
    return np.lib.stride_tricks.as_strided(
        seq, shape=(D - L + 1, N, L * B, F), strides=(sd, sn, sb, sf), writeable=False
    )


def _daily_block(bars: MinuteBars, sl: slice, mean_day_amount: np.ndarray) -> np.ndarray:
    """Daily aggregates of the days in sl: float64 [d, N, len(DAILY_BASE)]."""
    r = bar_log_returns(bars, sl)
    o = bars["open"][sl].astype(np.float64)
    h = bars["high"][sl].astype(np.float64)
    lo = bars["low"][sl].astype(np.float64)
    c = bars["close"][sl].astype(np.float64)
    amt = _amount(bars, sl)
    vol = np.where(np.isfinite(bars["volume"][sl]), bars["volume"][sl], 0.0).astype(np.float64)
    d, B, N = c.shape
    out = np.full((d, N, len(DAILY_BASE)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        nr = np.sum(np.isfinite(r), axis=1)
        have = nr > 0
        # intraday return from the first open to the last close with a price
        last_c = _last_finite(c)
        out[..., 0] = np.log(last_c / np.where(o[:, 0] > 0, o[:, 0], np.nan))
        out[..., 1] = np.where(have, np.sqrt(np.nansum(r * r, axis=1)), np.nan)
        up = np.sum(np.where(r > 0, amt, 0.0), axis=1)
        dn = np.sum(np.where(r < 0, amt, 0.0), axis=1)
        out[..., 2] = np.where(
            up + dn > 0,
            (up - dn) / np.where(up + dn > 0, up + dn, 1.0),
            np.where(have, 0.0, np.nan),
        )
        dev = r - np.nanmean(r, axis=1, keepdims=True)
        num = np.nansum(dev[:, 1:] * dev[:, :-1], axis=1)
        den = np.nansum(dev * dev, axis=1)
        out[..., 3] = np.where((den > 0) & (nr >= 3), num / np.where(den > 0, den, 1.0), np.nan)
        out[..., 4] = np.log(np.nanmax(h, axis=1) / np.nanmin(lo, axis=1))
        day_amt = amt.sum(axis=1)
        day_vol = vol.sum(axis=1)
        vwap = np.where(
            (day_vol > 0) & (day_amt > 0), day_amt / np.where(day_vol > 0, day_vol, 1.0), np.nan
        )
        out[..., 5] = np.log(last_c / vwap)
        q = max(1, B // 4)
        early, late = amt[:, :q].sum(axis=1), amt[:, -q:].sum(axis=1)
        out[..., 6] = np.where(
            (early > 0) & (late > 0), np.log(late / np.where(early > 0, early, 1.0)), np.nan
        )
        out[..., 7] = np.log(day_amt / mean_day_amount[sl])
        share = amt / np.where(day_amt > 0, day_amt, np.nan)[:, None, :]
        out[..., 8] = np.sum(share * share, axis=1)
    out[~np.isfinite(out)] = np.nan
    return out


def _last_finite(c: np.ndarray) -> np.ndarray:
    """Last finite value along axis 1 of c [d, B, N] -> [d, N] (NaN if none)."""
    ok = np.isfinite(c)
    B = c.shape[1]
    idx = B - 1 - np.argmax(ok[:, ::-1], axis=1)
    val = np.take_along_axis(c, idx[:, None, :], axis=1)[:, 0]
    return np.where(ok.any(axis=1), val, np.nan)


def rolling_mean_std_t(
    a: np.ndarray, window: int, min_periods: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trailing `window`-day mean, std (ddof 1) and t-statistic mean/std*sqrt(n) of the finite
    values of a [D, ...] (days t-window+1..t); NaN with fewer than min_periods values."""
    if min_periods is None:
        min_periods = max(2, window // 2)
    x = np.asarray(a, dtype=np.float64)
    ok = np.isfinite(x)
    # shift by each column's first finite value (causal) to reduce cancellation in the sums
    first = np.argmax(ok, axis=0)[None]
    centre = np.take_along_axis(x, first, axis=0)
    centre = np.where(np.isfinite(centre), centre, 0.0)
    v = np.where(ok, x - centre, 0.0)
    z = np.zeros((1, *x.shape[1:]))
    s1 = np.concatenate([z, np.cumsum(v, axis=0)])
    s2 = np.concatenate([z, np.cumsum(v * v, axis=0)])
    cn = np.concatenate([z, np.cumsum(ok, axis=0)])
    hi = np.arange(1, x.shape[0] + 1)
    lo = np.maximum(hi - window, 0)
    n = cn[hi] - cn[lo]
    m1 = s1[hi] - s1[lo]
    m2 = s2[hi] - s2[lo]
    enough = n >= max(min_periods, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        nn = np.maximum(n, 1)
        mean_c = m1 / nn
        var = np.maximum(m2 - nn * mean_c * mean_c, 0.0) / np.maximum(n - 1, 1)
        std = np.sqrt(var)
        mean = mean_c + centre
        tstat = np.where(std > 1e-12 * (np.abs(mean) + 1e-12), mean / std * np.sqrt(n), np.nan)
    mean = np.where(enough, mean, np.nan)
    std = np.where(enough, std, np.nan)
    tstat = np.where(enough, tstat, np.nan)
    return mean, std, tstat


def intraday_daily_features(
    bars: MinuteBars, window: int = 20, chunk_days: int = 64, min_periods: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Daily intraday aggregates plus their trailing `window`-day mean, std and t-statistic:
    (names [F], x float32 [D, N, F]) with F = 4 x len(DAILY_BASE)."""
    D, B, N = _check_bars(bars)
    _check_params(window, chunk_days)
    chunk_days = _chunk(chunk_days, B, N)
    day_amt = _day_amounts(bars, chunk_days)
    mean_day = _trailing_mean(day_amt, window)
    base = np.empty((D, N, len(DAILY_BASE)))
    for lo in range(0, D, chunk_days):
        sl = slice(lo, min(D, lo + chunk_days))
        base[sl] = _daily_block(bars, sl, mean_day)
    mean, std, tstat = rolling_mean_std_t(base, window, min_periods)
    names = list(DAILY_BASE)
    names += [f"{n}_mean{window}" for n in DAILY_BASE]
    names += [f"{n}_std{window}" for n in DAILY_BASE]
    names += [f"{n}_t{window}" for n in DAILY_BASE]
    x = np.concatenate([base, mean, std, tstat], axis=2).astype(np.float32)
    return names, x


__all__ = [
    "BAR_FEATURES",
    "DAILY_BASE",
    "bar_log_returns",
    "intraday_daily_features",
    "intraday_sequences",
    "intraday_windows",
    "rolling_mean_std_t",
]
