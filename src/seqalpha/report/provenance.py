"""Provenance of a run: code version, environment, a content hash of the data read, seeds, argv.

`provenance.json` lets a reader tell whether two runs used the same code, packages and data.
The data hash is the one a run directory's resume key holds (`seqalpha.train.runkey`).
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import seqalpha
from seqalpha.errors import ConfigError, DataError
from seqalpha.jsonio import write_json_atomic
from seqalpha.train.runkey import hash_files

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
    return write_json_atomic(run_dir / "provenance.json", provenance(data_files, seeds, extra))
