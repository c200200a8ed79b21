"""DoubleEnsemble (Zhang et al., ICDM 2020): LightGBM sub-models trained in sequence, each on
re-weighted samples (SR: bins of a loss-curve "hardness" value) and a re-sampled feature set
(FS: bins of the loss increase when a feature is shuffled), averaged with `sub_weights`.

The parameters are pyqlib's `DEnsembleModel`'s. Deliberate differences from pyqlib 0.9.7:
- FS compares like with like: the shuffled and the unshuffled ensemble are both the
  `sub_weights`-weighted mean (pyqlib weighs the shuffled one equally, the base one by
  `sub_weights`, which biases every feature's g-value by the same offset).
- FS sampling ratios follow the bin's position (highest g-values: `sample_ratios[0]`); pyqlib
  enumerates only the non-empty bins, so an empty bin shifts the ratios of the lower ones.
- Randomness (feature shuffles and draws) comes from generators seeded by `seed`: fits are
  reproducible (pyqlib draws from numpy's global generator).
- The loss curve is read from one leaf-index pass (`pred_leaf`) instead of one prediction per
  tree; `fs_max_rows` optionally computes g-values on a fixed random subset of rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numba as nb
import numpy as np
from scipy.stats import rankdata

from seqalpha.dataset.core import SampleSet
from seqalpha.dataset.tabular import row_weights, scatter_scores, tabular
from seqalpha.errors import ConfigError, DataError
from seqalpha.logs import get_logger
from seqalpha.models.base import Model
from seqalpha.models.registry import register_model

if TYPE_CHECKING:
    import lightgbm as lgb
    import torch

log = get_logger("double_ensemble")


def rank_pct(x: np.ndarray) -> np.ndarray:
    """Percentile ranks in (0, 1] along axis 0 (ties get their average rank), as pandas'
    `rank(pct=True)`."""
    return rankdata(x, method="average", axis=0) / x.shape[0]


def curve_ends(curve: np.ndarray, part_frac: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(l_start, l_end) [n] of a loss curve [n, T] (loss of sample i after iteration t): the mean
    over the first / last `part` iterations (10% of T, at least 1) of each iteration's
    percentile rank of the sample's loss among all samples."""
    T = curve.shape[1]
    part = max(int(T * part_frac), 1)
    norm = rank_pct(curve)
    return norm[:, :part].mean(axis=1), norm[:, -part:].mean(axis=1)


def equal_width_bins(x: np.ndarray, bins: int) -> np.ndarray:
    """Bin index in [0, bins) of each value: `bins` equal-width intervals over [min, max], closed
    on the right (pandas' `cut(x, bins)`); all values in bin 0 when they are all equal."""
    lo, hi = float(np.min(x)), float(np.max(x))
    if hi <= lo:
        return np.zeros(len(x), dtype=np.int64)
    edges = np.linspace(lo, hi, bins + 1)[1:-1]
    return np.searchsorted(edges, x, side="left").astype(np.int64)


def sr_weights(
    l_start: np.ndarray,
    l_end: np.ndarray,
    loss: np.ndarray,
    k: int,
    alpha1: float = 1.0,
    alpha2: float = 1.0,
    bins: int = 10,
    decay: float = 0.5,
) -> np.ndarray:
    """Sample weights [n] for sub-model k + 1 (k >= 1 sub-models trained so far).

    h = alpha1 * rank(-loss) + alpha2 * rank(l_end / l_start): low for samples the ensemble gets
    badly wrong (hard), high for ones it fits well or whose relative loss rose during training
    (noisy). The h-values are cut into `bins` equal-width bins; every sample of a bin weighs
    1 / (decay ** k * mean h of the bin + 0.1).
    """
    h = alpha1 * rank_pct(-loss) + alpha2 * rank_pct(l_end / l_start)
    b = equal_width_bins(h, bins)
    count = np.bincount(b, minlength=bins)
    mean_h = np.bincount(b, weights=h, minlength=bins) / np.maximum(count, 1)
    return 1.0 / (decay**k * mean_h[b] + 0.1)


