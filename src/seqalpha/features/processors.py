"""Cross-sectional and fitted processors for feature panels `x: float32 [T, N, F]`.

Fitted statistics come from the cells of a training mask only (`fit(x, mask)`) and are then
applied to every date (`transform(x)`). `transform` returns a new float32 array, or writes
into `out=` (which may be x itself, for a caller that owns x). Processors are chosen by
registered name (`make_processor("robust_zscore", clip=3.0)`), never by class path.

The cross-sectional transforms are those of `seqalpha.xsection` (compiled kernels, one scale
per name); the fitted statistics and their transform are compiled kernels here.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import numba as nb
import numpy as np

from seqalpha import xsection as xs
from seqalpha.errors import ConfigError, DataError

MAD_TO_STD = xs.MAD_TO_STD
EPS = 1e-12
_jit = nb.njit(parallel=True, cache=True, nogil=True, error_model="numpy")


# ---------------------------------------------------------------------------------------------
# helpers and kernels


def _as_3d(x: np.ndarray, what: str = "x") -> np.ndarray:
    """x as a 3-D array [T, N, F] (a 2-D [T, N] gets a trailing axis, as a view)."""
    x = np.asarray(x)
    if x.ndim == 2:
        return x[:, :, None]
    if x.ndim != 3:
        raise DataError(f"{what}: expected an array [T, N] or [T, N, F], got shape {x.shape}")
    return x


def _out(x: np.ndarray, out: np.ndarray | None, what: str) -> np.ndarray:
    """The float32 array a transform writes to: `out` (checked) or a new one shaped like x."""
    if out is None:
        return np.empty(np.shape(x), dtype=np.float32)
    if out.shape != np.shape(x) or out.dtype != np.float32:
        raise DataError(f"{what}: out must be float32 {np.shape(x)}, got {out.dtype} {out.shape}")
    return out


@_jit
def _column_stats(x, mask, robust):
    """Per feature over the finite cells of mask: (median, MAD) or (mean, std ddof 0), count."""
    T, N, F = x.shape
    center = np.full(F, np.nan)
    spread = np.full(F, np.nan)
    count = np.zeros(F, dtype=np.int64)
    for f in nb.prange(F):
        buf = np.empty(T * N)
        n = 0
        for t in range(T):
            for j in range(N):
                v = np.float64(x[t, j, f])
                if mask[t, j] and np.isfinite(v):
                    buf[n] = v
                    n += 1
        count[f] = n
        if n == 0:
            continue
        vals = buf[:n]
        if robust:
            med = np.median(vals)
            center[f] = med
            spread[f] = np.median(np.abs(vals - med))
        else:
            mean = vals.sum() / n
            center[f] = mean
            spread[f] = np.sqrt(((vals - mean) ** 2).sum() / n)
    return center, spread, count


@_jit
def _affine(x, mask, center, scale, clip, out):
    """out = (x - center[f]) / scale[f], clipped to +/-clip when clip > 0; NaN outside mask."""
    T, N, F = x.shape
    for t in nb.prange(T):
        for j in range(N):
            if not mask[t, j]:
                for f in range(F):
                    out[t, j, f] = np.nan
                continue
            for f in range(F):
                z = (np.float64(x[t, j, f]) - center[f]) / scale[f]
                if clip > 0.0 and z > clip:
                    z = clip
                elif clip > 0.0 and z < -clip:
                    z = -clip
                out[t, j, f] = z


@_jit
def _fill_zero(x, mask, out):
    """out = x with NaN set to 0 inside mask, NaN outside."""
    T, N, F = x.shape
    for t in nb.prange(T):
        for j in range(N):
            for f in range(F):
                v = x[t, j, f]
                out[t, j, f] = np.nan if not mask[t, j] else (0.0 if np.isnan(v) else v)


def _mask_or_all(mask: np.ndarray | None, shape: tuple[int, ...], what: str) -> np.ndarray:
    m = xs.check_mask(mask, shape, what)
    return np.ones(shape, dtype=bool) if m is None else m


# ---------------------------------------------------------------------------------------------
# processors


class Processor:
    """Base: `fit(x [T, N, F], mask bool [T, N]) -> self`; `transform(x, universe, out) -> out`.

    fit_on_train_only: the processor has statistics fitted on the training cells.
    valid_at_inference: it may be applied to inference data (False for label-based ones).
    """

    name: ClassVar[str] = ""
    fit_on_train_only: ClassVar[bool] = False
    valid_at_inference: ClassVar[bool] = True

    def fit(self, x: np.ndarray, mask: np.ndarray | None = None) -> Processor:
        """Learn statistics from the cells `mask` (training range x universe); stateless: no-op."""
        x3 = _as_3d(x, f"{self.name}.fit")
        xs.check_mask(mask, x3.shape[:2], f"{self.name}.fit")
        return self

    def transform(
        self, x: np.ndarray, universe: np.ndarray | None = None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """float32 result shaped like x (in `out` when given; `out` may be x); cross-sections
        restricted to `universe` [T, N], NaN outside it."""
        raise NotImplementedError

    def fit_transform(
        self,
        x: np.ndarray,
        mask: np.ndarray | None = None,
        universe: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """`fit(x, mask)` then `transform(x, universe, out)`."""
        return self.fit(x, mask).transform(x, universe, out)

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

    def transform(self, x, universe=None, out=None):
        res = _out(x, out, "fillna")
        if self.method == "cs_median":
            return xs.fill_median(x, universe, out=res)
        x3 = _as_3d(x, "fillna")
        _fill_zero(x3, _mask_or_all(universe, x3.shape[:2], "fillna"), _as_3d(res))
        return res


@register_processor
class MadWinsorize(Processor):
    """Cross-sectional winsorization at median +/- n * scale * MAD (`xsection.winsorize_mad`)."""

    name = "mad_winsorize"

    def __init__(self, n: float = 3.0, scale: float = MAD_TO_STD):
        if not n > 0 or not scale > 0:
            raise ConfigError(f"mad_winsorize: n and scale must be > 0, got n={n}, scale={scale}")
        self.n, self.scale = float(n), float(scale)

    def transform(self, x, universe=None, out=None):
        return xs.winsorize_mad(x, universe, self.n, self.scale, out=_out(x, out, self.name))


@register_processor
class CSZScore(Processor):
    """Qlib's CSZScoreNorm: (x - mean) / std per date and feature (`xsection.zscore`, ddof 1)."""

    name = "cs_zscore"

    def __init__(self, ddof: int = 1):
        self.ddof = int(ddof)

    def transform(self, x, universe=None, out=None):
        return xs.zscore(x, universe, self.ddof, out=_out(x, out, self.name))


