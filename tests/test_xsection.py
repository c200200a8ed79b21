"""seqalpha.xsection: hand-computed cross-sections, slow pandas/scipy references on random
panels with NaN and ties, inputs left untouched, NaN kept, in-place use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtri
from scipy.stats import pearsonr, spearmanr

from seqalpha import xsection as xs
from seqalpha.errors import ConfigError, DataError


@pytest.fixture
def panel() -> tuple[np.ndarray, np.ndarray]:
    """x float32 [T=9, N=23, F=3] with ties (integers 0..5), 10% NaN, an inf; mask [T, N]."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 6, (9, 23, 3)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[2, 4, 1] = np.inf
    mask = rng.random((9, 23)) < 0.85
    mask[5] = False  # a date without any member
    return x, mask


def _frame(x: np.ndarray, mask: np.ndarray) -> pd.DataFrame:
    """Slow reference layout: one row per (date, feature), one column per instrument."""
    v = np.where(mask[:, :, None] & np.isfinite(x), x, np.nan).astype(np.float64)
    T, N, F = v.shape
    return pd.DataFrame(v.transpose(0, 2, 1).reshape(T * F, N))


def _back(df: pd.DataFrame, shape: tuple[int, int, int]) -> np.ndarray:
    T, N, F = shape
    return df.to_numpy(dtype=np.float64).reshape(T, F, N).transpose(0, 2, 1)


def test_ranks_of_one_hand_computed_date():
    x = np.array([[3.0, 1.0, 2.0, 2.0, np.nan]])
    np.testing.assert_array_equal(xs.rank_avg(x), [[4.0, 1.0, 2.5, 2.5, np.nan]])
    np.testing.assert_array_equal(xs.rank_pct(x), [[1.0, 0.25, 0.625, 0.625, np.nan]])
    np.testing.assert_array_equal(xs.rank_mid(x), [[0.875, 0.125, 0.5, 0.5, np.nan]])
    np.testing.assert_array_equal(xs.rank_centred(x), [[0.5, -0.25, 0.125, 0.125, np.nan]])
    np.testing.assert_allclose(
        xs.rank_norm(x), [[1.73, -0.865, 0.4325, 0.4325, np.nan]], rtol=1e-15
    )
    np.testing.assert_allclose(
        xs.rank_gauss(x), [[ndtri(0.875), ndtri(0.125), 0.0, 0.0, np.nan]], atol=1e-15
    )


def test_location_and_scale_of_one_hand_computed_date():
    x = np.array([[1.0, 2.0, 3.0, 4.0, 100.0]])
    np.testing.assert_allclose(xs.demean(x), [[-21.0, -20.0, -19.0, -18.0, 78.0]])
    std1 = np.sqrt((21**2 + 20**2 + 19**2 + 18**2 + 78**2) / 4)
    np.testing.assert_allclose(
        xs.zscore(x), [[-21 / std1, -20 / std1, -19 / std1, -18 / std1, 78 / std1]]
    )
    # median 3, absolute deviations 2 1 0 1 97 -> MAD 1
    np.testing.assert_allclose(xs.robust_zscore(x), [[-2, -1, 0, 1, 97]] / np.float64(1.4826))
    np.testing.assert_allclose(xs.robust_zscore(x, clip=3.0)[0, -1], 3.0)
    np.testing.assert_allclose(xs.winsorize_mad(x, n=2.0, scale=1.0), [[1.0, 2.0, 3.0, 4.0, 5.0]])
    np.testing.assert_array_equal(
        xs.fill_median(np.array([[1.0, np.nan, 3.0, 10.0]])), [[1, 3, 3, 10]]
    )


def test_the_mask_restricts_the_cross_section_and_blanks_other_cells():
    x = np.array([[1.0, 2.0, 30.0, 4.0]])
    mask = np.array([[True, True, False, True]])
    np.testing.assert_array_equal(xs.rank_avg(x, mask), [[1.0, 2.0, np.nan, 3.0]])
    np.testing.assert_allclose(xs.demean(x, mask), [[-4 / 3, -1 / 3, np.nan, 5 / 3]])


