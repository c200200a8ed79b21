"""One walk-forward job: processors fitted on the window's train rows, the model fitted on its
sample sets, the test range predicted (`run_job` is what executors map over jobs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqalpha.dataset.core import SampleSet
from seqalpha.errors import DataError
from seqalpha.features.processors import ProcessorChain
from seqalpha.features.store import FeatureStore
from seqalpha.models.registry import create_model
from seqalpha.train.selection import selection_spec
from seqalpha.train.splits import Window

# Processors whose statistics and outputs are per feature column (safe to run on column blocks).
COLUMNWISE_PROCESSORS = frozenset(
    {
        "fillna",
        "mad_winsorize",
        "cs_zscore",
        "cs_rankgauss",
        "cs_rank",
        "zscore",
        "robust_zscore",
        "neutralize",
        "drop_missing_label",
    }
)
FEATURE_CHUNK = 32
STORE_CHUNK = 8  # feature columns per block when the window's features come from a FeatureStore


@dataclass(frozen=True)
class TrainSpec:
    """What a window job needs besides the arrays (picklable, no pydantic)."""

    model: str
    params: dict
    feature_processors: list = field(default_factory=list)  # [{"name": .., **params}]
    label_processors: list = field(default_factory=list)
    lookback: int = 1
    label_reach: int = 0  # the label at t is realized at the close of t + label_reach
    selection: dict = field(default_factory=dict)  # train.selection.selection_spec ({}: none)


@dataclass(frozen=True)
class Job:
    """One model fit: a window and a seed (`model_seed` derived from both)."""

    window: Window
    seed: int
    model_seed: int
    spec: TrainSpec


def model_seed(seed: int, window: int) -> int:
    """The seed given to the model of window `window` for ensemble member `seed`."""
    return int((seed * 1_000_003 + window * 7919) % (2**31 - 1))


def window_arrays(inputs, job: Job) -> dict[str, Any]:
    """Processed arrays of one window (history rows included), processors fitted on its train
    rows only; labels outside train and valid are NaN so no model can read them.

    `known_labels` are the labels of every row of the window (test rows included) through the
    label processors fitted on train: the test set carries them with `label_reach`, so that a
    model with a memory of realized labels (TRA) reads at date t only labels realized by t."""

    w, spec = job.window, job.spec
    lo = max(0, w.train[0] - (spec.lookback - 1))
    hi = w.test[1]
    T_w = hi - lo
    mask = np.asarray(inputs.mask[lo:hi], dtype=bool)
    train_rows = np.zeros(T_w, dtype=bool)
    train_rows[w.train[0] - lo : w.train[1] - lo] = True
    fit_cells = mask & train_rows[:, None]
    labels = np.array(inputs.labels[lo:hi], dtype=np.float32, copy=True)
    labelled = train_rows.copy()
    if w.valid is not None:
        labelled[w.valid[0] - lo : w.valid[1] - lo] = True
    labels[~labelled] = np.nan

    def run_chain(items, x, extra):
        if x is None or not items:
            return x, ProcessorChain([])
        F = x.shape[2]
        columnwise = {it["name"] for it in items} <= COLUMNWISE_PROCESSORS
        step_f = FEATURE_CHUNK if columnwise and F > FEATURE_CHUNK else F
        # the window's one processed copy: every processor writes into it in place, block by
        # block of columns (fitted per block: column-wise statistics)
        out = np.empty(x.shape, dtype=np.float32)
        for f0 in range(0, F, step_f):
            chain = ProcessorChain.from_config(items, **extra)
            cols = slice(f0, f0 + step_f)
            chain.fit_transform(x[:, :, cols], fit_cells, mask, out=out[:, :, cols])
        return out, chain

    if isinstance(inputs.features, FeatureStore):
        feats, fchain = store_chain(
            inputs.features, lo, hi, spec.feature_processors, fit_cells, mask, {"label": labels}
        )
    else:
        feats, fchain = run_chain(
            spec.feature_processors,
            None if inputs.features is None else inputs.features[lo:hi],
            {"label": labels},
        )
    bars = None
    if inputs.bars is not None:
        b = np.asarray(inputs.bars[lo:hi])
        flat, _ = run_chain(
            spec.feature_processors, b.reshape(T_w, b.shape[1], -1), {"label": labels}
        )
        bars = np.asarray(flat, dtype=np.float32).reshape(b.shape)
    labels_p, lchain = run_chain(spec.label_processors, labels, {"label": labels})
    known = np.array(inputs.labels[lo:hi], dtype=np.float32, copy=True)
    known = lchain.transform(known, mask, out=known)
    train_mask = lchain.keep_mask(fchain.keep_mask(mask.copy()))
    weights = None
    if spec.selection:  # training-sample selection: rows dropped from train_mask, or weighted
        from seqalpha.train.selection import select_rows

        label_col = int(spec.params.get("label_col", 0))
        train_mask, weights = select_rows(
            inputs, w, spec.selection, lo, train_mask, feats, labels_p, label_col
        )
    return {
        "lo": lo,
        "hi": hi,
        "features": feats
        if not isinstance(feats, np.ndarray)
        else feats.astype(np.float32, copy=False),
        "bars": bars,
        "labels": np.asarray(labels_p, dtype=np.float32),
        "mask": mask,
        "train_mask": train_mask,
        "known_labels": np.asarray(known, dtype=np.float32),
        "weights": weights,
    }


def store_chain(
    store: FeatureStore,
    lo: int,
    hi: int,
    items: list,
    fit_cells: np.ndarray,
    mask: np.ndarray,
    extra: dict,
) -> tuple[FeatureStore, ProcessorChain]:
    """Rows lo..hi of an on-disk feature store through the processors, into a temporary store
    of the window (removed with it): blocks of `STORE_CHUNK` columns when every processor is
    column-wise (the same statistics as in memory), else all columns at once. Without
    processors: a view of those rows (no copy)."""
    if not items:  # nothing to fit or transform: the window reads the store's own files
        return store.window(lo, hi), ProcessorChain([])
    out = FeatureStore.scratch(store.dates[lo:hi], store.instruments, store.names)
    F = store.shape[2]
    columnwise = {it["name"] for it in items} <= COLUMNWISE_PROCESSORS
    step = STORE_CHUNK if columnwise else F
    chain = ProcessorChain([])
    for f0 in range(0, F, step):
        cols = list(range(f0, min(F, f0 + step)))
        x = store.read(lo, hi, cols)
        if items:
            chain = ProcessorChain.from_config(items, **extra)
            y = np.empty(x.shape, dtype=np.float32)
            chain.fit_transform(x, fit_cells, mask, out=y)
            x = y
        for j, k in enumerate(cols):
            out.write(k, x[:, :, j])
        del x
    return out, chain


def fit_window(inputs, job: Job):
    """Fit the job's model on its window: (fitted model, test SampleSet, window arrays)."""

    a = window_arrays(inputs, job)
    w, lo = job.window, a["lo"]
    common = {
        "dates": inputs.dates[lo : a["hi"]],
        "instruments": inputs.instruments,
        "features": a["features"],
        "bars": a["bars"],
        "feature_names": list(inputs.feature_names),
        "lookback": job.spec.lookback,
        "label_names": list(inputs.label_names),
        "label_reach": job.spec.label_reach,
    }
    train = SampleSet(
        labels=a["labels"],
        mask=a["train_mask"],
        rows=(w.train[0] - lo, w.train[1] - lo),
        weights=a.get("weights"),
        **common,
    )
    valid = None if w.valid is None else train.with_rows(w.valid[0] - lo, w.valid[1] - lo)
    # realized labels ride along for models with a label memory (TRA), which read the label
    # of t - label_reach at the earliest; no model's prediction at t reads the label at t
    test = SampleSet(
        labels=a["known_labels"], mask=a["mask"], rows=(w.test[0] - lo, w.test[1] - lo), **common
    )
    model = create_model(job.spec.model, **job.spec.params, seed=job.model_seed)
    model.fit(train, valid)
    return model, test, a


