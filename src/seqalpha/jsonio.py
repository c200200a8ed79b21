"""Atomic writes of run artifacts (temp file + rename) and JSON-safe conversion of results."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # polars is only needed by callers that pass a frame
    import polars as pl


def to_jsonable(x: Any) -> Any:
    """Nested dicts/lists with numpy scalars as Python numbers and non-finite floats as None."""
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if np.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """`write(tmp)` into a temp sibling, then rename it onto `path`: readers see the old file
    or the whole new one; a failed write leaves no temp file behind."""
    path = Path(path)
    tmp = _tmp(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 text to `path` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """`to_jsonable(obj)` as indented JSON, atomically."""
    return write_text_atomic(path, json.dumps(to_jsonable(obj), indent=1))


def write_parquet_atomic(df: pl.DataFrame, path: str | Path) -> Path:
    """A polars frame as zstd Parquet, atomically."""
    return write_atomic(path, lambda tmp: df.write_parquet(tmp, compression="zstd"))