@pytest.mark.parametrize(
    ("fn", "ref"),
    [
        (xs.rank_avg, lambda d: d.rank(axis=1)),
        (xs.rank_pct, lambda d: d.rank(axis=1, pct=True)),
        (xs.rank_centred, lambda d: d.rank(axis=1, pct=True) - 0.5),
        (xs.rank_norm, lambda d: (d.rank(axis=1, pct=True) - 0.5) * 3.46),
        (xs.rank_mid, lambda d: d.rank(axis=1).sub(0.5).div(d.count(axis=1), axis=0)),
        (
            xs.rank_gauss,
            lambda d: pd.DataFrame(ndtri(d.rank(axis=1).sub(0.5).div(d.count(axis=1), axis=0))),
        ),
        (xs.demean, lambda d: d.sub(d.mean(axis=1), axis=0)),
        (xs.zscore, lambda d: d.sub(d.mean(axis=1), axis=0).div(d.std(axis=1), axis=0)),
        (
            lambda x, m: xs.zscore(x, m, ddof=0),
            lambda d: d.sub(d.mean(axis=1), axis=0).div(d.std(axis=1, ddof=0), axis=0),
        ),
        (
            xs.robust_zscore,
            lambda d: d.sub(d.median(axis=1), axis=0).div(
                d.sub(d.median(axis=1), axis=0).abs().median(axis=1) * 1.4826, axis=0
            ),
        ),
        (
            lambda x, m: xs.winsorize_mad(x, m, n=1.0),
            lambda d: d.clip(
                d.median(axis=1) - 1.4826 * d.sub(d.median(axis=1), axis=0).abs().median(axis=1),
                d.median(axis=1) + 1.4826 * d.sub(d.median(axis=1), axis=0).abs().median(axis=1),
                axis=0,
            ),
        ),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_pandas_on_random_panels_with_nan_and_ties(panel, fn, ref, dtype):
    x, mask = panel
    x = x.astype(dtype)
    before = x.copy()
    got = fn(x, mask)
    want = _back(ref(_frame(x, mask)).replace([np.inf, -np.inf], np.nan), x.shape)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-6)
    np.testing.assert_array_equal(x, before)  # input not modified


def test_fill_median_matches_pandas_and_keeps_cells_outside_the_mask_nan(panel):
    x, mask = panel
    x = np.where(np.isinf(x), np.nan, x)
    d = _frame(x, mask)
    want = _back(d.T.fillna(d.median(axis=1)).T, x.shape).copy()
    want[~mask] = np.nan
    got = xs.fill_median(x, mask)
    np.testing.assert_allclose(got, want, rtol=1e-7)
    assert np.isnan(got[5]).all()


def test_out_may_be_the_input_and_2d_inputs_stay_2d(panel):
    x, mask = panel
    want = xs.rank_norm(x, mask)
    y = x.copy()
    assert xs.rank_norm(y, mask, out=y) is y
    np.testing.assert_array_equal(y, want)
    z = x[:, :, 0].astype(np.float64)
    r = xs.zscore(z, mask, out=z)
    assert r is z and r.ndim == 2
    np.testing.assert_allclose(r, xs.zscore(x[:, :, 0].astype(np.float64), mask), rtol=1e-12)


def test_strided_views_work_like_copies(panel):
    x, mask = panel
    block = x[:, :, 1:3]  # non-contiguous view, as processors see feature blocks
    np.testing.assert_array_equal(xs.rank_pct(block, mask), xs.rank_pct(block.copy(), mask))


def test_constant_or_tiny_cross_sections_give_nan():
    x = np.array([[2.0, 2.0, 2.0], [1.0, np.nan, np.nan]])
    assert np.isnan(xs.zscore(x)).all()
    assert np.isnan(xs.robust_zscore(x)).all()
    np.testing.assert_allclose(xs.rank_pct(x), [[2 / 3, 2 / 3, 2 / 3], [1.0, np.nan, np.nan]])


def test_daily_ic_hand_computed():
    score = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]])
    label = np.array([[2.0, 4.0, 6.0, 8.0], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(xs.daily_ic(score, label)[:2], [1.0, -1.0])
    assert np.isnan(xs.daily_ic(score, label)[2])  # constant score
    # Spearman ignores the scale: exp() keeps the order
    np.testing.assert_allclose(xs.daily_rank_ic(score[:2], np.exp(label[:2])), [1.0, -1.0])
    mask = np.array([[True, True, False, False]] * 3)
    assert xs.daily_ic(score, label, mask)[0] == pytest.approx(1.0)
    one = xs.daily_ic(score, label, np.array([[True, False, False, False]] * 3))
    assert np.isnan(one).all()  # fewer than 2 names


def test_daily_ic_matches_scipy_on_random_panels_with_nan_and_ties():
    rng = np.random.default_rng(3)
    score = rng.integers(0, 7, (30, 40)).astype(np.float64)
    label = score * 0.3 + rng.standard_normal((30, 40))
    score[rng.random(score.shape) < 0.1] = np.nan
    label[rng.random(label.shape) < 0.1] = np.nan
    mask = rng.random((30, 40)) < 0.9
    ic, ric = xs.daily_ic(score, label, mask), xs.daily_rank_ic(score, label, mask)
    for t in range(30):
        ok = mask[t] & np.isfinite(score[t]) & np.isfinite(label[t])
        assert ic[t] == pytest.approx(pearsonr(score[t, ok], label[t, ok])[0], abs=1e-12)
        assert ric[t] == pytest.approx(spearmanr(score[t, ok], label[t, ok])[0], abs=1e-12)


def test_ndtri_matches_scipy_over_the_whole_interval():
    p = np.concatenate([np.geomspace(1e-300, 0.5, 2000), 1 - np.geomspace(1e-16, 0.5, 2000)])
    x = p[None, :]
    mid = xs.rank_mid(x)  # rank_gauss works on ranks; check the kernel through the transform
    np.testing.assert_allclose(xs.rank_gauss(x), ndtri(mid), rtol=1e-12, atol=1e-12)
    got = np.array([xs._ndtri(v) for v in p])
    np.testing.assert_allclose(got, ndtri(p), rtol=1e-12)


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(DataError, match=r"rank_pct: expected an array \[T, N\]"):
        xs.rank_pct(np.zeros(5))
    with pytest.raises(DataError, match="mask shape"):
        xs.zscore(np.zeros((2, 3)), np.ones((2, 4), dtype=bool))
    with pytest.raises(DataError, match="bool mask"):
        xs.demean(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(DataError, match="label shape"):
        xs.daily_ic(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(DataError, match="out must be"):
        xs.rank_avg(np.zeros((2, 3)), out=np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="clip"):
        xs.robust_zscore(np.zeros((2, 3)), clip=0)
