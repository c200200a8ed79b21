"""No future data in what the student or the VWAP curve sees; the oracle teacher; the gymnasium
environment and a tiny distillation run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from seqalpha.execution import (
    TWAP,
    LearnedPolicy,
    Orders,
    SimParams,
    oracle_schedule,
    previous_close,
    simulate,
    student_features,
    volume_curve,
)
from seqalpha.execution.policy import ACTIONS, N_FEATURES

from .tables import random_table


def test_volume_curve_reads_previous_days_only():
    rng = np.random.default_rng(0)
    vol = rng.uniform(1, 10, (10, 6, 3))
    curve = volume_curve(vol, lookback=3)
    np.testing.assert_allclose(curve.sum(axis=1), 1.0)
    np.testing.assert_allclose(curve[1], vol[0] / vol[0].sum(axis=0))  # day 1: day 0's shares
    changed = vol.copy()
    changed[5] *= rng.uniform(0.1, 10, (6, 3))
    again = volume_curve(changed, lookback=3)
    np.testing.assert_array_equal(again[:6], curve[:6])  # day 5 itself never sees day 5
    assert not np.allclose(again[6], curve[6])
    assert np.allclose(again[9], curve[9])  # out of the 3-day window again


def test_volume_curve_falls_back_to_the_market_then_flat():
    vol = np.ones((3, 4, 2))
    vol[:2, :, 1] = 0.0  # instrument 1 has no past volume on days 1 and 2
    vol[0, 0, 0] = 5.0
    curve = volume_curve(vol, lookback=5)
    np.testing.assert_allclose(curve[0], 0.25)  # nothing before day 0: flat
    np.testing.assert_allclose(curve[1, :, 1], curve[1, :, 0])  # the market's past curve


def test_previous_close_is_the_last_valid_bar_before_the_day():
    close = np.array(
        [[[10.0], [11.0]], [[12.0], [np.nan]], [[0.0], [np.nan]], [[13.0], [14.0]]],
        dtype=np.float32,
    )  # day 2 has no trade (a 0 price is no price): its successor keeps day 1's close
    from seqalpha.data.minute import MinuteBars

    bars = MinuteBars(np.arange(4).astype("datetime64[D]"), np.array(["a", "b"]), np.array(["X"]))
    bars.fields["close"] = close
    np.testing.assert_allclose(previous_close(bars)[:, 0], [np.nan, 11.0, 12.0, 12.0])


def _perturbed_after(bars, b0: int, seed: int):
    rng = np.random.default_rng(seed)
    out = {}
    for k in ("open", "high", "low", "close", "vwap", "volume"):
        a = getattr(bars, k).copy()
        a[:, b0:] *= rng.uniform(0.5, 1.5, a[:, b0:].shape)
        out[k] = a
    return replace(bars, **out)


def _recording_policy(step_bars: int, act):
    seen: list[tuple[int, np.ndarray, np.ndarray]] = []

    class Rec(LearnedPolicy):
        def child(self, past):
            obs = student_features(past, step_bars)
            out = super().child(past)
            seen.append((past.b, obs, out))
            return out

    return Rec(act, step_bars), seen


@pytest.mark.parametrize("b0", [1, 7, 13])
def test_student_actions_ignore_future_bars(b0):
    bars = random_table(M=30, B=16, seed=2)
    orders = Orders.make(np.tile([1, -1], 15), 0.05 * bars.adv, 0, 16, 16)
    weights = np.random.default_rng(1).normal(size=N_FEATURES)

    def act(obs):  # any deterministic function of the observation
        return ACTIONS[np.abs((obs @ weights * 3).astype(int)) % len(ACTIONS)]

    runs = []
    for table in (bars, _perturbed_after(bars, b0, seed=3)):
        policy, seen = _recording_policy(2, act)
        fills = simulate(orders, table, policy, SimParams(participation=0.3))
        runs.append((seen, fills))
    (seen_a, fills_a), (seen_b, fills_b) = runs
    for (b, obs_a, child_a), (_, obs_b, child_b) in zip(seen_a, seen_b, strict=True):
        if b <= b0:  # the decision before bar b0 trades is made without bar b0
            np.testing.assert_array_equal(obs_a, obs_b)
            np.testing.assert_array_equal(child_a, child_b)
    np.testing.assert_array_equal(fills_a.qty[:, :b0], fills_b.qty[:, :b0])
    # the check can fail: the observation at a later bar does see the perturbed bars
    later = [(a[1], b[1]) for a, b in zip(seen_a, seen_b, strict=True) if a[0] == b0 + 1]
    assert not np.array_equal(*later[0])


def test_the_oracle_buys_the_cheap_bars_and_equalizes_marginal_cost():
    price = np.array([[10.0, 11.0, 9.0]])
    volume = np.array([[1000.0, 1000.0, 1000.0]])
    allowed = np.ones((1, 3), dtype=bool)
    q = oracle_schedule(price, volume, allowed, np.array([1.0]), np.array([150.0]), 1e-6, 0.1)
    np.testing.assert_allclose(q, [[50.0, 0.0, 100.0]], atol=1e-3)  # 9 to its cap, then 10
    q = oracle_schedule(price, volume, allowed, np.array([1.0]), np.array([60.0]), 0.05, 0.5)
    assert q.sum() == pytest.approx(60.0)
    used = q[0] > 1e-9
    marginal = price[0] * (1 + 1.5 * 0.05 * np.sqrt(q[0] / volume[0]))
    assert np.ptp(marginal[used]) < 1e-6 and marginal[~used].min() >= marginal[used].max() - 1e-6
    # a sell prefers the dear bar
    q = oracle_schedule(price, volume, allowed, np.array([-1.0]), np.array([50.0]), 1e-6, 0.1)
    np.testing.assert_allclose(q, [[0.0, 50.0, 0.0]], atol=1e-3)


def test_the_teacher_sees_the_future_and_beats_twap():
    from seqalpha.execution.oracle import run_teacher

    bars = random_table(M=200, B=16, seed=4)
    orders = Orders.make(1, 0.05 * bars.adv, 0, 16, 16)
    params = SimParams(participation=0.3, impact=0.01)
    twap = simulate(orders, bars, TWAP(), params)
    teacher = run_teacher(orders, bars, params, step_bars=2)
    assert np.nanmean(twap.avg_price - teacher.avg_price) > 0  # buys cheaper than TWAP


def test_environment_api_and_a_pace_one_episode_is_twap():
    from gymnasium.utils.env_checker import check_env

    from seqalpha.execution.rl import ExecutionEnv

    bars = random_table(M=20, B=8, seed=5)
    orders = Orders.make(1, 0.01 * bars.adv, 0, 8, 8)
    env = ExecutionEnv(orders, bars, SimParams(participation=0.5), step_bars=1)
    check_env(env, skip_render_check=True)
    env.pop_log()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (N_FEATURES,)
    total, done = 0.0, False
    while not done:  # multiple 1.0 = remaining / bars left = TWAP's schedule
        obs, reward, done, _, _ = env.step(int(np.flatnonzero(ACTIONS == 1.0)[0]))
        total += reward
    assert total == pytest.approx(0.0, abs=1e-9)
    assert len(env.pop_log()) == 8  # one (observation, teacher action) per decision


def test_tiny_distillation_runs_and_the_student_round_trips(tmp_path):
    import torch

    from seqalpha.execution.rl import (
        DistillConfig,
        distill,
        load_student,
        policy_act,
        save_student,
    )

    torch.set_num_threads(1)
    bars = random_table(M=60, B=8, seed=6)
    orders = Orders.make(np.tile([1, -1], 30), 0.02 * bars.adv, 0, 8, 8)
    params = SimParams(participation=0.3, impact=0.01)
    cfg = DistillConfig(step_bars=2, dagger_rounds=2, bc_epochs=3, ppo_steps=256, n_envs=1)
    model, info = distill(orders, bars, params, cfg)
    assert set(info) == {"bc_loss_round0", "bc_loss_round1"}
    assert all(np.isfinite(v) and v > 0 for v in info.values())
    save_student(model, tmp_path / "student.pt")
    obs = np.random.default_rng(0).uniform(-1, 1, (5, N_FEATURES)).astype(np.float32)
    before = policy_act(model.policy)(obs)
    after = policy_act(load_student(tmp_path / "student.pt"))(obs)
    np.testing.assert_allclose(before, after, rtol=1e-6)
    assert ((after >= ACTIONS.min()) & (after <= ACTIONS.max())).all()
    fills = simulate(orders, bars, LearnedPolicy(policy_act(model.policy), 2), params)
    assert fills.fill_rate.min() > 0
    # the registered 'learned' strategy loads the saved student (tensors only)
    from seqalpha.execution import make_strategy

    again = simulate(
        orders,
        bars,
        make_strategy("learned", policy=str(tmp_path / "student.pt"), step_bars=2),
        params,
    )
    np.testing.assert_allclose(again.qty, fills.qty, rtol=1e-5)
