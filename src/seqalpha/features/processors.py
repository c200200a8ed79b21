"""Cross-sectional and fitted processors for feature panels `x: float32 [T, N, F]`.

Fitted statistics come from the cells of a training mask only (`fit(x, mask)`) and are then
applied to every date (`transform(x)`); nothing is modified in place. Processors are chosen by
registered name (`make_processor("robust_zscore", clip=3.0)`), never by class path.

The pure cross-sectional functions (`cs_zscore`, `cs_rank`, `cs_rankgauss`, `mad_winsorize`)
reduce along axis 1 (instruments) and are reused by `seqalpha.labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.special import ndtri as _ndtri

from seqalpha.errors import ConfigError, DataError

MAD_TO_STD = 1.4826
EPS = 1e-12


# ---------------------------------------------------------------------------------------------
# validation helpers


def _as_3d(x: np.ndarray, what: str = "x") -> tuple[np.ndarray, bool]:
    """x as a 3-D array [T, N, F] (a 2-D [T, N] gets a trailing axis); flag whether it was 2-D."""
    x = np.asarray(x)
    if x.ndim == 2:
        return x[:, :, None], True
    if x.ndim != 3:
        raise DataError(f"{what}: expected an array [T, N] or [T, N, F], got shape {x.shape}")
    return x, False


def _check_mask(mask: np.ndarray | None, shape: tuple[int, int], what: str) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise DataError(f"{what}: expected a bool mask [T, N], got dtype {mask.dtype}")
    if mask.shape != shape:
        raise DataError(f"{what}: mask shape {mask.shape} != data shape {shape} [T, N]")
    return mask


def _masked(x: np.ndarray, universe: np.ndarray | None) -> np.ndarray:
    """float64 copy of x [T, N, F] with NaN outside the universe [T, N]."""
    out = np.array(x, dtype=np.float64, copy=True)
    if universe is not None:
        out[~universe] = np.nan
    return out


def _out(values: np.ndarray, was_2d: bool, dtype=np.float32) -> np.ndarray:
    values = values.astype(dtype, copy=False)
    return values[:, :, 0] if was_2d else values


def _nanmedian_axis1(v: np.ndarray) -> np.ndarray:
    """Median over axis 1 of the non-NaN values of v [T, N, F] -> [T, 1, F] (NaN if none).

    Sort-based: much faster than np.nanmedian on wide panels.
    """
    srt = np.sort(v, axis=1)  # NaN sort last
    cnt = np.sum(~np.isnan(v), axis=1, keepdims=True)
    lo = np.maximum((cnt - 1) // 2, 0)
    hi = np.maximum(cnt // 2, 0)
    a = np.take_along_axis(srt, lo, axis=1)
    b = np.take_along_axis(srt, np.minimum(hi, max(v.shape[1] - 1, 0)), axis=1)
    return np.where(cnt > 0, 0.5 * (a + b), np.nan)


def _rank_axis1(v: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) along axis 1 of v [T, N, F]; NaN stays NaN."""
    T, N, F = v.shape
    w = np.ascontiguousarray(v.transpose(0, 2, 1)).reshape(T * F, N)
    order = np.argsort(w, axis=1, kind="stable")  # NaN last
    srt = np.take_along_axis(w, order, axis=1)
    pos = np.broadcast_to(np.arange(1, N + 1, dtype=np.float64), srt.shape)
    # a new run starts at every row start and wherever the sorted value changes
    new = np.ones(srt.shape, dtype=bool)
    new[:, 1:] = srt[:, 1:] != srt[:, :-1]
    run = np.cumsum(new.ravel()) - 1
    total = np.bincount(run, pos.ravel())
    count = np.bincount(run)
    avg = (total / count)[run].reshape(srt.shape)
    ranks = np.empty_like(avg)
    np.put_along_axis(ranks, order, avg, axis=1)
    ranks[np.isnan(w)] = np.nan
    return ranks.reshape(T, F, N).transpose(0, 2, 1)


# ---------------------------------------------------------------------------------------------
# pure cross-sectional functions (axis 1 = instruments)


