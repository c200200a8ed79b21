"""The learned execution policy: a gymnasium environment over one parent order, and oracle policy
distillation — a teacher that sees the order's future bars (the oracle schedule, `oracle.py`)
distils into a student that sees only the past: behaviour cloning on the states the student
visits (DAgger), then stable-baselines3 PPO with a cross-entropy term to the teacher's actions
after each rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import DummyVecEnv

from seqalpha.errors import ConfigError
from seqalpha.execution.bars import OrderBars
from seqalpha.execution.oracle import teacher_actions
from seqalpha.execution.policy import (
    ACTIONS,
    N_FEATURES,
    LearnedPolicy,
    pace,
    student_features,
)
from seqalpha.execution.simulator import Orders, Session, SimParams, run_session
from seqalpha.execution.strategies import TWAP

OBS_SPACE = gym.spaces.Box(-5.0, 5.0, (N_FEATURES,), np.float32)
ACT_SPACE = gym.spaces.Discrete(len(ACTIONS))


def twap_prices(orders: Orders, bars: OrderBars, params: SimParams) -> np.ndarray:
    """Average fill price of TWAP on each order [M] (the reward's reference)."""
    return run_session(Session(orders, bars, params), TWAP()).avg_price


class ExecutionEnv(gym.Env):
    """One parent order per episode, drawn from a pool; each step trades `step_bars` bars at the
    chosen multiple of the TWAP pace. Reward: price advantage over the order's TWAP fill in bps
    of the order (/10), minus `penalty_bps` (/10) per unit of unfilled fraction at the end."""

    metadata: dict = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        orders: Orders,
        bars: OrderBars,
        params: SimParams,
        step_bars: int = 1,
        penalty_bps: float = 50.0,
        seed: int = 0,
        see_prices: bool = True,
        impact_scale: float = 1.0,
    ):
        self.orders, self.bars, self.params = orders, bars, params
        self.see_prices, self.impact_scale = see_prices, impact_scale
        self.step_bars, self.penalty = int(step_bars), float(penalty_bps)
        self.ref = twap_prices(orders, bars, params)
        self.pool = np.flatnonzero(np.isfinite(self.ref))
        if not len(self.pool):
            raise ConfigError("ExecutionEnv: no order that TWAP can fill at all")
        self.observation_space, self.action_space = OBS_SPACE, ACT_SPACE
        self.rng = np.random.default_rng(seed)
        self.log: list[tuple[np.ndarray, int]] = []  # (obs, teacher action) per decision

    def _obs(self) -> np.ndarray:
        obs = student_features(self.sess.past(), self.step_bars)[0]
        teach = teacher_actions(self.sess, self.step_bars, self.see_prices, self.impact_scale)
        self.log.append((obs, int(teach[0])))
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.i = int(self.rng.choice(self.pool))
        rows = np.array([self.i])
        o = self.orders
        one = Orders(o.side[rows], o.quantity[rows], o.start[rows], o.end[rows])
        self.sess = Session(one, self.bars.take(rows), self.params)
        while self.sess.b < one.start[0]:
            self.sess.step(np.zeros(1))
        return self._obs(), {}

    def step(self, action):
        sess, o = self.sess, self.sess.orders
        child = pace(sess.past(), ACTIONS[[int(action)]], self.step_bars)
        ref, side, Q = self.ref[self.i], o.side[0], o.quantity[0]
        reward = 0.0
        for _ in range(self.step_bars):
            if sess.b >= o.end[0]:
                break
            b = sess.b
            q = sess.step(child)[0]
            if q > 0:
                reward += side * (ref - sess.px[0, b]) / ref * q / Q * 1e4
        done = sess.b >= o.end[0] or sess.remaining[0] <= 0
        if done:
            reward -= self.penalty * sess.remaining[0] / Q
            obs = np.zeros(N_FEATURES, np.float32)
        else:
            obs = self._obs()
        return obs, reward / 10.0, done, False, {}

    def pop_log(self) -> list[tuple[np.ndarray, int]]:
        out, self.log = self.log, []
        return out


