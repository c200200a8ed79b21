"""HIST: concepts from a store's point-in-time industries and market caps, the three modules,
determinism, save/load, and a lead-lag signal that only the concept modules can read."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import write_store
from seqalpha.dataset.core import SampleSet
from seqalpha.errors import ConfigError, DataError
from seqalpha.models import create_model, load_model
from seqalpha.models.hist import HISTNet, comovement_keys, day_groups
from seqalpha.models.nets import RNNEncoder
from seqalpha.xsection import daily_ic

TRAIN, VALID, TEST = (0, 60), (60, 72), (72, 90)
GROUP = 5  # stocks per concept; the first of each is its leader (by far the largest cap)


def leadlag_set(T: int = 90, N: int = 40, seed: int = 0) -> SampleSet:
    """Daily returns r = group factor + own move, and a static trait per group; a follower's
    label is its leader's own move today (invisible in the follower's own history), a leader's
    label is noise."""
    rng = np.random.default_rng(seed)
    group = np.arange(N) // GROUP
    own = rng.standard_normal((T, N))
    r = 0.7 * rng.standard_normal((T, N // GROUP))[:, group] + own
    leader = group * GROUP
    y = np.where(np.arange(N) % GROUP == 0, 0.0, own[:, leader]) + 0.5 * rng.standard_normal((T, N))
    # a static trait per group (like a business profile) makes members' hidden states alike
    trait = np.broadcast_to(rng.standard_normal((N // GROUP, 2))[group], (T, N, 2))
    x = np.concatenate([r[:, :, None], trait], axis=2)
    dates = np.busday_offset(np.datetime64("2021-01-04"), np.arange(T), roll="forward")
    return SampleSet(
        dates=dates,
        instruments=np.array([f"S{k:03d}" for k in range(N)]),
        features=x.astype(np.float32),
        bars=None,
        labels=y[:, :, None].astype(np.float32),
        mask=np.ones((T, N), bool),
        rows=(0, min(TRAIN[1], T)),
        feature_names=["ret", "trait0", "trait1"],
        label_names=["y"],
        lookback=6,
    )


def write_concept_store(root: Path, data: SampleSet, industry: np.ndarray, cap: np.ndarray) -> Path:
    """A Qlib store with daily `industry` and `mktcap` fields (the synthetic market's layout)."""
    T, N = data.mask.shape
    fields = {
        "close": np.ones((T, N), np.float32),
        "factor": np.ones((T, N), np.float32),
        "industry": industry.astype(np.float32),
        "mktcap": cap.astype(np.float32),
    }
    write_store(root, Panel(data.dates, data.instruments, fields))
    return root


@pytest.fixture(scope="module")
def data() -> SampleSet:
    return leadlag_set()


@pytest.fixture(scope="module")
def store(data, tmp_path_factory) -> Path:
    T, N = data.mask.shape
    industry = np.broadcast_to(np.arange(N) // GROUP, (T, N)).astype(float)
    cap = np.where(np.arange(N) % GROUP == 0, 100.0, 1.0) * np.ones((T, 1))
    return write_concept_store(tmp_path_factory.mktemp("hist") / "store", data, industry, cap)


FAST = {
    "threads": 1,
    "progress": False,
    "epochs": 3,
    "patience": 3,
    "lr": 5e-3,
    "seq_len": 6,
    "hidden_size": 16,
    "num_layers": 1,
    "early_stop_metric": "ic",
}


def test_ic(model, data) -> float:
    scores = model.predict(data.with_rows(*TEST))
    return float(np.nanmean(daily_ic(scores, data.labels[TEST[0] : TEST[1], :, 0])))


test_ic.__test__ = False  # a helper, not a test


def test_industries_weighted_by_cap_carry_the_leaders_move(data, store, tmp_path):
    model = create_model("hist", **FAST, concept_dir=str(store))
    model.fit(data, data.with_rows(*VALID))
    ic = test_ic(model, data)
    assert ic > 0.4  # oracle about 0.8; a GRU on the stock's own history has none of it

    scores = model.predict(data.with_rows(*TEST))
    assert scores.shape == (TEST[1] - TEST[0], 40) and np.isfinite(scores).all()
    model.save(tmp_path / "ckpt")
    loaded = load_model(tmp_path / "ckpt")
    np.testing.assert_array_equal(loaded.predict(data.with_rows(*TEST)), scores)


def test_several_days_per_step_in_bf16_still_carry_the_leaders_move(data, store):
    # the real-data example's setting: 4 days per optimizer step, the encoder in bfloat16;
    # the concept modules still act within each day of the step
    params = {**FAST, "days_per_batch": 4, "precision": "bf16", "epochs": 6, "patience": 6}
    model = create_model("hist", **params, concept_dir=str(store))
    model.fit(data, data.with_rows(*VALID))
    assert test_ic(model, data) > 0.3
    again = create_model("hist", **params, concept_dir=str(store))
    again.fit(data, data.with_rows(*VALID))
    np.testing.assert_array_equal(
        again.predict(data.with_rows(*TEST)), model.predict(data.with_rows(*TEST))
    )


def test_one_seed_gives_identical_predictions(data, store):
    runs = []
    for _ in range(2):
        model = create_model("hist", **{**FAST, "epochs": 1}, concept_dir=str(store))
        model.fit(data.with_rows(0, 20))
        runs.append(model.predict(data.with_rows(*TEST)))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_gru_alone_cannot_read_the_leaders_move(data):
    gru = create_model("gru", **FAST)
    gru.fit(data, data.with_rows(*VALID))
    assert abs(test_ic(gru, data)) < 0.15


def test_point_in_time_industries_and_stocks_without_one(data, tmp_path):
    T, N = data.mask.shape
    industry = np.broadcast_to(np.arange(N) // GROUP, (T, N)).astype(float).copy()
    industry[50:, 1] = 7.0  # stock 1 moves to industry 7 on day 50
    industry[:, 2] = np.nan  # stock 2 has no industry at all
    cap = np.ones((T, N))
    cap[:, 0] = np.nan  # a member without a market cap
    store = write_concept_store(tmp_path / "pit", data, industry, cap)
    model = create_model("hist", **FAST, concept_dir=str(store))
    code, w = model.concept_arrays(data)
    assert code[49, 1] == 0 and code[50, 1] == 7  # the industry in force on each date
    assert (code[:, 2] == -1).all()
    assert np.allclose(w[:, 0], 1.0)  # the day's median member cap


def test_a_stock_without_industry_adds_nothing_to_the_concepts():
    torch.manual_seed(0)
    net = HISTNet(RNNEncoder("gru", 2, 8, 1, 0.0), 8, 10.0)
    h = torch.randn(6, 8)
    code = torch.tensor([0, 0, 1, 1, -1, 1])
    w = torch.tensor([3.0, 1.0, 1.0, 2.0, 1.0, 1.0])
    base = net.predefined(h, code, w)
    h2 = h.clone()
    h2[4] = torch.randn(8) * 10  # the stock without industry changes completely
    moved = net.predefined(h2, code, w)
    torch.testing.assert_close(moved[code >= 0], base[code >= 0])
    assert torch.isfinite(moved[4]).all()  # it still reads the concepts


def test_comovement_links_each_stock_to_one_that_moves_with_it():
    torch.manual_seed(0)
    net = HISTNet(RNNEncoder("gru", 1, 8, 1, 0.0), 8, 10.0, links="comovement")
    path = torch.randn(3, 30)  # three groups, each of two stocks on the same path
    x = torch.cat([path, path + 0.1 * torch.randn(3, 30)])[:, :, None]  # stock k pairs with k + 3
    r = torch.randn(6, 8)  # residual states unrelated to the grouping
    r_mate = r.clone()
    r_mate[3] = 100.0  # stock 0's mate changes its state
    r_other = r.clone()
    r_other[4] = 100.0  # a stock of another group changes its state
    keys = comovement_keys(x)
    base = net.hidden_concepts(r, keys)
    # stock 0 joins its mate's concept and reads it: the mate's state reaches stock 0
    assert not torch.allclose(net.hidden_concepts(r_mate, keys)[0], base[0], atol=1e-3)
    # the similarity is the correlation of the paths, whatever the scale of the inputs
    torch.testing.assert_close(comovement_keys(5.0 * x + 2.0), keys, atol=1e-4, rtol=1e-4)
    assert torch.isfinite(net.hidden_concepts(r_other, keys)).all()
    assert torch.isfinite(comovement_keys(x[:, :1])).all()  # a one-step window has no path


def test_comovement_links_learn_save_and_load(data, store, tmp_path):
    model = create_model("hist", **FAST, concept_dir=str(store), links="comovement")
    model.fit(data, data.with_rows(*VALID))
    assert test_ic(model, data) > 0.4  # the linking option keeps the concept modules' signal
    scores = model.predict(data.with_rows(*TEST))
    model.save(tmp_path / "ckpt")
    loaded = load_model(tmp_path / "ckpt")
    assert loaded.params["links"] == "comovement"
    np.testing.assert_array_equal(loaded.predict(data.with_rows(*TEST)), scores)


def test_membership_read_gives_each_member_its_own_concept():
    torch.manual_seed(0)
    net = HISTNet(RNNEncoder("gru", 2, 8, 1, 0.0), 8, 10.0, read="membership")
    h = torch.randn(6, 8)
    code = torch.tensor([0, 0, 1, 1, -1, 1])
    w = torch.tensor([3.0, 1.0, 1.0, 2.0, 1.0, 1.0])
    shared = net.predefined(h, code, w)
    concept0 = (3.0 * h[0] + h[1]) / 4.0  # cap-weighted mean of the members
    concept1 = (h[2] + 2.0 * h[3] + h[5]) / 4.0
    for k, want in [(0, concept0), (1, concept0), (2, concept1), (3, concept1), (5, concept1)]:
        torch.testing.assert_close(shared[k], want)
    # the stock without industry reads the concepts by similarity: a mix of the two
    alike = HISTNet(RNNEncoder("gru", 2, 8, 1, 0.0), 8, 10.0).predefined(h, code, w)
    torch.testing.assert_close(shared[4], alike[4])
    assert not torch.allclose(alike[0], concept0)  # the paper's read mixes concepts


def test_membership_read_of_hidden_concepts_reads_the_linked_stocks():
    torch.manual_seed(0)
    path = torch.randn(3, 30)
    x = torch.cat([path, path + 0.1 * torch.randn(3, 30)])[:, :, None]  # stock k pairs with k + 3
    keys = comovement_keys(x)
    r = torch.randn(6, 8)
    one = HISTNet(RNNEncoder("gru", 1, 8, 1, 0.0), 8, 10.0, links="comovement", read="membership")
    got = one.hidden_concepts(r, keys)
    # with one link a stock reads exactly its most co-moving stock: its mate
    torch.testing.assert_close(got[0], r[3])
    torch.testing.assert_close(got[3], r[0])
    # with k links it reads a softmax-of-similarity mix of its k most similar stocks
    three = HISTNet(
        RNNEncoder("gru", 1, 8, 1, 0.0), 8, 10.0, links="comovement", read="membership", link_k=3
    )
    sim = comovement_keys(x)[0] @ keys.t() / keys.norm(dim=1) / keys[0].norm()
    top, best = sim.masked_fill(torch.arange(6) == 0, -2.0).topk(3)
    assert best[0] == 3
    want = (torch.softmax(10.0 * top, dim=0)[:, None] * r[best]).sum(0)
    torch.testing.assert_close(three.hidden_concepts(r, keys)[0], want)


def test_membership_read_learns_the_leaders_move_and_round_trips(data, store, tmp_path):
    model = create_model("hist", **FAST, concept_dir=str(store), read="membership")
    model.fit(data, data.with_rows(*VALID))
    assert test_ic(model, data) > 0.4
    scores = model.predict(data.with_rows(*TEST))
    model.save(tmp_path / "ckpt")
    loaded = load_model(tmp_path / "ckpt")
    assert loaded.params["read"] == "membership"
    np.testing.assert_array_equal(loaded.predict(data.with_rows(*TEST)), scores)


def test_link_window_keys_read_a_longer_past_and_never_the_future(data, store):
    params = {**FAST, "epochs": 1, "links": "comovement", "read": "membership", "link_k": 2}
    model = create_model("hist", **params, link_window=30, concept_dir=str(store))
    model.fit(data.with_rows(0, 40))
    before = model.predict(data.with_rows(*TEST))

    def changed(t0: int, t1: int) -> SampleSet:
        x = data.features.copy()
        x[t0:t1] = np.random.default_rng(1).standard_normal(x[t0:t1].shape)
        return dataclasses.replace(data, features=x)

    # days 10-20 before the test: outside the 6-day input sequence, inside the 30-day link window
    older = model.predict(changed(TEST[0] - 20, TEST[0] - 10).with_rows(*TEST))
    assert not np.array_equal(older[0], before[0])
    later = model.predict(changed(TEST[0] + 5, TEST[1]).with_rows(*TEST))
    np.testing.assert_array_equal(later[:5], before[:5])  # what comes later is never read
    with pytest.raises(ConfigError, match="link_window"):
        create_model("hist", **{**params, "links": "hidden"}, link_window=30, concept_dir="x")
    with pytest.raises(ConfigError, match="'link_k' must be an integer >= 1"):
        create_model("hist", **{**params, "link_k": 0}, concept_dir="x")


def test_day_groups_split_a_batch_by_day():
    groups = day_groups(np.array([5, 3, 5, 3, 9]))
    assert [g.tolist() for g in groups] == [[1, 3], [0, 2], [4]]


def test_bad_params_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="concept_dir"):
        create_model("hist")
    with pytest.raises(ConfigError, match="'batch' must be 'day'"):
        create_model("hist", concepts="none", batch="rows")
    model = create_model("hist", **FAST, concept_dir=str(tmp_path))
    with pytest.raises(DataError, match="not a Qlib store"):
        model.fit(leadlag_set(T=30, N=10))


def test_without_concepts_the_hidden_module_still_trains(data):
    model = create_model("hist", **{**FAST, "epochs": 2}, concepts="none")
    model.fit(data, data.with_rows(*VALID))
    assert np.isfinite(model.predict(data.with_rows(*TEST))).all()


def test_real_shenwan_industry_is_the_one_in_force_on_each_date(csi300_dir, meta_dir):
    """SH600000 is 440101 until 2014-02-20, 480101 from 2014-02-21, 480301 from 2021-07-30."""
    from seqalpha.data.reference import industry_names

    dates = np.array(["2014-02-20", "2014-02-21", "2021-07-29", "2021-07-30"], "datetime64[D]")
    inst = np.array(["SH600000", "SZ000001"])
    data = SampleSet(
        dates, inst, np.zeros((4, 2, 1), np.float32), None, None, np.ones((4, 2), bool), (0, 4)
    )
    model = create_model(
        "hist",
        concept_dir=str(csi300_dir),
        meta_dir=str(meta_dir),
        industry_level="l3",
        taxonomy="asis",
    )
    code, w = model.concept_arrays(data)
    names = industry_names(meta_dir, "l3", "asis")
    assert [names[c] for c in code[:, 0]] == ["440101", "480101", "480101", "480301"]
    assert np.isfinite(w).all() and (w > 0).all()