@register_processor
class CSRank(Processor):
    """Qlib's CSRankNorm: (percentile rank - 0.5) * 3.46 per date (`xsection.rank_norm`)."""

    name = "cs_rank"

    def transform(self, x, universe=None, out=None):
        return xs.rank_norm(x, universe, out=_out(x, out, self.name))


@register_processor
class CSRankGauss(Processor):
    """Inverse normal CDF of the mid-point percentile rank per date (`xsection.rank_gauss`)."""

    name = "cs_rankgauss"

    def transform(self, x, universe=None, out=None):
        return xs.rank_gauss(x, universe, out=_out(x, out, self.name))


class _Fitted(Processor):
    """A processor with per-feature location/scale fitted on the training cells."""

    fit_on_train_only = True
    robust: ClassVar[bool] = False

    def __init__(self, clip: float | None = None):
        if clip is not None and not clip > 0:
            raise ConfigError(f"{self.name}: clip must be > 0 or None, got {clip}")
        self.clip = clip
        self.center_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def _scale(self, spread: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, x, mask=None):
        x3 = _as_3d(x, f"{self.name}.fit")
        m = _mask_or_all(mask, x3.shape[:2], f"{self.name}.fit")
        center, spread, count = _column_stats(x3, m, self.robust)
        empty = np.nonzero(count == 0)[0]
        if len(empty):
            raise DataError(
                f"{self.name}.fit: features {empty.tolist()} have no finite value "
                f"in the training cells ({int(m.sum())} rows)"
            )
        self.center_, self.scale_ = center, self._scale(spread)
        return self

    def transform(self, x, universe=None, out=None):
        if self.center_ is None:
            raise ConfigError(f"{self.name}: transform called before fit")
        x3 = _as_3d(x, self.name)
        if x3.shape[2] != len(self.center_):
            raise DataError(
                f"{self.name}: fitted on {len(self.center_)} features, got {x3.shape[2]}"
            )
        res = _out(x, out, self.name)
        m = _mask_or_all(universe, x3.shape[:2], self.name)
        clip = 0.0 if self.clip is None else float(self.clip)
        _affine(x3, m, self.center_, self.scale_, clip, _as_3d(res))
        return res