def cs_zscore(x: np.ndarray, universe: np.ndarray | None = None, ddof: int = 1) -> np.ndarray:
    """Per date (and feature): (x - mean) / std over the universe's finite cells; [T, N(, F)].

    ddof=1 as in Qlib's CSZScoreNorm; NaN outside the universe and where fewer than ddof+1 values.
    """
    x3, flat = _as_3d(x)
    universe = _check_mask(universe, x3.shape[:2], "cs_zscore")
    v = _masked(x3, universe)
    with np.errstate(invalid="ignore", divide="ignore"), _quiet():
        mean = np.nanmean(v, axis=1, keepdims=True)
        std = np.nanstd(v, axis=1, ddof=ddof, keepdims=True)
        z = (v - mean) / std
    z[~np.isfinite(z)] = np.nan
    return _out(z, flat)


def cs_rank(x: np.ndarray, universe: np.ndarray | None = None) -> np.ndarray:
    """Per date: mid-point percentile rank (rank - 0.5) / count in (0, 1), ties averaged.

    [T, N(, F)] -> same, float32; NaN outside the universe and where x is NaN.
    """
    x3, flat = _as_3d(x)
    universe = _check_mask(universe, x3.shape[:2], "cs_rank")
    v = _masked(x3, universe)
    v[~np.isfinite(v)] = np.nan
    ranks = _rank_axis1(v)
    count = np.sum(np.isfinite(v), axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = (ranks - 0.5) / count
    return _out(pct, flat)


def cs_rankgauss(x: np.ndarray, universe: np.ndarray | None = None) -> np.ndarray:
    """Per date: inverse normal CDF of the mid-point percentile rank (`cs_rank`). [T, N(, F)]."""
    pct = cs_rank(x, universe).astype(np.float64)
    return _ndtri(pct).astype(np.float32)


def mad_winsorize(
    x: np.ndarray, n: float = 3.0, universe: np.ndarray | None = None, scale: float = MAD_TO_STD
) -> np.ndarray:
    """Per date: clip to median +/- n * scale * MAD of the cross-section. [T, N(, F)] -> same.

    scale=1.4826 makes the MAD a consistent estimate of the standard deviation; scale=1 clips
    at n raw MADs. NaN stays NaN; cells outside the universe become NaN.
    """
    if not n > 0:
        raise ConfigError(f"mad_winsorize: n must be > 0, got {n}")
    x3, flat = _as_3d(x)
    universe = _check_mask(universe, x3.shape[:2], "mad_winsorize")
    v = _masked(x3, universe)
    with _quiet():
        med = _nanmedian_axis1(v)
        mad = _nanmedian_axis1(np.abs(v - med))
    half = n * scale * mad
    return _out(np.clip(v, med - half, med + half), flat)


class _quiet:
    """Silence numpy's 'mean of empty slice' warnings inside nan-reductions of empty rows."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


# ---------------------------------------------------------------------------------------------
# processors


class Processor:
    """Base: `fit(x [T, N, F], mask bool [T, N]) -> self`; `transform(x) -> new array`.

    fit_on_train_only: the processor has statistics fitted on the training cells.
    valid_at_inference: it may be applied to inference data (False for label-based ones).
    """

    name: ClassVar[str] = ""
    fit_on_train_only: ClassVar[bool] = False
    valid_at_inference: ClassVar[bool] = True

    def fit(self, x: np.ndarray, mask: np.ndarray | None = None) -> Processor:
        """Learn statistics from the cells `mask` (training range x universe); stateless: no-op."""
        x3, _ = _as_3d(x, f"{self.name}.fit")
        _check_mask(mask, x3.shape[:2], f"{self.name}.fit")
        return self

    def transform(self, x: np.ndarray, universe: np.ndarray | None = None) -> np.ndarray:
        """A new float32 array shaped like x; cross-sections restricted to `universe` [T, N]."""
        raise NotImplementedError

    def fit_transform(
        self, x: np.ndarray, mask: np.ndarray | None = None, universe: np.ndarray | None = None
    ) -> np.ndarray:
        """`fit(x, mask)` then `transform(x, universe)`."""
        return self.fit(x, mask).transform(x, universe)

    def keep_mask(self, mask: np.ndarray) -> np.ndarray:
        """Training cells kept after this processor (identity except for mask operations)."""
        return mask

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


PROCESSORS: dict[str, type[Processor]] = {}


def register_processor(cls: type[Processor]) -> type[Processor]:
    """Class decorator: make `cls` available to `make_processor(cls.name, ...)`."""
    if not cls.name:
        raise ConfigError(f"{cls.__name__}: a registered processor needs a `name`")
    if cls.name in PROCESSORS and PROCESSORS[cls.name] is not cls:
        raise ConfigError(f"processor name {cls.name!r} is already registered")
    PROCESSORS[cls.name] = cls
    return cls


def make_processor(name: str, **params: Any) -> Processor:
    """A processor by registered name; unknown names and parameters are ConfigErrors."""
    try:
        cls = PROCESSORS[name]
    except KeyError:
        raise ConfigError(f"unknown processor {name!r}; known: {sorted(PROCESSORS)}") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"processor {name!r}: bad parameters {sorted(params)} ({exc})") from None


@register_processor
class FillNa(Processor):
    """Fill NaN with 0 (`method="zero"`) or the date's cross-sectional median (`"cs_median"`)."""

    name = "fillna"

    def __init__(self, method: str = "zero"):
        if method not in ("zero", "cs_median"):
            raise ConfigError(f"fillna: method must be 'zero' or 'cs_median', got {method!r}")
        self.method = method

    def transform(self, x, universe=None):
        x3, flat = _as_3d(x, "fillna")
        universe = _check_mask(universe, x3.shape[:2], "fillna")
        v = _masked(x3, universe)
        if self.method == "zero":
            fill = np.zeros_like(v)
        else:
            with _quiet():
                fill = np.broadcast_to(_nanmedian_axis1(v), v.shape)
        out = np.where(np.isnan(v), fill, v)
        if universe is not None:
            out[~universe] = np.nan
        return _out(out, flat)


@register_processor
class MadWinsorize(Processor):
    """Cross-sectional winsorization at median +/- n * scale * MAD (see `mad_winsorize`)."""

    name = "mad_winsorize"

    def __init__(self, n: float = 3.0, scale: float = MAD_TO_STD):
        if not n > 0 or not scale > 0:
            raise ConfigError(f"mad_winsorize: n and scale must be > 0, got n={n}, scale={scale}")
        self.n, self.scale = float(n), float(scale)

    def transform(self, x, universe=None):
        return mad_winsorize(x, self.n, universe, self.scale)


@register_processor
class CSZScore(Processor):
    """Cross-sectional z-score per date and feature (see `cs_zscore`)."""

    name = "cs_zscore"

    def __init__(self, ddof: int = 1):
        self.ddof = int(ddof)

    def transform(self, x, universe=None):
        return cs_zscore(x, universe, self.ddof)


@register_processor
class CSRankGauss(Processor):
    """Cross-sectional rank mapped through the inverse normal CDF (see `cs_rankgauss`)."""

    name = "cs_rankgauss"

    def transform(self, x, universe=None):
        return cs_rankgauss(x, universe)


class _Fitted(Processor):
    """A processor with per-feature location/scale fitted on the training cells."""

    fit_on_train_only = True

    def __init__(self, clip: float | None = None):
        if clip is not None and not clip > 0:
            raise ConfigError(f"{self.name}: clip must be > 0 or None, got {clip}")
        self.clip = clip
        self.center_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def _stats(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def fit(self, x, mask=None):
        x3, _ = _as_3d(x, f"{self.name}.fit")
        mask = _check_mask(mask, x3.shape[:2], f"{self.name}.fit")
        rows = x3.reshape(-1, x3.shape[2]) if mask is None else x3[mask]
        rows = rows.astype(np.float64)
        rows[~np.isfinite(rows)] = np.nan
        empty = np.nonzero(np.all(np.isnan(rows), axis=0))[0]
        if len(empty):
            raise DataError(
                f"{self.name}.fit: features {empty.tolist()} have no finite value "
                f"in the training cells ({len(rows)} rows)"
            )
        self.center_, self.scale_ = self._stats(rows)
        return self

    def transform(self, x, universe=None):
        if self.center_ is None:
            raise ConfigError(f"{self.name}: transform called before fit")
        x3, flat = _as_3d(x, self.name)
        if x3.shape[2] != len(self.center_):
            raise DataError(
                f"{self.name}: fitted on {len(self.center_)} features, got {x3.shape[2]}"
            )
        universe = _check_mask(universe, x3.shape[:2], self.name)
        v = _masked(x3, universe)
        z = (v - self.center_) / self.scale_
        if self.clip is not None:
            z = np.clip(z, -self.clip, self.clip)
        return _out(z, flat)


@register_processor
class ZScore(_Fitted):
    """(x - mean) / std with per-feature mean and std (ddof 0) of the training cells."""

    name = "zscore"

    def _stats(self, v):
        mean = np.nanmean(v, axis=0)
        std = np.nanstd(v, axis=0)
        return mean, np.where(std > 0, std, 1.0)


@register_processor
class RobustZScore(_Fitted):
    """Qlib's RobustZScoreNorm: (x - median) / (MAD * 1.4826 + 1e-12), fitted on training cells,
    clipped to [-clip, clip] (clip=3 by default, None disables)."""

    name = "robust_zscore"

    def __init__(self, clip: float | None = 3.0):
        super().__init__(clip)

    def _stats(self, v):
        med = np.nanmedian(v, axis=0)
        mad = np.nanmedian(np.abs(v - med), axis=0)
        return med, mad * MAD_TO_STD + EPS


@register_processor
class Neutralize(Processor):
    """Per date and feature: residual of a regression on industry dummies and log market cap.

    industry: int [T, N] codes (negative = unknown); market_cap: [T, N] (> 0). Either may be
    None (then only the other is used; with both None, the cross-sectional mean is removed).
    Cells with unknown industry or non-positive cap are NaN in the output.
    """

    name = "neutralize"

    def __init__(self, industry: np.ndarray | None = None, market_cap: np.ndarray | None = None):
        self.industry = None if industry is None else np.asarray(industry)
        self.market_cap = None if market_cap is None else np.asarray(market_cap, dtype=np.float64)
        if self.industry is not None and not np.issubdtype(self.industry.dtype, np.integer):
            raise DataError(
                f"neutralize: industry must be integer codes [T, N], got {self.industry.dtype}"
            )
        for nm, a in (("industry", self.industry), ("market_cap", self.market_cap)):
            if a is not None and a.ndim != 2:
                raise DataError(f"neutralize: {nm} must be [T, N], got shape {a.shape}")

    def transform(self, x, universe=None):
        x3, flat = _as_3d(x, "neutralize")
        T, N, F = x3.shape
        universe = _check_mask(universe, (T, N), "neutralize")
        for nm, a in (("industry", self.industry), ("market_cap", self.market_cap)):
            if a is not None and a.shape != (T, N):
                raise DataError(f"neutralize: {nm} shape {a.shape} != data shape {(T, N)}")
        ok = np.ones((T, N), dtype=bool) if universe is None else universe.copy()
        if self.industry is not None:
            ok &= self.industry >= 0
            ind = np.where(self.industry >= 0, self.industry, 0).astype(np.int64)
            _, ind = np.unique(ind, return_inverse=True)
            ind = ind.reshape(T, N)
        else:
            ind = np.zeros((T, N), dtype=np.int64)
        if self.market_cap is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                size = np.log(self.market_cap)
            ok &= np.isfinite(size)
            size = np.where(ok, size, 0.0)
            cnt = np.maximum(ok.sum(axis=1, keepdims=True), 1)
            size = size - (size * ok).sum(axis=1, keepdims=True) / cnt  # centre per date
        else:
            size = None
        G = int(ind.max()) + 1 if ind.size else 1
        key = (np.arange(T)[:, None] * G + ind).ravel()  # group id of (date, industry)
        nk = T * G
        out = np.full((T, N, F), np.nan, dtype=np.float64)
        for f in range(F):  # loop over features; every reduction is over all dates and instruments
            y = x3[:, :, f].astype(np.float64)
            m = ok & np.isfinite(y)
            w = m.ravel().astype(np.float64)
            yv = np.where(m, y, 0.0).ravel()
            n_g = np.bincount(key, w, nk)
            sy = np.bincount(key, yv, nk)
            safe = np.maximum(n_g, 1.0)
            yt = yv - (sy / safe)[key]
            if size is not None:
                sv = np.where(m, size, 0.0).ravel()
                st = sv - (np.bincount(key, sv, nk) / safe)[key]
                st *= w
                yt *= w
                num = np.bincount(np.repeat(np.arange(T), N), st * yt, T)
                den = np.bincount(np.repeat(np.arange(T), N), st * st, T)
                beta = np.where(den > EPS, num / np.where(den > EPS, den, 1.0), 0.0)
                yt = yt - np.repeat(beta, N) * st
            res = yt.reshape(T, N)
            res[~m] = np.nan
            out[:, :, f] = res
        return _out(out, flat)


@register_processor
class DropMissingLabel(Processor):
    """Training-only mask operation: drop cells whose label [T, N(, H)] is missing.

    how="any" drops a cell when any horizon is NaN (Qlib's DropnaLabel), "all" when all are.
    `transform` returns x itself (unchanged); the effect is in `keep_mask`.
    """

    name = "drop_missing_label"
    valid_at_inference = False

    def __init__(self, label: np.ndarray, how: str = "any"):
        if how not in ("any", "all"):
            raise ConfigError(f"drop_missing_label: how must be 'any' or 'all', got {how!r}")
        lab, _ = _as_3d(label, "drop_missing_label label")
        self.finite = np.isfinite(lab)
        self.how = how

    def transform(self, x, universe=None):
        return x

    def keep_mask(self, mask):
        mask = _check_mask(mask, self.finite.shape[:2], "drop_missing_label")
        have = self.finite.all(axis=2) if self.how == "any" else self.finite.any(axis=2)
        return mask & have


class ProcessorChain:
    """Processors applied in order: `fit` fits each on the output of the previous one.

    `transform(x, inference=True)` skips processors not valid at inference.
    """

    def __init__(self, steps: Sequence[Processor]):
        for s in steps:
            if not isinstance(s, Processor):
                raise ConfigError(f"ProcessorChain: {s!r} is not a Processor")
        self.steps = list(steps)

    @classmethod
    def from_config(cls, items: Sequence[dict], **arrays: Any) -> ProcessorChain:
        """From `[{"name": "robust_zscore", "clip": 3}, ...]`; `arrays` fill array parameters
        (e.g. industry=..., market_cap=..., label=...) for the processors that take them."""
        steps = []
        for k, item in enumerate(items):
            if not isinstance(item, dict) or "name" not in item:
                raise ConfigError(
                    f"processors[{k}]: expected a mapping with a 'name' key, got {item!r}"
                )
            params = {key: v for key, v in item.items() if key != "name"}
            cls_ = PROCESSORS.get(item["name"])
            if cls_ is not None:
                import inspect

                accepted = inspect.signature(cls_.__init__).parameters
                params.update(
                    {a: v for a, v in arrays.items() if a in accepted and a not in params}
                )
            steps.append(make_processor(item["name"], **params))
        return cls(steps)

    def fit(
        self, x: np.ndarray, mask: np.ndarray | None = None, universe: np.ndarray | None = None
    ) -> ProcessorChain:
        """Fit each processor on the training cells `mask` of the previous output."""
        cur = x
        for s in self.steps:
            cur = s.fit(cur, mask).transform(cur, universe)
            if mask is not None:
                mask = s.keep_mask(mask)
        return self

    def transform(
        self, x: np.ndarray, universe: np.ndarray | None = None, inference: bool = False
    ) -> np.ndarray:
        """Apply the fitted chain to any range; returns a new array (x is not modified)."""
        cur = x
        for s in self.steps:
            if inference and not s.valid_at_inference:
                continue
            cur = s.transform(cur, universe)
        return cur

    def fit_transform(self, x, mask=None, universe=None):
        """Fit on the training cells, then transform all of x."""
        return self.fit(x, mask, universe).transform(x, universe)

    def keep_mask(self, mask: np.ndarray) -> np.ndarray:
        """Training cells kept by the chain's mask operations."""
        for s in self.steps:
            mask = s.keep_mask(mask)
        return mask

    def __repr__(self) -> str:
        return f"ProcessorChain({self.steps!r})"


__all__ = [
    "PROCESSORS",
    "CSRankGauss",
    "CSZScore",
    "DropMissingLabel",
    "FillNa",
    "MadWinsorize",
    "Neutralize",
    "Processor",
    "ProcessorChain",
    "RobustZScore",
    "ZScore",
    "cs_rank",
    "cs_rankgauss",
    "cs_zscore",
    "mad_winsorize",
    "make_processor",
    "register_processor",
]
