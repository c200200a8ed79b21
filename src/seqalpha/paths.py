"""Where the shared read-only material (real data, reference values) lives."""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    """`$SEQALPHA_SHARED`, else `../shared` beside the repository checkout, else `./shared`."""
    env = os.environ.get("SEQALPHA_SHARED")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    for cand in (repo.parent / "shared", Path.cwd().parent / "shared", Path.cwd() / "shared"):
        if cand.is_dir():
            return cand
    return repo.parent / "shared"


def shared_data_dir(name: str = "") -> Path:
    """A folder under `shared/data` (e.g. `cn_csi300`)."""
    return shared_dir() / "data" / name if name else shared_dir() / "data"