def policy_act(policy: ActorCriticPolicy, mean: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """Multiples of the TWAP pace [M] a policy network picks for observations [M, F]: the
    expected multiple under its action distribution (`mean`), else the most likely one. The mean
    is what a distilled student should trade: imitating a teacher who sees the future gives a
    spread of actions in a given past state, whose mode is a poor pace (often 'wait')."""

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            dist = policy.get_distribution(torch.as_tensor(obs)).distribution
            probs = cast(torch.distributions.Categorical, dist).probs.cpu().numpy()
        return probs @ ACTIONS if mean else ACTIONS[probs.argmax(axis=1)]

    return act


def bc_step(
    policy: ActorCriticPolicy,
    obs: np.ndarray,
    target: np.ndarray,
    epochs: int = 1,
    batch: int = 512,
    seed: int = 0,
) -> float:
    """Behaviour cloning: minimize the cross-entropy of the policy to the teacher's actions.
    Returns the last epoch's mean loss."""
    rng = np.random.default_rng(seed)
    o, a = torch.as_tensor(obs), torch.as_tensor(target, dtype=torch.long)
    last = float("nan")
    for _ in range(epochs):
        perm = rng.permutation(len(o))
        losses = []
        for k in range(0, len(o), batch):
            idx = perm[k : k + batch]
            loss = -policy.get_distribution(o[idx]).log_prob(a[idx]).mean()
            policy.optimizer.zero_grad()
            loss.backward()
            policy.optimizer.step()
            losses.append(float(loss.detach()))
        last = float(np.mean(losses))
    return last


def dagger_data(
    policy: ActorCriticPolicy,
    orders: Orders,
    bars: OrderBars,
    params: SimParams,
    step_bars: int,
    beta: float,
    seed: int,
    see_prices: bool = True,
    impact_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(student obs, teacher action) at every decision of a batch run where each decision follows
    the teacher with probability `beta`, else the student."""
    rng = np.random.default_rng(seed)
    sess = Session(orders, bars, params)
    student = policy_act(policy)
    xs, ys = [], []

    def act(obs: np.ndarray) -> np.ndarray:
        teach = teacher_actions(sess, step_bars, see_prices, impact_scale)
        o = sess.orders
        decide = (
            (sess.b >= o.start)
            & ((sess.b - o.start) % step_bars == 0)
            & (o.end - sess.b > step_bars)
        )
        xs.append(obs[decide])
        ys.append(teach[decide])
        return np.where(rng.random(len(obs)) < beta, ACTIONS[teach], student(obs))

    run_session(sess, LearnedPolicy(act, step_bars))
    return np.concatenate(xs), np.concatenate(ys)


class _DistillCallback(BaseCallback):
    """After each PPO rollout: `steps` cross-entropy steps toward the teacher's actions on the
    observations the rollout visited, weight decaying as `weight` x remaining progress."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        logs = [pair for log in self.training_env.env_method("pop_log") for pair in log]
        if logs and self.epochs > 0:
            obs = np.stack([p[0] for p in logs])
            act = np.array([p[1] for p in logs])
            bc_step(
                cast(ActorCriticPolicy, self.model.policy),
                obs,
                act,
                epochs=self.epochs,
                seed=self.num_timesteps,
            )


@dataclass
class DistillConfig:
    """Oracle policy distillation: the teacher ('oracle': sees future prices and volumes;
    'volume': future volumes only) and the budget (small by default: a few CPU minutes). PPO
    first trains the critic alone for `critic_warmup` steps (the BC actor is kept)."""

    teacher: str = "oracle"
    teacher_impact: float = 1.0  # the teacher plans with impact x this (smoother when > 1)
    step_bars: int = 1
    dagger_rounds: int = 4
    bc_epochs: int = 5
    ppo_steps: int = 20_000
    ppo_bc_epochs: int = 1
    critic_warmup: int = 2048
    n_envs: int = 4
    learning_rate: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.teacher not in ("oracle", "volume"):
            raise ConfigError(f"teacher must be 'oracle' or 'volume', got {self.teacher!r}")


def new_model(env: gym.Env | DummyVecEnv, cfg: DistillConfig) -> PPO:
    """A small PPO (MLP 64x64) on `env`."""
    return PPO(
        "MlpPolicy",
        env,
        n_steps=256,
        batch_size=256,
        n_epochs=4,
        learning_rate=cfg.learning_rate,
        gamma=1.0,
        ent_coef=0.01,
        seed=cfg.seed,
        device="cpu",
        verbose=0,
    )


def distill(
    orders: Orders, bars: OrderBars, params: SimParams, cfg: DistillConfig | None = None
) -> tuple[PPO, dict[str, float]]:
    """Train the student on the training orders: DAgger behaviour cloning of the oracle teacher
    (beta 1 -> 0), then PPO on `ExecutionEnv` with distillation after each rollout.
    Returns the PPO model and the BC losses."""
    cfg = cfg or DistillConfig()
    see = cfg.teacher == "oracle"

    def make(k: int) -> Callable[[], ExecutionEnv]:
        return lambda: ExecutionEnv(
            orders,
            bars,
            params,
            cfg.step_bars,
            seed=cfg.seed * 100 + k,
            see_prices=see,
            impact_scale=cfg.teacher_impact,
        )

    venv = DummyVecEnv([make(k) for k in range(cfg.n_envs)])
    model = new_model(venv, cfg)
    info: dict[str, float] = {}
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for r in range(cfg.dagger_rounds):
        beta = 1.0 - r / max(cfg.dagger_rounds, 1)
        x, y = dagger_data(
            model.policy,
            orders,
            bars,
            params,
            cfg.step_bars,
            beta,
            cfg.seed + r,
            see,
            cfg.teacher_impact,
        )
        xs.append(x)
        ys.append(y)
        info[f"bc_loss_round{r}"] = bc_step(
            model.policy, np.concatenate(xs), np.concatenate(ys), cfg.bc_epochs, seed=cfg.seed + r
        )
    if cfg.ppo_steps > 0:
        finetune(model, cfg)
    return model, info


def finetune(model: PPO, cfg: DistillConfig) -> PPO:
    """PPO on the model's environments for `cfg.ppo_steps`, the critic alone first, with a
    cross-entropy step toward the teacher's actions after each rollout."""
    venv = model.get_env()
    if venv is not None:
        venv.env_method("pop_log")
    if cfg.ppo_steps > 0:
        actor = [
            *model.policy.mlp_extractor.policy_net.parameters(),
            *model.policy.action_net.parameters(),
        ]
        warm = min(cfg.critic_warmup, cfg.ppo_steps)
        if warm > 0:  # the critic learns the BC policy's values before the actor moves
            for p in actor:
                p.requires_grad_(False)
            model.learn(warm, callback=_DistillCallback(0))
            for p in actor:
                p.requires_grad_(True)
        if cfg.ppo_steps > warm:
            callback = _DistillCallback(cfg.ppo_bc_epochs)
            model.learn(cfg.ppo_steps - warm, callback=callback, reset_num_timesteps=False)
    return model


def save_student(model: PPO | ActorCriticPolicy, path: str | Path) -> None:
    """The student's weights as tensors (loaded back with weights_only=True)."""
    policy = model.policy if isinstance(model, PPO) else model
    torch.save(policy.state_dict(), Path(path))


def snapshot(policy: ActorCriticPolicy) -> ActorCriticPolicy:
    """A frozen copy of a student network (its weights now)."""
    copy = ActorCriticPolicy(OBS_SPACE, ACT_SPACE, lambda _: 0.0)
    copy.load_state_dict({k: v.detach().clone() for k, v in policy.state_dict().items()})
    return copy.eval()


def load_student(path: str | Path) -> ActorCriticPolicy:
    """A student policy network from `save_student`'s file."""
    policy = ActorCriticPolicy(OBS_SPACE, ACT_SPACE, lambda _: 0.0)
    try:
        state = torch.load(Path(path), weights_only=True, map_location="cpu")
        policy.load_state_dict(state)
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"execution.policy: cannot load {path} ({exc})") from None
    return policy.eval()


def learned_strategy(policy: str, step_bars: int = 1) -> LearnedPolicy:
    """The registered 'learned' strategy: a saved student (path) acting every `step_bars` bars."""
    return LearnedPolicy(policy_act(load_student(policy)), step_bars)
