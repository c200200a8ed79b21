"""`seqalpha.combine`: member scores where the right combination is known."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqalpha import xsection as xs
from seqalpha.combine import (
    METHODS,
    check_method,
    cluster_weights,
    combine,
    read_member_run,
    realized_span,
    weighted_mean,
    write_combination,
)
from seqalpha.errors import ConfigError, DataError
from seqalpha.train.predictions import Predictions

T, N = 160, 80
FAST = {"window": 60, "min_periods": 10}


def market(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dates [T], instruments [N], label [T, N]): i.i.d. normal returns."""
    rng = np.random.default_rng(seed)
    dates = np.datetime64("2021-01-04") + np.arange(T).astype("timedelta64[D]")
    inst = np.array([f"S{i:03d}" for i in range(N)])
    return dates, inst, rng.standard_normal((T, N)).astype(np.float32)


def member(dates, inst, label, score) -> Predictions:
    return Predictions(dates, inst, score.astype(np.float32), label, np.ones((T, N), bool))


def members_one_informative(seed: int = 0) -> dict[str, Predictions]:
    """`good` = label + noise (IC about 0.45); `noise1`, `noise2` carry no information."""
    dates, inst, y = market(seed)
    rng = np.random.default_rng(seed + 100)
    good = y + 2.0 * rng.standard_normal((T, N))
    return {
        "noise1": member(dates, inst, y, rng.standard_normal((T, N))),
        "good": member(dates, inst, y, good),
        "noise2": member(dates, inst, y, rng.standard_normal((T, N))),
    }


def mean_ic(p: Predictions, start: int = 0) -> float:
    return float(np.nanmean(xs.daily_ic(p.score, p.label, p.mask)[start:]))


def test_equal_is_the_mean_of_the_daily_zscores() -> None:
    members = members_one_informative()
    comb = combine(members, "equal")
    z = [xs.zscore(p.score.astype(np.float64), p.mask) for p in members.values()]
    np.testing.assert_allclose(comb.predictions.score, np.mean(z, axis=0), atol=1e-5)
    np.testing.assert_allclose(comb.weights, 1 / 3)
    assert comb.predictions.mask.all() and comb.members == ["noise1", "good", "noise2"]


@pytest.mark.parametrize(
    ("method", "params"),
    [("rolling_ic", FAST), ("lasso", FAST), ("pca", {**FAST, "n_components": 3})],
)
def test_the_informative_member_gets_the_weight(method: str, params: dict) -> None:
    members = members_one_informative()
    comb = combine(members, method, params, reach=2)
    warm = 10 + 2  # min_periods realized days
    assert np.allclose(comb.weights[: warm - 1], 1 / 3)  # equal until enough labels are realized
    w_good = comb.weights[warm + 5 :, 1]
    assert w_good.min() > 0.7, comb.weights[warm + 5 :].min(axis=0)
    # the combination scores better than the equal-weight one, close to the good member
    equal = combine(members, "equal")
    assert mean_ic(comb.predictions, warm) > mean_ic(equal.predictions, warm) + 0.05
    assert mean_ic(comb.predictions, warm) > 0.9 * mean_ic(members["good"], warm)


def test_rolling_ic_by_icir_also_finds_the_informative_member() -> None:
    comb = combine(members_one_informative(), "rolling_ic", {**FAST, "by": "icir"}, reach=2)
    assert comb.weights[30:, 1].min() > 0.7


@pytest.mark.parametrize("method", ["rolling_ic", "lasso", "pca"])
def test_weights_read_only_realized_labels(method: str) -> None:
    """Perturbing the labels of dates that are not yet realized at t0 (s > t0 - reach) leaves
    every weight up to t0 unchanged; perturbing the last realized one changes t0's weights."""
    members = members_one_informative(seed=3)
    reach, t0 = 2, 70
    base = combine(members, method, FAST, reach=reach).weights

    def perturbed(first: int) -> np.ndarray:
        out = {}
        for name, p in members.items():
            label = p.label.copy()
            label[first:] = -10 * members["good"].score[first:]  # future labels flip the sign
            out[name] = Predictions(p.dates, p.instruments, p.score, label, p.mask)
        return combine(out, method, FAST, reach=reach).weights

    future = perturbed(t0 - reach + 1)
    np.testing.assert_array_equal(future[: t0 + 1], base[: t0 + 1])
    assert not np.allclose(future[t0 + 1 :], base[t0 + 1 :])  # it does read them later
    realized = perturbed(t0 - reach)
    assert not np.allclose(realized[t0], base[t0])  # the canary: t0 reads the label of t0-reach


