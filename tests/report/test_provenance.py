"""provenance.json: code version, packages, a content hash of the data read, seeds, argv."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import seqalpha
from seqalpha.errors import ConfigError, DataError
from seqalpha.report.provenance import git_state, hash_files, write_provenance


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A tiny Qlib-like store: two instruments x two fields plus a calendar."""
    root = tmp_path / "data"
    (root / "calendars").mkdir(parents=True)
    (root / "calendars" / "day.txt").write_text("2021-01-04\n2021-01-05\n")
    for inst in ("sh600000", "sz000001"):
        (root / "features" / inst).mkdir(parents=True)
        for field in ("close", "volume"):
            (root / "features" / inst / f"{field}.day.bin").write_bytes(
                (inst + field).encode() * 10
            )
    return root


def test_hash_matches_a_by_hand_digest(data_dir: Path) -> None:
    files = sorted(p for p in data_dir.rglob("*") if p.is_file())
    expected = hashlib.sha256()
    for p in sorted(files, key=lambda q: q.relative_to(data_dir).as_posix()):
        data = p.read_bytes()
        expected.update(
            p.relative_to(data_dir).as_posix().encode()
            + b"\0"
            + len(data).to_bytes(8, "little")
            + data
        )
    got = hash_files(list(reversed(files)))  # order of the input list does not matter
    assert got["sha256"] == expected.hexdigest()
    assert got["n_files"] == 5 and got["root"] == str(data_dir.resolve())
    assert hash_files([data_dir])["sha256"] == got["sha256"]  # a folder expands to its files


def test_hash_changes_with_content_name_and_boundaries(data_dir: Path, tmp_path: Path) -> None:
    base = hash_files([data_dir])["sha256"]
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    assert hash_files([copy])["sha256"] == base  # location independent
    close = copy / "features" / "sh600000" / "close.day.bin"
    close.write_bytes(close.read_bytes()[:-1] + b"X")
    assert hash_files([copy])["sha256"] != base
    shutil.rmtree(copy)
    shutil.copytree(data_dir, copy)
    (copy / "calendars" / "day.txt").rename(copy / "calendars" / "day2.txt")
    assert hash_files([copy])["sha256"] != base
    with pytest.raises(DataError, match=r"missing\.bin does not exist"):
        hash_files([copy / "missing.bin"])


def test_write_provenance_record(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    path = write_provenance(run, [data_dir], [1, 2, 3], extra={"config": "a.yaml"})
    rec = json.loads(path.read_text())
    assert path == run / "provenance.json"
    assert rec["seqalpha"] == seqalpha.__version__
    assert rec["seeds"] == [1, 2, 3] and rec["extra"] == {"config": "a.yaml"}
    assert rec["data"]["sha256"] == hash_files([data_dir])["sha256"]
    assert rec["packages"]["numpy"] and rec["packages"]["mlflow"] and rec["packages"]["torch"]
    assert rec["python"].startswith("3.11")
    assert isinstance(rec["command"], list) and len(rec["command"]) >= 1
    with pytest.raises(ConfigError, match="seeds"):
        write_provenance(run, [data_dir], ["1"])
    with pytest.raises(ConfigError, match="JSON"):
        write_provenance(run, [data_dir], [1], extra={"x": object()})


def test_git_state_of_a_checkout_and_of_a_plain_folder(tmp_path: Path) -> None:
    plain = git_state(tmp_path)
    assert plain == {"commit": None, "dirty": None, "root": None}
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    env = ["-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "a.txt").write_text("1")
    subprocess.run(["git", "-C", str(repo), "add", "a.txt"], check=True)
    subprocess.run(["git", *env, "-C", str(repo), "commit", "-q", "-m", "x"], check=True)
    clean = git_state(repo)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    (repo / "a.txt").write_text("2")
    assert git_state(repo)["dirty"] is True


def test_hash_of_the_real_csi300_store_is_fast(csi300_dir: Path) -> None:
    files = sorted(p for p in csi300_dir.rglob("*") if p.is_file())
    t0 = time.perf_counter()
    rec = hash_files(files)
    seconds = time.perf_counter() - t0
    assert rec["n_files"] == len(files) > 5000
    assert rec["n_bytes"] > 50_000_000
    assert seconds < 30, f"hashing {rec['n_files']} files took {seconds:.1f} s"