def fs_select(
    g: np.ndarray, bins: int, sample_ratios: list[float], rng: np.random.Generator
) -> np.ndarray:
    """Sorted indices of the features kept: g-values [F] cut into `bins` equal-width bins; from
    the bin of highest g down, draw ceil(ratio * size) of each bin's features (ratio
    `sample_ratios[0]` for the top bin) without replacement. NaN g-values count as 0."""
    g = np.nan_to_num(np.asarray(g, dtype=np.float64), nan=0.0)
    b = equal_width_bins(g, bins)
    keep: list[np.ndarray] = []
    for pos, ratio in enumerate(sample_ratios):
        members = np.flatnonzero(b == bins - 1 - pos)
        n = int(np.ceil(ratio * len(members)))
        if n:
            keep.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def cumulative_predictions(
    booster: lgb.Booster, X: np.ndarray, n_iter: int
) -> Iterator[np.ndarray]:
    """For t = 0..n_iter-1, the booster's raw prediction [n] after t + 1 trees, read from one
    leaf-index pass: the running sum of the leaf outputs reached (the same array, updated)."""
    leaves = booster.predict(X, pred_leaf=True, num_iteration=n_iter)
    leaves = np.asarray(leaves, dtype=np.int64).reshape(len(X), -1)
    cum = np.zeros(len(X), dtype=np.float64)
    for t in range(leaves.shape[1]):
        n_leaves = int(leaves[:, t].max()) + 1
        out = np.array([booster.get_leaf_output(t, j) for j in range(n_leaves)])
        cum += out[leaves[:, t]]
        yield cum


