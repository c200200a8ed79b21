"""Atomic writes of run artifacts (temp file + rename) and JSON-safe conversion of results."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
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


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write text to `path` so that readers see the old file or the whole new one."""
    path = Path(path)
    tmp = _tmp(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """`to_jsonable(obj)` as indented JSON, atomically."""
    return write_text_atomic(path, json.dumps(to_jsonable(obj), indent=1))


def write_parquet_atomic(df: pl.DataFrame, path: str | Path) -> Path:
    """A polars frame as zstd Parquet, atomically."""
    path = Path(path)
    tmp = _tmp(path)
    df.write_parquet(tmp, compression="zstd")
    os.replace(tmp, path)
    return path
