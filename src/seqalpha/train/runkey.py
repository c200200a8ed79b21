"""The resume key of a run directory: the hash of the config sections that change predictions
and a fingerprint of the data files the run reads, kept in `RUN_DIR/inputs.json`.

Finished windows are reused only under the same key. The data fingerprint is the sha256 that
provenance records (`hash_files`: paths, sizes and bytes); it is recomputed only when a cheap
listing of (path, size, mtime) differs from the stored one. On the CSI300 store (5,274 files,
56 MB) the hash takes 0.35-0.5 s and the listing 0.2 s; the hash grows with bytes (minute
bars), the listing only with the number of files.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from seqalpha.config import PipelineConfig
from seqalpha.errors import ConfigError, DataError
from seqalpha.jsonio import write_json_atomic

INPUTS_NAME = "inputs.json"
DATA_SUFFIXES = (".bin", ".txt", ".parquet", ".json", ".csv")
_CHUNK = 1 << 20
Log = Callable[[str], None]


def _data_tree(root: Path, exclude: Path | None) -> Iterable[Path]:
    for p in root.rglob("*"):
        if not p.is_file() or p.suffix not in DATA_SUFFIXES or p.name.startswith("."):
            continue
        if exclude is not None and p.resolve().is_relative_to(exclude):
            continue
        yield p


def input_files(cfg: PipelineConfig, exclude: str | Path | None = None) -> list[Path]:
    """The data files a run of `cfg` reads: the data directory's (and minute directory's, when
    it is elsewhere) `.bin .txt .parquet .json .csv` files; `exclude` (the run directory, when
    it sits inside the data directory) is left out."""
    skip = Path(exclude).resolve() if exclude is not None else None
    roots = [Path(cfg.data.dir)]
    minute = cfg.data.minute_dir
    if minute and not Path(minute).resolve().is_relative_to(Path(cfg.data.dir).resolve()):
        roots.append(Path(minute))
    files: set[Path] = set()
    for root in roots:
        if root.is_dir():
            files.update(_data_tree(root, skip))
        elif root.is_file():
            files.add(root)
    return sorted(files)


def _expand(data_files: Iterable[str | Path]) -> list[Path]:
    """Absolute paths of the files (directories expanded recursively), sorted, unique."""
    files: set[str] = set()
    for item in data_files:
        path = os.path.abspath(item)
        if os.path.isdir(path):
            for top, _, names in os.walk(path):
                files.update(os.path.join(top, n) for n in names)
        elif os.path.isfile(path):
            files.add(path)
        else:
            raise DataError(f"data file {item} does not exist")
    return [Path(p) for p in sorted(files)]


def _relative(files: list[Path]) -> tuple[Path | None, list[tuple[str, Path]]]:
    if not files:
        return None, []
    root = Path(os.path.commonpath([str(p.parent) for p in files]))
    return root, sorted((p.relative_to(root).as_posix(), p) for p in files)


def _sha256(root: Path | None, rel: list[tuple[str, Path]]) -> dict[str, Any]:
    if root is None:
        return {"sha256": None, "root": None, "n_files": 0, "n_bytes": 0}
    digest = hashlib.sha256()
    total = 0
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    for name, path in rel:
        size = path.stat().st_size
        # path, NUL, size: a byte moved from one file to the next changes the digest
        digest.update(name.encode("utf-8") + b"\0" + size.to_bytes(8, "little"))
        with open(path, "rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                digest.update(view[:n])
        total += size
    return {"sha256": digest.hexdigest(), "root": str(root), "n_files": len(rel), "n_bytes": total}


def _listing(rel: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in rel:
        st = os.stat(path)
        digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def hash_files(data_files: Iterable[str | Path]) -> dict[str, Any]:
    """sha256 over the sorted relative paths (to the files' common folder), sizes and bytes.

    Directories are expanded recursively. Returns {"sha256", "root", "n_files", "n_bytes"}.
    """
    return _sha256(*_relative(_expand(data_files)))


def listing_hash(data_files: Iterable[str | Path]) -> str:
    """sha256 of the sorted (relative path, size, mtime_ns) of the files: cheap, no reading."""
    return _listing(_relative(_expand(data_files))[1])


def data_fingerprint(
    data_files: Iterable[str | Path], previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """{"sha256", "listing", "root", "n_files", "n_bytes"} of the files; the sha256 is taken
    from `previous` when its listing is unchanged (no file re-read)."""
    root, rel = _relative(_expand(data_files))
    listing = _listing(rel)
    if previous and previous.get("listing") == listing and previous.get("sha256"):
        return {**previous, "root": None if root is None else str(root)}
    return {**_sha256(root, rel), "listing": listing}


def read_inputs(run_dir: str | Path) -> dict[str, Any] | None:
    """RUN_DIR/inputs.json (None when absent; {"unreadable": reason} when damaged)."""
    path = Path(run_dir) / INPUTS_NAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"unreadable": f"{type(exc).__name__}: {exc}"[:200]}
    if not isinstance(data, dict) or "config_hash" not in data or "data" not in data:
        return {"unreadable": "not a resume key record"}
    return data


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n} bytes"


def _describe_data(fp: dict[str, Any]) -> str:
    sha = (fp.get("sha256") or "none")[:12]
    return f"{fp.get('n_files')} files, {_size(int(fp.get('n_bytes') or 0))}, sha256 {sha}"


def key_changes(old: dict[str, Any] | None, cfg_hash: str, fp: dict[str, Any]) -> list[str]:
    """Why the stored key `old` differs from (cfg_hash, fp): empty when it is the same run."""
    if old is None:
        return ["no record of the inputs they were computed from (inputs.json)"]
    if "unreadable" in old:
        return [f"{INPUTS_NAME} is unreadable ({old['unreadable']})"]
    changes = []
    if old.get("config_hash") != cfg_hash:
        changes.append(
            f"the config changed (a different config: hash {old.get('config_hash')} -> {cfg_hash})"
        )
    data = old.get("data") or {}
    if data.get("sha256") != fp.get("sha256"):
        changes.append(
            f"the data changed since ({_describe_data(data)} -> {_describe_data(fp)}, "
            f"in {fp.get('root')})"
        )
    return changes


def check_resume_key(
    run_dir: str | Path,
    cfg_hash: str,
    data_files: Iterable[str | Path],
    n_finished: int,
    fresh: bool = False,
    log: Log | None = None,
) -> tuple[dict[str, Any], bool]:
    """Compare RUN_DIR's stored key with this run's; returns (the current key, whether the
    finished windows must be discarded). A changed key with finished windows is a one-line
    ConfigError unless `fresh`. The caller writes the key (`write_inputs`) once it proceeds."""
    say = log or (lambda msg: None)
    old = read_inputs(run_dir)
    previous = old.get("data") if old and "unreadable" not in old else None
    fp = data_fingerprint(data_files, previous)
    key = {"config_hash": cfg_hash, "data": fp}
    changes = key_changes(old, cfg_hash, fp)
    if not changes or n_finished == 0:
        return key, False
    why = "; ".join(changes)
    if not fresh:
        raise ConfigError(
            f"{run_dir}: {n_finished} finished windows cannot be reused: {why}; "
            f"pass --fresh to recompute them, or use another --out"
        )
    say(f"--fresh: {why}; discarding {n_finished} finished windows and starting over")
    return key, True


def write_inputs(run_dir: str | Path, key: dict[str, Any]) -> Path:
    """Record the resume key in RUN_DIR/inputs.json (atomically)."""
    record = {**key, "written_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    return write_json_atomic(Path(run_dir) / INPUTS_NAME, record)
