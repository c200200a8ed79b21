"""Processors: hand-computed panels, slow pandas references on random inputs, train-only fitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from seqalpha.errors import ConfigError, DataError
from seqalpha.features.processors import PROCESSORS, ProcessorChain, make_processor


@pytest.fixture
def rand_panel() -> np.ndarray:
    """[T=15, N=25, F=3] heavy-tailed values with 5% NaN."""
    rng = np.random.default_rng(7)
    x = rng.standard_t(3, (15, 25, 3)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


def _long(x: np.ndarray) -> pd.DataFrame:
    T, N, F = x.shape
    idx = pd.MultiIndex.from_product([range(T), range(N)], names=["t", "n"])
    return pd.DataFrame(x.reshape(T * N, F).astype(np.float64), index=idx)


def _back(df: pd.DataFrame, shape) -> np.ndarray:
    return df.to_numpy().reshape(shape)


def test_registry_lists_known_names_on_error():
    assert {
        "fillna",
        "mad_winsorize",
        "cs_zscore",
        "cs_rankgauss",
        "cs_rank",
        "robust_zscore",
        "zscore",
        "neutralize",
        "drop_missing_label",
    } <= set(PROCESSORS)
    with pytest.raises(ConfigError, match="robust_zscore"):
        make_processor("robustzscore")
    with pytest.raises(ConfigError, match="bad parameters"):
        make_processor("zscore", clip_outlier=True)
    with pytest.raises(ConfigError, match="method"):
        make_processor("fillna", method="mean")


def test_hand_computed_cross_sections():
    x = np.array([[[1.0], [2.0], [3.0], [np.nan], [100.0]]], dtype=np.float32)  # T=1, N=5, F=1
    np.testing.assert_array_equal(make_processor("fillna").transform(x)[0, :, 0], [1, 2, 3, 0, 100])
    np.testing.assert_array_equal(
        make_processor("fillna", method="cs_median").transform(x)[0, :, 0], [1, 2, 3, 2.5, 100]
    )
    # median 2.5, |dev| = 1.5 0.5 0.5 97.5 -> MAD 1.0; 2 raw MADs -> clip to [0.5, 4.5]
    w = make_processor("mad_winsorize", n=2, scale=1.0).transform(x)[0, :, 0]
    np.testing.assert_array_equal(w, [1, 2, 3, np.nan, 4.5])
    z = make_processor("cs_zscore").transform(np.array([[2.0, 4.0, 6.0]]))  # mean 4, std 2
    np.testing.assert_allclose(z, [[-1.0, 0.0, 1.0]])
    four = np.array([[5.0, 1.0, 3.0, 3.0]])  # average ranks 4, 1, 2.5, 2.5 of 4
    g = make_processor("cs_rankgauss").transform(four)
    np.testing.assert_allclose(g[0], norm.ppf([3.5 / 4, 0.5 / 4, 2 / 4, 2 / 4]), rtol=1e-6)
    # Qlib's CSRankNorm: (rank / n - 0.5) * 3.46
    r = make_processor("cs_rank").transform(four)
    np.testing.assert_allclose(r[0], [0.5 * 3.46, -0.25 * 3.46, 0.125 * 3.46, 0.125 * 3.46])


def test_universe_restricts_the_cross_section():
    x = np.array([[1.0, 2.0, 3.0, 1000.0]], dtype=np.float32)
    uni = np.array([[True, True, True, False]])
    z = make_processor("cs_zscore").transform(x, uni)
    np.testing.assert_allclose(z[0, :3], [-1, 0, 1], atol=1e-6)
    assert np.isnan(z[0, 3])
    with pytest.raises(DataError, match="mask shape"):
        make_processor("cs_zscore").transform(x, np.ones((2, 4), bool))


def test_mad_winsorize_matches_pandas_reference(rand_panel):
    got = make_processor("mad_winsorize", n=3.0).transform(rand_panel)
    df = _long(rand_panel)

    def ref(g):
        med = g.median()
        mad = (g - med).abs().median()
        return g.clip(med - 3 * 1.4826 * mad, med + 3 * 1.4826 * mad, axis=1)

    want = _back(df.groupby(level="t", group_keys=False).apply(ref), rand_panel.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.array_equal(np.isnan(got), np.isnan(rand_panel))


def test_cs_zscore_and_rankgauss_match_pandas_reference(rand_panel):
    df = _long(rand_panel)
    g = df.groupby(level="t", group_keys=False)
    want_z = _back(g.apply(lambda d: (d - d.mean()) / d.std()), rand_panel.shape)
    np.testing.assert_allclose(
        make_processor("cs_zscore").transform(rand_panel), want_z, rtol=1e-5, atol=1e-6
    )

    def rg(d):
        return d.apply(
            lambda col: pd.Series(norm.ppf((col.rank() - 0.5) / col.count()), index=col.index)
        )

    want_g = _back(g.apply(rg), rand_panel.shape)
    np.testing.assert_allclose(
        make_processor("cs_rankgauss").transform(rand_panel), want_g, rtol=1e-5, atol=1e-6
    )
    # Qlib's CSRankNorm on the same panel: groupby(datetime).rank(pct=True), -0.5, *3.46
    want_r = _back(g.apply(lambda d: (d.rank(pct=True) - 0.5) * 3.46), rand_panel.shape)
    got_r = make_processor("cs_rank").transform(rand_panel)
    assert got_r.dtype == np.float32
    np.testing.assert_allclose(got_r, want_r, rtol=1e-6, atol=1e-6)


def test_fitted_zscores_match_reference_on_train_cells(rand_panel):
    train = np.zeros(rand_panel.shape[:2], bool)
    train[:10] = True
    rows = rand_panel[:10].reshape(-1, 3).astype(np.float64)
    mean, std = np.nanmean(rows, 0), np.nanstd(rows, 0)
    z = make_processor("zscore").fit(rand_panel, train).transform(rand_panel)
    np.testing.assert_allclose(z, (rand_panel - mean) / std, rtol=1e-5, atol=1e-6)
    med = np.nanmedian(rows, 0)
    mad = np.nanmedian(np.abs(rows - med), 0) * 1.4826
    rz = make_processor("robust_zscore").fit(rand_panel, train).transform(rand_panel)
    np.testing.assert_allclose(rz, np.clip((rand_panel - med) / mad, -3, 3), rtol=1e-5, atol=1e-6)
    assert np.nanmax(np.abs(rz)) == pytest.approx(3.0)


@pytest.mark.parametrize("name", ["zscore", "robust_zscore"])
def test_fitted_stats_ignore_the_test_range(rand_panel, name):
    train = np.zeros(rand_panel.shape[:2], bool)
    train[:10] = True
    before = rand_panel.copy()
    p1 = make_processor(name).fit(rand_panel, train)
    out1 = p1.transform(rand_panel)
    assert np.array_equal(rand_panel, before, equal_nan=True)  # input untouched
    shocked = rand_panel.copy()
    shocked[10:] = shocked[10:] * 50 + 7  # perturb only the test range
    p2 = make_processor(name).fit(shocked, train)
    np.testing.assert_array_equal(p2.center_, p1.center_)
    np.testing.assert_array_equal(p2.scale_, p1.scale_)
    np.testing.assert_array_equal(p2.transform(shocked)[:10], out1[:10])
    # whereas fitting on all cells does see the shock
    p3 = make_processor(name).fit(shocked)
    assert not np.allclose(p3.center_, p1.center_)


def test_transform_before_fit_is_an_error(rand_panel):
    with pytest.raises(ConfigError, match="before fit"):
        make_processor("zscore").transform(rand_panel)


def _neutralize_reference(x, industry, cap):
    """Per-day least squares with explicit dummies (pandas + numpy lstsq), one column at a time."""
    T, _N, F = x.shape
    out = np.full(x.shape, np.nan)
    for t in range(T):
        for f in range(F):
            d = pd.DataFrame({"y": x[t, :, f], "ind": industry[t], "size": np.log(cap[t])})
            ok = d["y"].notna() & (d["ind"] >= 0)
            d = d[ok]
            X = pd.get_dummies(d["ind"].astype("category"), dtype=float)
            X["size"] = d["size"]
            beta, *_ = np.linalg.lstsq(X.to_numpy(), d["y"].to_numpy(), rcond=None)
            out[t, d.index.to_numpy(), f] = d["y"].to_numpy() - X.to_numpy() @ beta
    return out


def test_neutralize_matches_per_day_regression(rand_panel):
    rng = np.random.default_rng(3)
    T, N, _ = rand_panel.shape
    industry = rng.integers(0, 4, (T, N))
    industry[0, 0] = -1  # unknown industry -> NaN
    cap = np.exp(rng.normal(10, 1, (T, N)))
    got = make_processor("neutralize", industry=industry, market_cap=cap).transform(rand_panel)
    want = _neutralize_reference(rand_panel, industry, cap)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert np.isnan(got[0, 0]).all()
    # residuals have no industry mean left
    d = pd.DataFrame({"r": got[3, :, 0], "ind": industry[3]}).dropna()
    assert d.groupby("ind")["r"].mean().abs().max() < 1e-5
    with pytest.raises(DataError, match="industry shape"):
        make_processor("neutralize", industry=industry[:5], market_cap=cap[:5]).transform(
            rand_panel
        )


def test_chain_fits_on_train_and_drops_missing_labels_only_in_training(rand_panel):
    T, N, _F = rand_panel.shape
    label = np.random.default_rng(0).normal(size=(T, N)).astype(np.float32)
    label[:, 0] = np.nan
    chain = ProcessorChain.from_config(
        [
            {"name": "mad_winsorize", "n": 3},
            {"name": "robust_zscore"},
            {"name": "fillna"},
            {"name": "drop_missing_label"},
        ],
        label=label,
    )
    train = np.zeros((T, N), bool)
    train[:10] = True
    out = chain.fit(rand_panel, train).transform(rand_panel)
    assert out.shape == rand_panel.shape and not np.isnan(out).any()
    keep = chain.keep_mask(train)
    assert not keep[:, 0].any() and keep[:10, 1:].all() and not keep[10:].any()
    assert not chain.steps[-1].valid_at_inference and chain.steps[1].fit_on_train_only
    inf = chain.transform(rand_panel, inference=True)
    np.testing.assert_array_equal(inf, out)
    with pytest.raises(ConfigError, match="processors\\[0\\]"):
        ProcessorChain.from_config([{"n": 3}])


def test_ranks_and_medians_with_ties_match_pandas():
    rng = np.random.default_rng(11)
    x = rng.integers(0, 4, (6, 9, 2)).astype(np.float32)  # many ties
    x[rng.random(x.shape) < 0.2] = np.nan
    x[2, :, 1] = np.nan  # an empty cross-section
    g = _long(x).groupby(level="t", group_keys=False)
    want = _back(g.apply(lambda d: (d.rank(pct=True) - 0.5) * 3.46), x.shape)
    np.testing.assert_allclose(make_processor("cs_rank").transform(x), want, rtol=1e-6)
    med = _back(g.apply(lambda d: d.fillna(d.median())), x.shape)
    got = make_processor("fillna", method="cs_median").transform(x)
    np.testing.assert_allclose(got, med, rtol=1e-6, equal_nan=True)
    assert np.isnan(got[2, :, 1]).all()


def test_no_processor_modifies_its_input(rand_panel):
    T, N, _ = rand_panel.shape
    rng = np.random.default_rng(1)
    arrays = {
        "industry": rng.integers(0, 3, (T, N)),
        "market_cap": np.exp(rng.normal(size=(T, N))),
        "label": rng.normal(size=(T, N)),
    }
    before = rand_panel.copy()
    uni = rng.random((T, N)) < 0.9
    for name in PROCESSORS:
        chain = ProcessorChain.from_config([{"name": name}], **arrays)
        out = chain.fit_transform(rand_panel, np.ones((T, N), bool), uni)
        assert out.shape == rand_panel.shape, name
        assert np.array_equal(rand_panel, before, equal_nan=True), name


@pytest.mark.parametrize("name", sorted(set(PROCESSORS) - {"drop_missing_label"}))
def test_in_place_transform_equals_a_new_array(rand_panel, name):
    T, N, _ = rand_panel.shape
    rng = np.random.default_rng(2)
    arrays = {"industry": rng.integers(0, 3, (T, N)), "market_cap": np.exp(rng.normal(size=(T, N)))}
    uni = rng.random((T, N)) < 0.9
    fit_cells = np.zeros((T, N), bool)
    fit_cells[:8] = True
    chain = ProcessorChain.from_config([{"name": name}], **arrays)
    want = chain.fit_transform(rand_panel, fit_cells, uni)
    mine = rand_panel.copy()  # a caller that owns its array processes it in place
    got = ProcessorChain.from_config([{"name": name}], **arrays).fit_transform(
        mine, fit_cells, uni, out=mine
    )
    assert got is mine
    np.testing.assert_array_equal(got, want)


def test_chain_writes_one_buffer_and_blocks_of_columns_match_the_whole(rand_panel):
    T, N, F = rand_panel.shape
    items = [{"name": "robust_zscore"}, {"name": "fillna"}, {"name": "cs_rank"}]
    train = np.zeros((T, N), bool)
    train[:10] = True
    whole = ProcessorChain.from_config(items).fit_transform(rand_panel, train)
    out = np.full(rand_panel.shape, -1.0, dtype=np.float32)
    for f in range(F):  # strided column views, as a window job processes feature blocks
        block = out[:, :, f : f + 1]
        res = ProcessorChain.from_config(items).fit_transform(
            rand_panel[:, :, f : f + 1], train, out=block
        )
        assert res is block
    np.testing.assert_array_equal(out, whole)
    with pytest.raises(DataError, match="out must be float32"):
        ProcessorChain.from_config(items).fit_transform(rand_panel, train, out=np.empty((2, 2)))
