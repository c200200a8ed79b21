"""Tabular models: linear (OLS/ridge), LightGBM, extra trees, and a ridge/extra-trees regime blend.

Linear and tree models fill NaN features with 0 (features are expected cross-sectionally
normalised); LightGBM handles NaN natively. They fit one label column (`label_col`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from seqalpha.dataset.core import SampleSet
from seqalpha.dataset.tabular import row_weights, sample_index, scatter_scores, tabular
from seqalpha.errors import ConfigError, DataError
from seqalpha.features.store import FeatureStore
from seqalpha.models.base import Model
from seqalpha.models.registry import register_model

if TYPE_CHECKING:
    import torch


def _xy(data: SampleSet, label_col: int, train: bool, fill: bool):
    if data.labels is not None and label_col >= data.labels.shape[2]:
        raise ConfigError(
            f"param 'label_col' = {label_col}: the set has {data.labels.shape[2]} "
            f"label columns {data.label_names}"
        )
    X, y, idx = tabular(data, train=train, label_col=label_col if train else None)
    if fill:
        X = np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)
    yy = np.ascontiguousarray(y[:, label_col]) if (y is not None) else None
    return X, yy, idx


def _f64(v: float) -> torch.Tensor:
    import torch

    return torch.tensor([v], dtype=torch.float64)


def ridge_fit(
    X: np.ndarray, y: np.ndarray, alpha: float, w: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Ridge (alpha > 0) or OLS (alpha = 0, lstsq), unpenalised intercept; X [n, F], y [n];
    optional row weights w [n] (weighted least squares; alpha * sum(w) penalty)."""
    X = X.astype(np.float64)
    y = y.astype(np.float64)
    if w is None:
        mx, my = X.mean(axis=0), y.mean()
        Xc, yc = X - mx, y - my
        n = float(len(y))
    else:
        mx, my = (w @ X) / w.sum(), float(w @ y) / w.sum()
        sw = np.sqrt(w)
        Xc, yc = (X - mx) * sw[:, None], (y - my) * sw
        n = float(w.sum())
    if alpha > 0:
        A = Xc.T @ Xc + alpha * n * np.eye(X.shape[1])
        coef = np.linalg.solve(A, Xc.T @ yc)
    else:
        coef = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    return coef, float(my - mx @ coef)


def _lgb_sequence_base() -> Any:
    import lightgbm as lgb

    return lgb.Sequence


