"""Provenance of a run: code version, environment, a content hash of the data read, seeds, argv.

`provenance.json` lets a reader tell whether two runs used the same code, packages and data.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import seqalpha
from seqalpha.errors import ConfigError, DataError

PACKAGES = (
    "numpy",
    "polars",
    "pyarrow",
    "pandas",
    "numba",
    "scipy",
    "torch",
    "lightgbm",
    "scikit-learn",
    "cvxpy",
    "ray",
    "mlflow",
    "plotly",
    "pydantic",
    "pyyaml",
    "typer",
)
_CHUNK = 1 << 20


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed distribution versions (None when a package is not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_state(root: Path | None = None) -> dict[str, Any]:
    """{"commit", "dirty", "root"} of the checkout holding seqalpha; all None when not in git."""
    root = Path(root) if root is not None else Path(seqalpha.__file__).resolve().parents[2]
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root.resolve():
        return {"commit": None, "dirty": None, "root": None}
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status), "root": str(root)}


def _expand(data_files: list[Path]) -> list[Path]:
    files: list[Path] = []
    for item in data_files:
        path = Path(item)
        if path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"provenance: data file {path} does not exist")
    return [p.resolve() for p in files]


def hash_files(data_files: list[Path]) -> dict[str, Any]:
    """sha256 over the sorted relative paths (to the files' common folder) and bytes of the files.

    Directories are expanded recursively. Returns {"sha256", "root", "n_files", "n_bytes"}.
    """
    files = sorted(set(_expand(data_files)))
    if not files:
        return {"sha256": None, "root": None, "n_files": 0, "n_bytes": 0}
    root = Path(os.path.commonpath([str(p.parent) for p in files]))
    digest = hashlib.sha256()
    rel = sorted((p.relative_to(root).as_posix(), p) for p in files)
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


def provenance(
    data_files: list[Path], seeds: list[int], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The provenance record as a JSON-ready dict (see write_provenance)."""
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"provenance: seeds must be integers, got {seeds!r}")
    extra = dict(extra or {})
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"provenance: extra is not JSON-serializable: {exc}") from exc
    return {
        "seqalpha": seqalpha.__version__,
        "git": git_state(),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": platform.node(),
        "packages": package_versions(),
        "data": hash_files(data_files),
        "seeds": list(seeds),
        "command": [sys.executable, *sys.argv],
        "extra": extra,
    }


def write_provenance(
    run_dir: Path | str,
    data_files: list[Path],
    seeds: list[int],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write `RUN_DIR/provenance.json` atomically (code, packages, data sha256, seeds, argv)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run directory {run_dir} does not exist")
    record = provenance(data_files, seeds, extra)
    out = run_dir / "provenance.json"
    tmp = run_dir / f".provenance.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(tmp, out)
    return out