@register_processor
class ZScore(_Fitted):
    """(x - mean) / std with per-feature mean and std (ddof 0) of the training cells."""

    name = "zscore"

    def _scale(self, spread):
        return np.where(spread > 0, spread, 1.0)


@register_processor
class RobustZScore(_Fitted):
    """Qlib's RobustZScoreNorm: (x - median) / (MAD * 1.4826 + 1e-12), fitted on training cells,
    clipped to [-clip, clip] (clip=3 by default, None disables)."""

    name = "robust_zscore"
    robust = True

    def __init__(self, clip: float | None = 3.0):
        super().__init__(clip)

    def _scale(self, spread):
        return spread * MAD_TO_STD + EPS


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

    def transform(self, x, universe=None, out=None):
        x3 = _as_3d(x, "neutralize")
        T, N, F = x3.shape
        universe = xs.check_mask(universe, (T, N), "neutralize")
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
        res = _out(x, out, "neutralize")
        out3 = _as_3d(res)
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
            col = yt.reshape(T, N)
            col[~m] = np.nan
            out3[:, :, f] = col  # column f of x was read above: safe when out is x
        return res


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
        lab = _as_3d(label, "drop_missing_label label")
        self.finite = np.isfinite(lab)
        self.how = how

    def transform(self, x, universe=None, out=None):
        if out is None or out is x:
            return x
        np.copyto(_out(x, out, self.name), x)
        return out

    def keep_mask(self, mask):
        mask = xs.check_mask(mask, self.finite.shape[:2], "drop_missing_label")
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
        self.fit_transform(x, mask, universe)
        return self

    def fit_transform(
        self,
        x: np.ndarray,
        mask: np.ndarray | None = None,
        universe: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Fit on the training cells, transforming x once through the chain into one float32
        buffer (`out`, which may be x, or a new array); x is not modified otherwise."""
        res = _out(x, out, "ProcessorChain")
        cur = x
        for s in self.steps:
            cur = s.fit(cur, mask).transform(cur, universe, out=res)
            if mask is not None:
                mask = s.keep_mask(mask)
        if cur is not res:
            np.copyto(res, cur)
        return res

    def transform(
        self,
        x: np.ndarray,
        universe: np.ndarray | None = None,
        inference: bool = False,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Apply the fitted chain to any range into one float32 buffer (`out` or a new array;
        `out` may be x); `inference` skips processors not valid at inference."""
        res = _out(x, out, "ProcessorChain")
        cur = x
        for s in self.steps:
            if inference and not s.valid_at_inference:
                continue
            cur = s.transform(cur, universe, out=res)
        if cur is not res:
            np.copyto(res, cur)
        return res

    def keep_mask(self, mask: np.ndarray) -> np.ndarray:
        """Training cells kept by the chain's mask operations."""
        for s in self.steps:
            mask = s.keep_mask(mask)
        return mask

    def __repr__(self) -> str:
        return f"ProcessorChain({self.steps!r})"


__all__ = [
    "PROCESSORS",
    "CSRank",
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
    "make_processor",
    "register_processor",
]
