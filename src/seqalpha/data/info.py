"""`seqalpha data info`: what a Qlib store holds, and what is wrong with it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from seqalpha.data.qlib_bin import (
    list_feature_codes,
    read_calendar,
    read_instruments,
    universe_mask,
)
from seqalpha.errors import DataError

MAX_LISTED = 12


def _bin_problem(path: Path, calendar_len: int) -> str | None:
    """A one-line description of what is wrong with a `.bin` file, or None (reads 4 bytes)."""
    size = path.stat().st_size
    if size % 4:
        return f"{path}: size {size} bytes is not a multiple of 4 (truncated?)"
    if size < 4:
        return f"{path}: empty file"
    with open(path, "rb") as fh:
        start = float(np.frombuffer(fh.read(4), dtype="<f4")[0])
    if not np.isfinite(start) or start < 0 or start != int(start):
        return f"{path}: start index {start} is not a non-negative integer"
    n = size // 4 - 1
    if int(start) + n > calendar_len:
        return (
            f"{path}: {n} values from index {int(start)} run past the calendar "
            f"({calendar_len} days)"
        )
    return None


def describe_store(data_dir: str | Path, check_bins: bool = True) -> dict[str, Any]:
    """Calendar, markets, fields, problems and synthetic parameters of a store, as a dict.

    Keys: path, calendar {start, end, days}, n_with_data, fields {name: n_instruments},
    markets {name: {codes, spells, codes_without_data, mean_members, mean_members_with_data}},
    warnings [str], synthetic (meta.json contents or None).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist")
    cal = read_calendar(root)
    codes = list_feature_codes(root)
    have = set(codes)
    warnings: list[str] = []

    field_count: Counter[str] = Counter()
    per_code: dict[str, set[str]] = {}
    bad_bins: list[str] = []
    for code in codes:
        files = list((root / "features" / code.lower()).glob("*.day.bin"))
        names = {p.name[: -len(".day.bin")] for p in files}
        per_code[code] = names
        field_count.update(names)
        if check_bins:
            bad_bins.extend(msg for p in files if (msg := _bin_problem(p, len(cal))))
    empty = [c for c, names in per_code.items() if not names]
    if empty:
        warnings.append(f"{len(empty)} feature folders hold no .day.bin file: {empty[:MAX_LISTED]}")
    for name, n in sorted(field_count.items()):
        if n < len(codes):
            lacking = [c for c, names in per_code.items() if name not in names]
            warnings.append(
                f"field {name!r} is missing for {len(lacking)} instruments: {lacking[:MAX_LISTED]}"
            )
    if bad_bins:
        warnings.append(f"{len(bad_bins)} malformed .bin files, e.g. {bad_bins[:3]}")

    markets: dict[str, dict[str, Any]] = {}
    inst_dir = root / "instruments"
    market_names = sorted(p.stem for p in inst_dir.glob("*.txt")) if inst_dir.is_dir() else []
    if not market_names:
        warnings.append(f"{inst_dir}: no market files (instruments/*.txt)")
    for m in market_names:
        spells = read_instruments(root, m)
        mcodes = sorted({s.code for s in spells})
        without = [c for c in mcodes if c not in have]
        mask = universe_mask(spells, cal, np.array(mcodes))
        with_data = np.isin(np.array(mcodes), list(have)) if mcodes else np.zeros(0, bool)
        markets[m] = {
            "codes": len(mcodes),
            "spells": len(spells),
            "codes_without_data": without,
            "mean_members": float(mask.sum(axis=1).mean()) if len(cal) else 0.0,
            "mean_members_with_data": float(mask[:, with_data].sum(axis=1).mean())
            if len(cal)
            else 0.0,
        }
        if without:
            warnings.append(
                f"market {m!r}: {len(without)} codes have no data files: "
                f"{without[:MAX_LISTED]}{' ...' if len(without) > MAX_LISTED else ''}"
            )
    if "all" in markets:
        listed = {s.code for s in read_instruments(root, "all")}
        unlisted = sorted(have - listed)
        if unlisted:
            warnings.append(
                f"{len(unlisted)} instruments have data but are not in all.txt: "
                f"{unlisted[:MAX_LISTED]}"
            )

    synthetic = None
    meta = root / "meta.json"
    if meta.is_file():
        try:
            synthetic = json.loads(meta.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{meta}: not valid JSON ({exc})") from None
    return {
        "path": str(root),
        "calendar": {
            "start": str(cal[0]) if len(cal) else None,
            "end": str(cal[-1]) if len(cal) else None,
            "days": len(cal),
        },
        "n_with_data": len(codes),
        "fields": dict(sorted(field_count.items())),
        "markets": markets,
        "warnings": warnings,
        "synthetic": synthetic,
    }


def print_store_info(data_dir: str | Path) -> dict[str, Any]:
    """Print `describe_store(data_dir)` as rich tables (to stdout); returns the dict."""
    from rich.console import Console
    from rich.table import Table

    info = describe_store(data_dir)
    console = Console()
    cal = info["calendar"]
    head = Table(title=f"Qlib store {info['path']}", show_header=False)
    head.add_row("calendar", f"{cal['start']} .. {cal['end']} ({cal['days']:,} days)")
    head.add_row("instruments with data", f"{info['n_with_data']:,}")
    head.add_row("fields", ", ".join(f"{k} ({v})" for k, v in info["fields"].items()))
    console.print(head)

    mk = Table(title="markets (instruments/*.txt)")
    for col in (
        "market",
        "codes",
        "spells",
        "codes without data",
        "mean members/day",
        "with data/day",
    ):
        mk.add_column(col, justify="left" if col == "market" else "right")
    for name, m in info["markets"].items():
        mk.add_row(
            name,
            f"{m['codes']:,}",
            f"{m['spells']:,}",
            f"{len(m['codes_without_data']):,}",
            f"{m['mean_members']:.1f}",
            f"{m['mean_members_with_data']:.1f}",
        )
    console.print(mk)

    if info["synthetic"] is not None:
        syn = Table(title="synthetic store parameters (meta.json)")
        syn.add_column("parameter")
        syn.add_column("value")
        rows = []
        for k, v in info["synthetic"].items():
            if isinstance(v, dict):  # one level of nesting (e.g. the generator config) flattened
                rows.extend((f"{k}.{k2}", v2) for k2, v2 in v.items())
            else:
                rows.append((str(k), v))
        for k, v in rows:
            text = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
            syn.add_row(k, text if len(text) <= 100 else text[:97] + "...")
        console.print(syn)

    for w in info["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")
    return info