def loss_curve_ends(
    booster: lgb.Booster, X: np.ndarray, y: np.ndarray, n_iter: int, part_frac: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """`curve_ends` of the squared-error curve of `booster` on (X, y) without holding the
    [n, T] curve: only the first and last `part` iterations' ranks are kept."""
    part = max(int(n_iter * part_frac), 1)
    start = np.zeros(len(y))
    end = np.zeros(len(y))
    for t, pred in enumerate(cumulative_predictions(booster, X, n_iter)):
        if t < part or t >= n_iter - part:
            r = rank_pct((y - pred) ** 2)
            if t < part:
                start += r
            if t >= n_iter - part:
                end += r
    return start / part, end / part


_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


def tree_arrays(
    booster: lgb.Booster, features: np.ndarray, X: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The booster's trees (its best iteration, as `model_to_string` saves) as flat arrays, split
    features mapped through `features` (sub-model column -> column of the full X):
    root [T], feature/threshold/default_left/missing/left/right [nodes] (a child < 0 is the leaf
    -child - 1), leaf_value and on_path [leaves, F_sub] (the leaf's path splits on column j),
    leaf_offset [T] (tree t's leaf i is leaf leaf_offset[t] + i), uses [T, F_sub] and
    feature_map = features. With X [n, F] (all features): leaves [n, T], LightGBM's leaf of
    every row in every tree (one `pred_leaf` pass)."""
    dump = booster.dump_model()
    infos = dump["tree_info"]
    counts = [int(info["num_leaves"]) for info in infos]
    offset = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    n_leaves = int(sum(counts))
    leaf_value = np.zeros(n_leaves)
    on_path = np.zeros((n_leaves, len(features)), dtype=np.bool_)
    uses = np.zeros((len(infos), len(features)), dtype=np.bool_)
    feat: list[int] = []
    miss: list[int] = []
    left: list[int] = []
    right: list[int] = []
    thr: list[float] = []
    dleft: list[bool] = []

    def add(node: dict, t: int, path: list[int]) -> int:
        if "leaf_value" in node:
            leaf = int(offset[t]) + int(node.get("leaf_index", 0))
            leaf_value[leaf] = float(node["leaf_value"])
            on_path[leaf, path] = True
            return -leaf - 1
        if node.get("decision_type", "<=") != "<=":
            raise DataError("double_ensemble: categorical splits are not supported")
        k = len(feat)
        j = int(node["split_feature"])
        uses[t, j] = True
        feat.append(int(features[j]))
        thr.append(float(node["threshold"]))
        dleft.append(bool(node["default_left"]))
        miss.append(_MISSING[node["missing_type"]])
        left.append(0)
        right.append(0)
        left[k] = add(node["left_child"], t, [*path, j])
        right[k] = add(node["right_child"], t, [*path, j])
        return k

    roots = [add(info["tree_structure"], t, []) for t, info in enumerate(infos)]
    out = {
        "root": np.asarray(roots, dtype=np.int64),
        "feature": np.asarray(feat, dtype=np.int64),
        "threshold": np.asarray(thr, dtype=np.float64),
        "default_left": np.asarray(dleft, dtype=np.bool_),
        "missing": np.asarray(miss, dtype=np.int8),
        "left": np.asarray(left, dtype=np.int64),
        "right": np.asarray(right, dtype=np.int64),
        "leaf_value": leaf_value,
        "on_path": on_path,
        "leaf_offset": offset,
        "uses": uses,
        "feature_map": np.asarray(features, dtype=np.int64),
    }
    if X is not None:
        leaves = booster.predict(X[:, features], pred_leaf=True)
        out["leaves"] = np.asarray(leaves, dtype=np.int32).reshape(len(X), len(infos))
    return out


@nb.njit(cache=True, parallel=True)
def _shuffle_delta(
    X,
    perm,
    f,
    j,
    trees,
    root,
    feat,
    thr,
    dleft,
    miss,
    left,
    right,
    leaf_value,
    on_path,
    leaf_offset,
    leaves,
):  # pragma: no cover
    """Per row r: the change of the summed outputs of `trees` when column f of X is read from
    row perm[r]. A row whose leaf's path never splits on f (local column j) keeps its leaf;
    the others walk the tree again with LightGBM's numerical rule."""
    n = X.shape[0]
    out = np.zeros(n)
    for r in nb.prange(n):
        acc = 0.0
        pr = perm[r]
        for k in range(len(trees)):
            t = trees[k]
            old = leaf_offset[t] + leaves[r, t]
            if not on_path[old, j]:
                continue
            node = root[t]
            while node >= 0:
                c = feat[node]
                v = np.float64(X[pr, c] if c == f else X[r, c])
                m = miss[node]
                if np.isnan(v) and m != 2:
                    v = 0.0
                if (m == 1 and abs(v) <= 1e-35) or (m == 2 and np.isnan(v)):
                    node = left[node] if dleft[node] else right[node]
                elif v <= thr[node]:
                    node = left[node]
                else:
                    node = right[node]
            acc += leaf_value[-node - 1] - leaf_value[old]
        out[r] = acc
    return out


def shuffle_delta(
    arrs: dict[str, np.ndarray], X: np.ndarray, f: int, perm: np.ndarray
) -> np.ndarray:
    """Change [n] of a booster's raw prediction on X [n, F] (all features, float32) when column
    f is permuted by `perm` (exact, no copy of X): `arrs` from `tree_arrays(booster, features,
    X)`; only the rows whose leaf path splits on f walk again, in the trees that use f."""
    local = np.flatnonzero(arrs["feature_map"] == f)
    if len(local) == 0:
        return np.zeros(len(X))
    j = int(local[0])
    trees = np.flatnonzero(arrs["uses"][:, j])
    if len(trees) == 0:
        return np.zeros(len(X))
    return _shuffle_delta(
        X,
        perm,
        int(f),
        j,
        trees.astype(np.int64),
        arrs["root"],
        arrs["feature"],
        arrs["threshold"],
        arrs["default_left"],
        arrs["missing"],
        arrs["left"],
        arrs["right"],
        arrs["leaf_value"],
        arrs["on_path"],
        arrs["leaf_offset"],
        arrs["leaves"],
    )


@register_model("double_ensemble")
class DoubleEnsembleModel(Model):
    """DoubleEnsemble of LightGBM sub-models (sample re-weighting + feature selection)."""

    input_kind = "tabular"
    accepts_weights = True  # SampleSet.weights (training-sample selection) scale SR's weights
    PARAMS: ClassVar[dict[str, Any]] = {
        "label_col": 0,
        "num_models": 6,
        "enable_sr": True,
        "enable_fs": True,
        "alpha1": 1.0,
        "alpha2": 1.0,
        "bins_sr": 10,
        "bins_fs": 5,
        "decay": 0.5,
        "sample_ratios": [0.8, 0.7, 0.6, 0.5, 0.4],
        "sub_weights": None,
        "epochs": 100,
        "early_stopping_rounds": None,
        "fs_max_rows": None,
        # LightGBM (the names of the `lgbm` model)
        "num_leaves": 64,
        "learning_rate": 0.05,
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

    def validate_params(self) -> None:
        p = self.params
        name = "model 'double_ensemble'"
        if p["num_models"] < 1:
            raise ConfigError(f"{name}: param 'num_models' = {p['num_models']} < 1")
        for key in ("bins_sr", "bins_fs", "epochs"):
            if not isinstance(p[key], int) or p[key] < 1:
                raise ConfigError(f"{name}: param {key!r} = {p[key]!r} must be an int >= 1")
        if len(p["sample_ratios"]) != p["bins_fs"]:
            raise ConfigError(
                f"{name}: param 'sample_ratios' has {len(p['sample_ratios'])} values for "
                f"bins_fs = {p['bins_fs']}"
            )
        if not all(0.0 <= float(r) <= 1.0 for r in p["sample_ratios"]):
            raise ConfigError(f"{name}: param 'sample_ratios' values must lie in [0, 1]")
        if p["sub_weights"] is not None:
            if not isinstance(p["sub_weights"], (list, tuple)):
                raise ConfigError(f"{name}: param 'sub_weights' must be a list of numbers")
            if len(p["sub_weights"]) != p["num_models"]:
                raise ConfigError(
                    f"{name}: param 'sub_weights' has {len(p['sub_weights'])} values for "
                    f"num_models = {p['num_models']}"
                )
            if any(float(w) < 0 for w in p["sub_weights"]) or sum(p["sub_weights"]) <= 0:
                raise ConfigError(f"{name}: param 'sub_weights' must be >= 0 with a positive sum")
        if not 0.0 < p["decay"] <= 1.0:
            raise ConfigError(f"{name}: param 'decay' = {p['decay']} outside (0, 1]")
        if p["fs_max_rows"] is not None and (
            not isinstance(p["fs_max_rows"], int) or p["fs_max_rows"] < 2
        ):
            raise ConfigError(f"{name}: param 'fs_max_rows' must be None or an int >= 2")
        freq = p["bagging_freq"]
        if freq is not None and (not isinstance(freq, int) or freq < 0):
            raise ConfigError(f"{name}: param 'bagging_freq' = {freq!r}: use None or >= 0")

    def weights(self) -> np.ndarray:
        """Sub-model weights [num_models] (all 1 when `sub_weights` is None)."""
        w = self.params["sub_weights"]
        return np.ones(self.params["num_models"]) if w is None else np.asarray(w, dtype=float)

    def lgb_params(self) -> dict[str, Any]:
        """The parameters handed to `lightgbm.train` for every sub-model."""
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
            "force_row_wise": True,
            "verbosity": -1,
        }

    def _rows(self, data: SampleSet, train: bool):
        col = self.params["label_col"]
        if data.labels is not None and col >= data.labels.shape[2]:
            raise ConfigError(
                f"model 'double_ensemble': param 'label_col' = {col}: the set has "
                f"{data.labels.shape[2]} label columns {data.label_names}"
            )
        X, y, idx = tabular(data, train=train, label_col=col if train else None)
        yy = np.ascontiguousarray(y[:, col], dtype=np.float64) if y is not None else None
        return X, yy, idx

    # ------------------------------------------------------------------ training
    def _train_sub(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray, valid: tuple | None
    ) -> lgb.Booster:
        import lightgbm as lgb

        params = self.lgb_params()
        dtrain = lgb.Dataset(X, y, weight=w, params=params, free_raw_data=True)
        sets: list[lgb.Dataset] = []
        callbacks: list[Callable[..., Any]] = []
        rounds = self.params["early_stopping_rounds"]
        if rounds and valid is not None:
            sets = [lgb.Dataset(valid[0], valid[1], reference=dtrain, params=params)]
            callbacks = [lgb.early_stopping(rounds, verbose=False)]
        return lgb.train(
            params,
            dtrain,
            num_boost_round=self.params["epochs"],
            valid_sets=sets,
            callbacks=callbacks,
        )

    def _sub_predict(self, k: int, X: np.ndarray) -> np.ndarray:
        """Sub-model k's prediction [n] for X holding ALL features [n, F]."""
        booster = self.boosters[k]
        Xk = X[:, self.features[k]]
        return np.asarray(
            booster.predict(
                Xk,
                num_iteration=booster.best_iteration or None,
                num_threads=self.params["num_threads"],
            )
        )

    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        """Train `num_models` sub-models in sequence; SR and FS between consecutive ones."""
        p = self.params
        X, y, idx = self._rows(train, True)
        if len(y) == 0:
            raise DataError(f"double_ensemble: no training rows with labels in rows {train.rows}")
        vset = None
        if valid is not None and valid.labels is not None and p["early_stopping_rounds"]:
            Xv, yv, _ = self._rows(valid, True)
            vset = (Xv, yv) if len(yv) else None
        n, F = X.shape
        self.n_features = F
        self.feature_names = list(train.feature_names)
        sw = self.weights()
        prior = row_weights(train, idx)  # None: every sample weighs 1
        w = np.ones(n) if prior is None else prior
        feats = np.arange(F)
        self.boosters: list[lgb.Booster] = []
        self.features: list[np.ndarray] = []
        self.sample_weights: list[np.ndarray] = []  # weights of each sub-model's rows (in fit)
        self.seconds: list[dict[str, float]] = []  # per sub-model: train, sr, fs (in fit)
        pred_sub = np.zeros((n, p["num_models"]))
        for k in range(p["num_models"]):
            log.info("sub-model %d/%d: %d features", k + 1, p["num_models"], len(feats))
            Xk = np.ascontiguousarray(X[:, feats])
            t0 = time.perf_counter()
            booster = self._train_sub(
                Xk, y, w, None if vset is None else (vset[0][:, feats], vset[1])
            )
            self.seconds.append({"train": time.perf_counter() - t0})
            self.boosters.append(booster)
            self.features.append(feats)
            self.sample_weights.append(w)
            if k + 1 == p["num_models"]:
                break
            n_iter = booster.best_iteration or booster.num_trees()
            pred_sub[:, k] = booster.predict(
                Xk, num_iteration=booster.best_iteration or None, num_threads=p["num_threads"]
            )
            ens = pred_sub[:, : k + 1] @ sw[: k + 1] / sw[: k + 1].sum()
            loss = (y - ens) ** 2
            t0 = time.perf_counter()
            if p["enable_sr"]:
                l_start, l_end = loss_curve_ends(booster, Xk, y, n_iter)
                w = sr_weights(
                    l_start, l_end, loss, k + 1, p["alpha1"], p["alpha2"], p["bins_sr"], p["decay"]
                )
                if prior is not None:
                    w = w * prior
            del Xk
            self.seconds[-1]["sr"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            if p["enable_fs"]:
                g = self.g_values(X, y, pred_sub[:, : k + 1], k)
                rng = np.random.default_rng([p["seed"], k, 1])
                feats = fs_select(g, p["bins_fs"], list(p["sample_ratios"]), rng)
                if len(feats) == 0:
                    raise DataError("double_ensemble: feature selection kept no feature")
            self.seconds[-1]["fs"] = time.perf_counter() - t0
            log.info(
                "sub-model %d/%d: train %.1fs, loss curve + SR %.1fs, FS %.1fs",
                k + 1,
                p["num_models"],
                *self.seconds[-1].values(),
            )
        self.fitted = True

    def g_values(self, X: np.ndarray, y: np.ndarray, pred_sub: np.ndarray, k: int) -> np.ndarray:
        """FS g-value [F] of every feature against the ensemble of sub-models 0..k: with the
        feature's column shuffled, the mean over samples of the loss increase divided by its
        standard deviation. `pred_sub` [n, k + 1] holds the sub-models' unshuffled predictions.
        """
        p = self.params
        F = X.shape[1]
        if p["fs_max_rows"] is not None and len(X) > p["fs_max_rows"]:
            pick = np.random.default_rng([p["seed"], k, 2]).choice(len(X), p["fs_max_rows"], False)
            rows = np.sort(pick)
            X, y, pred_sub = X[rows], y[rows], pred_sub[rows]
        n = len(X)
        sw = self.weights()[: k + 1]
        sw = sw / sw.sum()
        base = pred_sub @ sw
        loss = (y - base) ** 2
        delta = np.zeros((F, n), dtype=np.float32)  # shuffled - unshuffled ensemble
        X = np.ascontiguousarray(X, dtype=np.float32)
        prev = nb.get_num_threads()
        cap = int(getattr(nb.config, "NUMBA_NUM_THREADS", 1))
        nb.set_num_threads(max(1, min(p["num_threads"], cap)))
        try:
            for s in range(k + 1):
                arrs = tree_arrays(self.boosters[s], self.features[s], X)
                for f in self.features[s]:
                    # one permutation per feature, the same for every sub-model
                    perm = np.random.default_rng([p["seed"], k, 3, int(f)]).permutation(n)
                    change = shuffle_delta(arrs, X, int(f), perm)
                    delta[f] += (sw[s] * change).astype(np.float32)
        finally:
            nb.set_num_threads(prev)
        g = np.zeros(F)
        for f in range(F):
            d = (y - base - delta[f]) ** 2 - loss
            g[f] = d.mean() / (d.std() + 1e-7)
        return np.nan_to_num(g, nan=0.0)

    # ------------------------------------------------------------------ inference
    def predict(self, data: SampleSet) -> np.ndarray:
        """Scores float32 [t1 - t0, N]: the `sub_weights`-weighted mean of the sub-models."""
        self._require_fitted("predict")
        X, _, idx = self._rows(data, False)
        if X.shape[1] != self.n_features:
            raise DataError(
                f"double_ensemble: inputs have {X.shape[1]} features, the model was fitted "
                f"on {self.n_features}"
            )
        sw = self.weights()[: len(self.boosters)]
        s = np.zeros(len(X))
        if len(X):
            for k in range(len(self.boosters)):
                s += sw[k] * self._sub_predict(k, X)
        return scatter_scores(data, idx, s / sw.sum())

    def state_tensors(self) -> dict[str, torch.Tensor]:
        import torch

        return {
            f"features.{k}": torch.from_numpy(np.asarray(f, dtype=np.int64))
            for k, f in enumerate(self.features)
        }

    def extra_config(self) -> dict[str, Any]:
        # LightGBM's text format, not a pickle
        return {
            "boosters": [b.model_to_string() for b in self.boosters],
            "n_features": self.n_features,
            "feature_names": self.feature_names,
        }

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        import lightgbm as lgb

        self.boosters = [lgb.Booster(model_str=s) for s in extra["boosters"]]
        self.features = [tensors[f"features.{k}"].numpy() for k in range(len(self.boosters))]
        self.n_features = int(extra["n_features"])
        self.feature_names = list(extra.get("feature_names", []))

    def selected_features(self) -> list[list[str]]:
        """The feature names each sub-model was trained on."""
        self._require_fitted("selected_features")
        names = self.feature_names or [f"f{j}" for j in range(self.n_features)]
        return [[names[j] for j in f] for f in self.features]
