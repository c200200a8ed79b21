"""Top-k dropout selection (Qlib's rule) and the weight strategies on tiny panels."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha.errors import ConfigError
from seqalpha.portfolio import TopkDropout, apply_tradability, quantile_long_short, score_weighted


def test_topk_dropout_from_empty_buys_the_topk():
    strat = TopkDropout(topk=3, n_drop=1)
    sell, buy = strat.step(np.array([0.1, 0.9, 0.5, 0.7, 0.3]), np.zeros(5, bool))
    assert sell.tolist() == []
    assert buy.tolist() == [1, 3, 2]  # best three, best first


def test_topk_dropout_replaces_the_worst_held_by_the_best_new():
    strat = TopkDropout(topk=3, n_drop=1)
    held = np.array([True, True, True, False, False])
    sell, buy = strat.step(np.array([0.1, 0.9, 0.5, 0.7, 0.3]), held)
    assert sell.tolist() == [0] and buy.tolist() == [3]


def test_topk_dropout_keeps_held_names_better_than_candidates():
    # the best non-held (0.2) is worse than every held name: comb's bottom is the candidate itself
    strat = TopkDropout(topk=3, n_drop=1)
    held = np.array([True, True, True, False])
    sell, buy = strat.step(np.array([0.5, 0.9, 0.6, 0.2]), held)
    assert sell.tolist() == [] and buy.tolist() == []


def test_held_names_without_signal_rank_last_and_go_first():
    strat = TopkDropout(topk=3, n_drop=2)
    held = np.array([True, True, True, False, False, False])
    sell, buy = strat.step(np.array([np.nan, 0.9, 0.1, 0.8, 0.7, 0.05]), held)
    assert sorted(sell.tolist()) == [0, 2] and buy.tolist() == [3, 4]


def test_topk_dropout_refills_when_under_invested():
    # 2 held of topk=4: buys topk - held + sold names
    strat = TopkDropout(topk=4, n_drop=1)
    held = np.array([True, True, False, False, False, False])
    sell, buy = strat.step(np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), held)
    assert sell.tolist() == [] and buy.tolist() == [2, 3]


def test_topk_config_errors():
    with pytest.raises(ConfigError, match="n_drop"):
        TopkDropout(topk=3, n_drop=5)
    with pytest.raises(ConfigError, match="topk"):
        TopkDropout(topk=0, n_drop=0)


def test_quantile_long_short_is_market_neutral_equal_weight():
    score = np.array([[1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, np.nan]])
    uni = np.ones_like(score, bool)
    uni[0, 9] = False  # the best name of day 0 is not a member
    w = quantile_long_short(score, uni, n_groups=3)
    assert np.allclose(w.sum(axis=1), 0.0)
    assert np.allclose(np.abs(w).sum(axis=1), 2.0)
    assert w[0, 9] == 0.0 and w[1, 9] == 0.0
    assert w[0, 8] > 0 and w[0, 0] < 0
    assert len(set(w[0][w[0] > 0].round(12))) == 1  # equal weights in the long leg


def test_score_weighted_long_only_sums_to_one_and_caps():
    rng = np.random.default_rng(0)
    score = rng.standard_normal((5, 20))
    uni = rng.random((5, 20)) > 0.2
    w = score_weighted(score, uni)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert (w >= 0).all() and (w[~uni] == 0).all()
    # heavier weight for a higher score among the held names
    t = 0
    held = np.nonzero(w[t] > 0)[0]
    order = held[np.argsort(score[t, held])]
    assert np.all(np.diff(w[t, order]) > 0)
    capped = score_weighted(score, uni, max_weight=0.15)
    assert capped.max() <= 0.15 + 1e-9
    # with too few positive names the cap leaves the rest in cash
    n_pos = (w > 0).sum(axis=1)
    assert np.allclose(capped.sum(axis=1), np.minimum(1.0, 0.15 * n_pos))
    assert (n_pos * 0.15 < 1).any()
    top3 = score_weighted(score, uni, topk=3)
    assert ((top3 > 0).sum(axis=1) <= 3).all()


def test_apply_tradability_keeps_blocked_weights():
    target = np.array([[0.5, 0.5], [1.0, 0.0], [1.0, 0.0]])
    can_buy = np.array([[True, True], [False, True], [True, True]])
    can_sell = np.array([[True, True], [True, False], [True, True]])
    w = apply_tradability(target, can_buy, can_sell)
    assert w[1].tolist() == [0.5, 0.5]  # neither the rise nor the fall could trade
    assert w[2].tolist() == [1.0, 0.0]