def test_pca_on_one_common_factor_weights_the_copies_alike_with_the_label_sign() -> None:
    dates, inst, y = market(5)
    rng = np.random.default_rng(6)
    copies = {f"c{k}": member(dates, inst, y, -(y + rng.standard_normal((T, N)))) for k in range(3)}
    comb = combine(copies, "pca", {**FAST, "n_components": 1})
    w = comb.weights[20:]
    assert (w < 0).all()  # the members are anti-signals: the regression flips their sign
    np.testing.assert_allclose(w, -1 / 3, atol=0.05)


def test_realized_span_respects_the_reach() -> None:
    assert realized_span(0, 2, 10) == (0, 0)
    assert realized_span(2, 2, 10) == (0, 1)
    assert realized_span(50, 2, 10) == (39, 49)
    assert realized_span(50, 0, 10) == (41, 51)


def test_cluster_splits_the_weight_between_clusters() -> None:
    dates, inst, y = market()
    rng = np.random.default_rng(1)
    a = rng.standard_normal((T, N))
    members = {
        "a": member(dates, inst, y, a),
        "a_twin": member(dates, inst, y, a + 0.1 * rng.standard_normal((T, N))),
        "b": member(dates, inst, y, rng.standard_normal((T, N))),
    }
    comb = combine(members, "cluster", {"window": 20, "threshold": 0.7})
    np.testing.assert_allclose(comb.weights, np.tile([0.25, 0.25, 0.5], (T, 1)))
    corr = np.array([[1.0, 0.2, 0.1], [0.2, 1.0, 0.15], [0.1, 0.15, 1.0]])
    np.testing.assert_allclose(cluster_weights(corr, 0.7), [1 / 3] * 3)


def test_gauss_rank_ignores_monotone_transforms_of_a_member() -> None:
    members = members_one_informative()
    comb = combine(members, "gauss_rank")
    p = members["good"]
    bent = dict(members, good=Predictions(p.dates, p.instruments, np.exp(p.score), p.label, p.mask))
    np.testing.assert_allclose(
        combine(bent, "gauss_rank").predictions.score, comb.predictions.score
    )
    ranks = [xs.rank_gauss(m.score.astype(np.float64), m.mask) for m in members.values()]
    np.testing.assert_allclose(comb.predictions.score, np.mean(ranks, axis=0), atol=1e-5)


def test_an_absent_member_cell_is_left_out_of_the_average() -> None:
    z = np.array([[[1.0, np.nan]], [[3.0, 2.0]]])  # M=2, T=1, N=2
    got = weighted_mean(z, np.array([[0.25, 0.75]]))
    np.testing.assert_allclose(got, [[0.25 * 1 + 0.75 * 3, 2.0]])


def test_members_are_aligned_on_their_common_dates() -> None:
    members = members_one_informative()
    p = members["noise1"]
    short = Predictions(
        p.dates[10:], p.instruments[5:], p.score[10:, 5:], p.label[10:, 5:], p.mask[10:, 5:]
    )
    comb = combine({**members, "noise1": short}, "equal")
    assert len(comb.predictions.dates) == T - 10
    assert len(comb.predictions.instruments) == N  # the union; noise1 is absent on 5 of them
    far = Predictions(p.dates + 1000, p.instruments, p.score, p.label, p.mask)
    with pytest.raises(DataError, match="share no prediction date"):
        combine({"x": far, "good": members["good"]}, "equal")


def test_bad_method_and_params_are_one_line_config_errors() -> None:
    assert {"equal", "rolling_ic", "cluster", "lasso", "pca", "gauss_rank"} <= set(METHODS)
    with pytest.raises(ConfigError, match=r"unknown combine method 'ridge'.*allowed: cluster"):
        check_method("ridge", {})
    with pytest.raises(ConfigError, match="no param 'windw'"):
        check_method("rolling_ic", {"windw": 5})
    with pytest.raises(ConfigError, match=r"params\.min_periods: 50 exceeds window 20"):
        check_method("lasso", {"window": 20, "min_periods": 50})
    with pytest.raises(ConfigError, match=r"params\.alpha"):
        check_method("lasso", {"alpha": -1})
    with pytest.raises(ConfigError, match="normalize"):
        combine(members_one_informative(), "equal", normalize="minmax")


def test_files_for_the_report(tmp_path) -> None:
    members = members_one_informative()
    comb = combine(members, "rolling_ic", FAST)
    write_combination(tmp_path, comb, members)
    w = pl.read_parquet(tmp_path / "combine_weights.parquet")
    assert w.columns == ["date", "member", "weight"] and w.height == T * 3
    assert w.schema["date"] == pl.Date
    sums = w.group_by("date").agg(pl.col("weight").abs().sum())["weight"].to_numpy()
    np.testing.assert_allclose(sums, 1.0)
    back = read_member_run(tmp_path / "members" / "good")
    np.testing.assert_allclose(back.score, members["good"].score)
    with pytest.raises(DataError, match=r"no predictions\.parquet"):
        read_member_run(tmp_path / "nowhere")