def predict_window(model, test, a, job: Job) -> np.ndarray:
    """Test-range scores float32 [test days, N] of a fitted model (NaN outside the universe)."""
    w, lo = job.window, a["lo"]
    scores = np.asarray(model.predict(test), dtype=np.float32)
    want = (w.test[1] - w.test[0], len(test.instruments))
    if scores.shape != want:
        raise DataError(
            f"model {job.spec.model!r} predicted shape {scores.shape}, expected "
            f"{want} (test days x instruments) in window {w.index}"
        )
    scores = scores.copy()
    scores[~a["mask"][w.test[0] - lo : w.test[1] - lo]] = np.nan
    return scores


def run_job(inputs, job: Job) -> np.ndarray:
    """Fit the job's model on its window and predict the test range: float32 [test days, N]."""
    model, test, a = fit_window(inputs, job)
    return predict_window(model, test, a, job)


def effective_lookback(cfg) -> int:
    """Days of history a sample reads: features.lookback, or the model's sequence window
    (`spec.seq_len` of sequence models with the window layout) when longer."""

    model = create_model(cfg.model.name, **cfg.model.params, seed=cfg.seeds[0])
    spec = getattr(model, "spec", None)
    seq = 1
    if (
        spec is not None
        and getattr(spec, "kind", "tabular") != "tabular"
        and getattr(spec, "layout", "") == "window"
    ):
        seq = int(getattr(spec, "seq_len", 1))
    return max(int(cfg.features.lookback), seq)


def train_spec(cfg, lookback: int | None = None) -> TrainSpec:
    """The TrainSpec of a PipelineConfig."""

    def items(specs):
        return [{"name": s.name, **s.params} for s in specs]

    return TrainSpec(
        cfg.model.name,
        dict(cfg.model.params),
        items(cfg.processors.features),
        items(cfg.processors.labels),
        effective_lookback(cfg) if lookback is None else lookback,
        label_reach=int(cfg.labels.reach),
        selection=selection_spec(cfg.selection),
    )