class StoreRows:
    """Rows (t[k], i[k]) of a FeatureStore as LightGBM's `Sequence` (`lgb.Dataset` samples
    single rows for its bins, then reads batches): days are read whole and the last one kept,
    so that sampled rows (sorted) read each day once."""

    batch_size = 65536

    def __init__(self, store: FeatureStore, t: np.ndarray, i: np.ndarray):
        self.store, self.t, self.i = store, np.asarray(t), np.asarray(i)
        self._day = -1
        self._rows = np.zeros((0, store.shape[2]), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.store.gather(self.t[idx], self.i[idx])
        if isinstance(idx, list):
            return self.store.gather(self.t[idx], self.i[idx])
        t = int(self.t[idx])
        if t != self._day:
            self._day, self._rows = t, self.store[t]  # [N, F]
        return self._rows[self.i[idx]].astype(np.float64)  # LightGBM samples in float64


def lgb_data_seed(seed: int) -> int:
    """The `data_random_seed` LightGBM derives from `seed` (its Random(seed).NextShort(0, 32767),
    config.cpp): the seed of the rows it samples to build the feature bins."""
    x = (214013 * (int(seed) & 0xFFFFFFFF) + 2531011) & 0xFFFFFFFF
    return ((x >> 16) & 0x7FFF) % 32767


def sequence_params(params: dict[str, Any]) -> dict[str, Any]:
    """Dataset params for a `Sequence`: LightGBM's Python side samples the bin rows itself with
    the Dataset's own params, which drop `seed`; the derived `data_random_seed` makes it sample
    the rows the C++ side samples from an array (the same bins, the same model)."""
    if "seed" in params and "data_random_seed" not in params:
        return {**params, "data_random_seed": lgb_data_seed(params["seed"])}
    return params


def _register_sequence() -> None:
    """Make StoreRows a virtual subclass of lightgbm.Sequence (lightgbm is imported lazily)."""
    base = _lgb_sequence_base()
    if not issubclass(StoreRows, base):
        base.register(StoreRows)


@register_model("linear")
class LinearModel(Model):
    """OLS (alpha=0) or ridge regression (alpha * n penalty) on daily features [F]."""

    input_kind = "tabular"
    accepts_weights = True  # SampleSet.weights (training-sample selection)
    PARAMS: ClassVar[dict[str, Any]] = {"alpha": 0.0, "label_col": 0}

    def validate_params(self) -> None:
        if self.params["alpha"] < 0:
            raise ConfigError(f"model 'linear': param 'alpha' = {self.params['alpha']} < 0")

    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        X, y, idx = _xy(train, self.params["label_col"], True, True)
        if len(y) == 0:
            raise DataError(f"linear: no training rows with labels in rows {train.rows}")
        self.coef, self.intercept = ridge_fit(X, y, self.params["alpha"], row_weights(train, idx))
        self.fitted = True

    def predict(self, data: SampleSet) -> np.ndarray:
        """Scores float32 [t1 - t0, N]; NaN outside the mask."""
        self._require_fitted("predict")
        X, _, idx = _xy(data, self.params["label_col"], False, True)
        return scatter_scores(data, idx, X.astype(np.float64) @ self.coef + self.intercept)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        import torch

        return {"coef": torch.from_numpy(self.coef), "intercept": _f64(self.intercept)}

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        self.coef = tensors["coef"].numpy()
        self.intercept = float(tensors["intercept"][0])


@register_model("lgbm")
class LGBMModel(Model):
    """LightGBM regressor with early stopping on the valid set; explicit `num_threads`.

    `bagging_freq` None bags every round when subsample < 1; 0 never bags (what Qlib's LGBModel
    does: it passes subsample without bagging_freq). `deterministic` is LightGBM's flag (stable
    results whatever the thread timing; several times slower per round with row-wise
    histograms); without it results are still reproducible for a fixed `num_threads`.
    """

    input_kind = "tabular"
    accepts_weights = True  # SampleSet.weights (training-sample selection)
    PARAMS: ClassVar[dict[str, Any]] = {
        "label_col": 0,
        "num_leaves": 64,
        "learning_rate": 0.05,
        "n_estimators": 500,
        "early_stopping_rounds": 50,
        "num_threads": 2,
        "subsample": 0.8,
        "bagging_freq": None,
        "colsample_bytree": 0.8,
        "min_child_samples": 20,
        "lambda_l1": 0.0,
        "lambda_l2": 0.0,
        "max_depth": -1,
        "deterministic": True,
    }

    def lgb_params(self) -> dict[str, Any]:
        """The parameters handed to `lightgbm.train` (and to its Datasets)."""
        p = self.params
        freq = p["bagging_freq"]
        if freq is None:
            freq = 1 if p["subsample"] < 1 else 0
        return {
            "objective": "regression",
            "num_leaves": p["num_leaves"],
            "learning_rate": p["learning_rate"],
            "num_threads": p["num_threads"],
            "bagging_fraction": p["subsample"],
            "bagging_freq": int(freq),
            "feature_fraction": p["colsample_bytree"],
            "min_data_in_leaf": p["min_child_samples"],
            "lambda_l1": p["lambda_l1"],
            "lambda_l2": p["lambda_l2"],
            "max_depth": p["max_depth"],
            "seed": p["seed"],
            "deterministic": bool(p["deterministic"]),
            "force_row_wise": True,  # no timing-based choice between row- and column-wise
            "verbosity": -1,
        }

    def validate_params(self) -> None:
        freq = self.params["bagging_freq"]
        if freq is not None and (not isinstance(freq, int) or freq < 0):
            raise ConfigError(f"model 'lgbm': param 'bagging_freq' = {freq!r}: use None or >= 0")

    def _dataset(self, data: SampleSet, params: dict, reference=None):
        """A constructed LightGBM Dataset of the set's rows, or None without labelled rows.

        Built from the float32 rows directly; they are released once LightGBM has binned them."""
        import lightgbm as lgb

        if isinstance(data.features, FeatureStore):  # out of core: rows streamed from disk
            _register_sequence()
            t, i = sample_index(data, require_label=True, label_col=self.params["label_col"])
            if len(t) == 0:
                return None
            y = np.ascontiguousarray(data.known_labels()[t, i, self.params["label_col"]])
            rows = StoreRows(data.features, t, i)
            w = row_weights(data, (t, i))
            ds = lgb.Dataset(rows, y, weight=w, reference=reference, params=sequence_params(params))
            return ds.construct()
        X, y, idx = _xy(data, self.params["label_col"], True, False)
        if len(y) == 0:
            return None
        w = row_weights(data, idx)
        ds = lgb.Dataset(X, y, weight=w, reference=reference, params=params, free_raw_data=True)
        return ds.construct()

    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        import lightgbm as lgb

        p = self.params
        params = self.lgb_params()
        dtrain = self._dataset(train, params)
        if dtrain is None:
            raise DataError(f"lgbm: no training rows with labels in rows {train.rows}")
        sets: list[lgb.Dataset] = []
        callbacks: list[Callable[..., Any]] = []
        if valid is not None and valid.labels is not None:
            dvalid = self._dataset(valid, params, reference=dtrain)
            if dvalid is not None:
                sets = [dvalid]
                callbacks = [lgb.early_stopping(p["early_stopping_rounds"], verbose=False)]
        self.booster = lgb.train(
            params, dtrain, num_boost_round=p["n_estimators"], valid_sets=sets, callbacks=callbacks
        )
        self.fitted = True

    def predict(self, data: SampleSet) -> np.ndarray:
        """Scores float32 [t1 - t0, N]; NaN outside the mask."""
        self._require_fitted("predict")
        best = self.booster.best_iteration or None
        threads = self.params["num_threads"]
        if isinstance(data.features, FeatureStore):  # out of core: rows read block by block
            idx = sample_index(data, require_label=False)
            rows = StoreRows(data.features, *idx)
            parts = [
                self.booster.predict(
                    rows[a : a + rows.batch_size], num_iteration=best, num_threads=threads
                )
                for a in range(0, len(rows), rows.batch_size)
            ]
            return scatter_scores(data, idx, np.concatenate([np.zeros(0), *parts]))
        X, _, idx = _xy(data, self.params["label_col"], False, False)
        s = self.booster.predict(X, num_iteration=best, num_threads=threads) if len(X) else []
        return scatter_scores(data, idx, np.asarray(s))

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def extra_config(self) -> dict[str, Any]:
        return {"booster": self.booster.model_to_string()}  # LightGBM's text format, not a pickle

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        import lightgbm as lgb

        self.booster = lgb.Booster(model_str=extra["booster"])


# ----------------------------------------------------------------- extra trees as plain arrays


def forest_arrays(forest) -> dict[str, np.ndarray]:
    """A fitted sklearn forest as node arrays (roots, left, right, feature, threshold, value)."""
    lefts, rights, feats, thrs, vals, roots = [], [], [], [], [], []
    off = 0
    for est in forest.estimators_:
        tr = est.tree_
        n = tr.node_count
        left, right = tr.children_left.astype(np.int64), tr.children_right.astype(np.int64)
        lefts.append(np.where(left >= 0, left + off, -1))
        rights.append(np.where(right >= 0, right + off, -1))
        feats.append(tr.feature.astype(np.int64))
        thrs.append(tr.threshold.astype(np.float64))
        vals.append(tr.value.reshape(n, -1)[:, 0].astype(np.float64))
        roots.append(off)
        off += n
    return {
        "roots": np.array(roots, np.int64),
        "left": np.concatenate(lefts),
        "right": np.concatenate(rights),
        "feature": np.concatenate(feats),
        "threshold": np.concatenate(thrs),
        "value": np.concatenate(vals),
    }


def forest_predict(arrs: dict[str, np.ndarray], X: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Mean leaf value over the trees for X [n, F] (float32 compared in float64, as sklearn)."""
    n = len(X)
    out = np.empty(n, dtype=np.float64)
    left, right, feat, thr, val = (
        arrs[k] for k in ("left", "right", "feature", "threshold", "value")
    )
    for a in range(0, n, chunk):
        Xc = X[a : a + chunk].astype(np.float32)
        m = len(Xc)
        node = np.broadcast_to(arrs["roots"], (m, len(arrs["roots"]))).copy()  # [m, K]
        rows = np.arange(m)[:, None]
        while True:
            internal = left[node] >= 0
            if not internal.any():
                break
            f = np.where(internal, feat[node], 0)
            go_left = Xc[rows, f].astype(np.float64) <= thr[node]
            node = np.where(internal, np.where(go_left, left[node], right[node]), node)
        out[a : a + m] = val[node].mean(axis=1)
    return out


class _TreesMixin:
    params: dict[str, Any]  # the model's, as set by Model
    ET_PARAMS: ClassVar[dict[str, Any]] = {
        "n_estimators": 100,
        "max_depth": 8,
        "min_samples_leaf": 50,
        "max_features": 0.5,
        "n_jobs": 2,
    }

    def _fit_trees(self, X: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import ExtraTreesRegressor

        p = self.params
        et = ExtraTreesRegressor(
            n_estimators=p["n_estimators"],
            max_depth=p["max_depth"],
            min_samples_leaf=p["min_samples_leaf"],
            max_features=p["max_features"],
            n_jobs=p["n_jobs"],
            random_state=p["seed"],
        )
        et.fit(X, y)
        self.trees = forest_arrays(et)

    def _tree_tensors(self, prefix: str = "et.") -> dict[str, torch.Tensor]:
        import torch

        return {
            prefix + k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.trees.items()
        }

    def _load_trees(self, tensors: dict[str, torch.Tensor], prefix: str = "et.") -> None:
        self.trees = {
            k[len(prefix) :]: v.numpy() for k, v in tensors.items() if k.startswith(prefix)
        }


@register_model("extra_trees")
class ExtraTreesModel(_TreesMixin, Model):
    """sklearn extremely randomised trees; the fitted forest is kept as plain node arrays."""

    input_kind = "tabular"
    PARAMS: ClassVar[dict[str, Any]] = {"label_col": 0, **_TreesMixin.ET_PARAMS}

    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        X, y, _ = _xy(train, self.params["label_col"], True, True)
        if len(y) == 0:
            raise DataError(f"extra_trees: no training rows with labels in rows {train.rows}")
        self._fit_trees(X, y)
        self.fitted = True

    def predict(self, data: SampleSet) -> np.ndarray:
        """Scores float32 [t1 - t0, N]; NaN outside the mask."""
        self._require_fitted("predict")
        X, _, idx = _xy(data, self.params["label_col"], False, True)
        return scatter_scores(data, idx, forest_predict(self.trees, X))

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return self._tree_tensors()

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        self._load_trees(tensors)


def market_volatility(
    data: SampleSet, window: int, label_col: int = 0, delay: int = 2, feature: str | None = None
) -> np.ndarray:
    """Regime indicator float64 [T]: rolling `window`-day std of the cross-sectional mean return.

    The mean return at t is the mean of feature `feature` at t when given, else the mean label
    at t - `delay` (a label at s is realised by s + delay, so no future data is read).
    """
    T = len(data.dates)
    if feature is not None:
        if feature not in data.feature_names:
            raise ConfigError(f"param 'regime_feature': {feature!r} not in the set's features")
        j = data.feature_names.index(feature)
        src = np.where(data.mask, data.known_features()[:, :, j], np.nan)
        lag = 0
    else:
        if data.labels is None:
            raise DataError(
                "ridge_et_regime: the regime needs lagged labels or 'regime_feature'; "
                "the set has no labels"
            )
        src = np.where(data.mask, data.labels[:, :, label_col], np.nan)
        lag = delay
    with np.errstate(invalid="ignore"):
        cnt = np.isfinite(src).sum(axis=1)
        m = np.where(cnt > 0, np.nansum(src, axis=1) / np.maximum(cnt, 1), np.nan)
    m = np.concatenate([np.full(lag, np.nan), m[: T - lag]]) if lag else m
    vol = np.full(T, np.nan)
    if T >= window:
        w = sliding_window_view(m, window)  # [T - window + 1, window]
        ok = np.isfinite(w).sum(axis=1) >= max(2, window // 2 + 1)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            s = np.nanstd(w, axis=1, ddof=1)
        vol[window - 1 :] = np.where(ok, s, np.nan)
    return vol


@register_model("ridge_et_regime")
class RidgeETRegime(_TreesMixin, Model):
    """Ridge and extra trees blended by market regime: trees weigh `turbulent_tree_weight` on days
    whose recent market volatility exceeds its training median, `calm_tree_weight` otherwise."""

    input_kind = "tabular"
    PARAMS: ClassVar[dict[str, Any]] = {
        "label_col": 0,
        "alpha": 1e-3,
        "vol_window": 5,
        "label_delay": 2,
        "regime_feature": None,
        "calm_tree_weight": 0.3,
        "turbulent_tree_weight": 0.7,
        **_TreesMixin.ET_PARAMS,
    }

    def validate_params(self) -> None:
        for k in ("calm_tree_weight", "turbulent_tree_weight"):
            if not 0.0 <= self.params[k] <= 1.0:
                raise ConfigError(
                    f"model 'ridge_et_regime': param {k!r} = {self.params[k]} outside [0, 1]"
                )
        if self.params["vol_window"] < 2:
            raise ConfigError("model 'ridge_et_regime': param 'vol_window' must be >= 2")

    def _vol(self, data: SampleSet) -> np.ndarray:
        p = self.params
        return market_volatility(
            data, p["vol_window"], p["label_col"], p["label_delay"], p["regime_feature"]
        )

    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        X, y, _ = _xy(train, self.params["label_col"], True, True)
        if len(y) == 0:
            raise DataError(f"ridge_et_regime: no training rows with labels in rows {train.rows}")
        self.coef, self.intercept = ridge_fit(X, y, self.params["alpha"])
        self._fit_trees(X, y)
        vol = self._vol(train)[train.rows[0] : train.rows[1]]
        self.threshold = float(np.nanmedian(vol)) if np.isfinite(vol).any() else float("inf")
        self.fitted = True

    def tree_weight(self, data: SampleSet) -> np.ndarray:
        """Weight of the trees per date of `data.rows` [t1 - t0] (calm when volatility unknown)."""
        vol = self._vol(data)[data.rows[0] : data.rows[1]]
        turbulent = np.isfinite(vol) & (vol > self.threshold)
        p = self.params
        return np.where(turbulent, p["turbulent_tree_weight"], p["calm_tree_weight"])

    def predict(self, data: SampleSet) -> np.ndarray:
        """Scores float32 [t1 - t0, N]; NaN outside the mask."""
        self._require_fitted("predict")
        X, _, idx = _xy(data, self.params["label_col"], False, True)
        lin = X.astype(np.float64) @ self.coef + self.intercept
        tree = forest_predict(self.trees, X)
        w = self.tree_weight(data)[idx[0] - data.rows[0]]
        return scatter_scores(data, idx, (1 - w) * lin + w * tree)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        import torch

        return {
            "coef": torch.from_numpy(self.coef),
            "intercept": _f64(self.intercept),
            "threshold": torch.tensor([self.threshold], dtype=torch.float64),
            **self._tree_tensors(),
        }

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        self.coef = tensors["coef"].numpy()
        self.intercept = float(tensors["intercept"][0])
        self.threshold = float(tensors["threshold"][0])
        self._load_trees(tensors)
