"""`seqalpha data info`: what a Qlib store holds, and what is wrong with it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqalpha.data.qlib_bin import (
    list_feature_codes,
    read_bin,
    read_calendar,
    read_instruments,
    universe_mask,
)
from seqalpha.data.quality import validate_fields
from seqalpha.errors import DataError

MAX_LISTED = 12


def _bin_problem(path: Path, calendar_len: int) -> str | None:
    """A one-line description of what is wrong with a `.bin` file, or None (reads 4 bytes)."""
    if path.is_dir():
        return f"{path}: a directory, not a file"
    try:
        size = path.stat().st_size
        if size % 4:
            return f"{path}: size {size} bytes is not a multiple of 4 (truncated?)"
        if size < 4:
            return f"{path}: empty file"
        with open(path, "rb") as fh:
            start = float(np.frombuffer(fh.read(4), dtype="<f4")[0])
    except OSError as exc:
        return f"{path}: unreadable ({exc.strerror})"
    if not np.isfinite(start) or start < 0 or start != int(start):
        return f"{path}: start index {start} is not a non-negative integer"
    n = size // 4 - 1
    if int(start) + n > calendar_len:
        return (
            f"{path}: {n} values from index {int(start)} run past the calendar "
            f"({calendar_len} days)"
        )
    return None


@dataclass
class StoreProblem:
    """One class of problem found in a store: `error`s make `data check` fail, `warning`s not."""

    severity: str
    what: str
    count: int
    detail: str

    def line(self) -> str:
        return f"{self.severity}: {self.what}: {self.count:,} ({self.detail})"


def _value_problems(root: Path, cal: np.ndarray, per_code: dict, skip: set[Path]) -> list:
    """Impossible values of every field of every instrument (see `seqalpha.data.quality`)."""
    codes = sorted(per_code)
    names = sorted({f for fs in per_code.values() for f in fs})
    fields = {f: np.full((len(cal), len(codes)), np.nan, dtype=np.float32) for f in names}
    for j, code in enumerate(codes):
        for f in per_code[code]:
            path = root / "features" / code.lower() / f"{f}.day.bin"
            if path in skip:
                continue
            start, vals = read_bin(path, len(cal), cal)
            fields[f][start : start + len(vals), j] = vals
    return [(p, np.array(codes)) for p in validate_fields(fields)]


def check_store(data_dir: str | Path, check_values: bool = True) -> list[StoreProblem]:
    """Every problem of a store, one entry per class with its count (errors first).

    An unusable store (no directory, no or unreadable calendar) raises a DataError instead.
    """
    root = Path(data_dir)
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise DataError(f"data directory {root} {what}")
    cal = read_calendar(root)
    codes = list_feature_codes(root)
    have = set(codes)
    problems: list[StoreProblem] = []

    def add(severity: str, what: str, items: list, fmt=str) -> None:
        if items:
            shown = ", ".join(fmt(x) for x in items[:MAX_LISTED])
            more = " ..." if len(items) > MAX_LISTED else ""
            problems.append(StoreProblem(severity, what, len(items), f"{shown}{more}"))

    per_code: dict[str, set[str]] = {}
    bad_bins: dict[Path, str] = {}
    for code in codes:
        files = list((root / "features" / code.lower()).glob("*.day.bin"))
        per_code[code] = {p.name[: -len(".day.bin")] for p in files}
        bad_bins.update((p, msg) for p in files if (msg := _bin_problem(p, len(cal))))
    add("error", "malformed .bin files", list(bad_bins.values()))
    field_count = Counter(f for names in per_code.values() for f in names)
    for name in sorted(field_count):
        lacking = [c for c, names in per_code.items() if name not in names]
        add("error", f"instruments missing the field file {name!r}", lacking)
    add(
        "warning",
        "feature folders without .day.bin files",
        [c for c, f in per_code.items() if not f],
    )
    if check_values and per_code:
        for prob, inst in _value_problems(root, cal, per_code, set(bad_bins)):
            hit = np.nonzero(prob.counts)[0]
            problems.append(
                StoreProblem(
                    "error",
                    f"{prob.field}: {prob.kind} values",
                    prob.total,
                    f"in {len(hit)} instrument(s): "
                    + ", ".join(f"{inst[j]} ({int(prob.counts[j])})" for j in hit[:MAX_LISTED]),
                )
            )
    inst_dir = root / "instruments"
    market_names = sorted(p.stem for p in inst_dir.glob("*.txt")) if inst_dir.is_dir() else []
    if not market_names:
        add("warning", "market files (instruments/*.txt)", [f"none in {inst_dir}"])
    unreadable = []
    for m in market_names:
        try:
            spells = read_instruments(root, m)
        except DataError as exc:
            unreadable.append(str(exc))
            continue
        without = sorted({s.code for s in spells} - have)
        add("warning", f"codes of market {m!r} without data files", without)
    add("error", "unreadable market files", unreadable)
    if "all" in market_names and not any("all.txt" in u for u in unreadable):
        listed = {s.code for s in read_instruments(root, "all")}
        add("warning", "instruments with data but not in all.txt", sorted(have - listed))
    problems.sort(key=lambda p: p.severity != "error")
    return problems


def describe_store(data_dir: str | Path, check_bins: bool = True) -> dict[str, Any]:
    """Calendar, markets, fields, problems and synthetic parameters of a store, as a dict.

    Keys: path, calendar {start, end, days}, n_with_data, fields {name: n_instruments},
    markets {name: {codes, spells, codes_without_data, mean_members, mean_members_with_data}},
    problems [StoreProblem] (with check_bins, also every value is validated), warnings [str]
    (one line per problem), synthetic (meta.json contents or None).
    """
    root = Path(data_dir)
    problems = check_store(root, check_values=check_bins)
    cal = read_calendar(root)
    codes = list_feature_codes(root)
    have = set(codes)
    warnings: list[str] = []

    field_count: Counter[str] = Counter()
    per_code: dict[str, set[str]] = {}
    for code in codes:
        names = {
            p.name[: -len(".day.bin")] for p in (root / "features" / code.lower()).glob("*.day.bin")
        }
        per_code[code] = names
        field_count.update(names)
    for name, n in sorted(field_count.items()):
        if n < len(codes):
            lacking = [c for c, names in per_code.items() if name not in names]
            warnings.append(
                f"field {name!r} is missing for {len(lacking)} instruments: {lacking[:MAX_LISTED]}"
            )

    markets: dict[str, dict[str, Any]] = {}
    inst_dir = root / "instruments"
    market_names = sorted(p.stem for p in inst_dir.glob("*.txt")) if inst_dir.is_dir() else []
    for m in market_names:
        try:
            spells = read_instruments(root, m)
        except DataError:
            continue  # reported among the problems
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
    warnings += [
        p.line()
        for p in problems
        if not p.what.startswith(("codes of market", "instruments missing"))
    ]

    synthetic = None
    meta = root / "meta.json"
    if meta.is_file():
        try:
            synthetic = json.loads(meta.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
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
        "problems": problems,
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
        rows: list[tuple[str, Any]] = []
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
        if w.startswith("error: "):
            console.print(f"[red]error:[/] {w[7:]}", highlight=False)
        else:
            console.print(f"[yellow]warning:[/] {w.removeprefix('warning: ')}", highlight=False)
    return info


def print_check(data_dir: str | Path) -> int:
    """`seqalpha data check`: one line per problem class; returns 1 when errors were found."""
    problems = check_store(data_dir)
    for p in problems:
        print(p.line())
    n_err = sum(p.severity == "error" for p in problems)
    print(
        f"{data_dir}: {n_err} error class(es), {len(problems) - n_err} warning class(es)"
        if problems
        else f"{data_dir}: no problems found"
    )
    return 1 if n_err else 0
