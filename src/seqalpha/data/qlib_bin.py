"""Qlib's binary daily store, read and written natively.

Layout of a store directory:
  calendars/day.txt                 one trading date per line, increasing
  instruments/<market>.txt          `CODE<TAB>start<TAB>end` per membership spell
  features/<code lower>/<field>.day.bin   little-endian float32; element 0 is the index of the
                                    first date in the calendar, the rest are consecutive values
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqalpha.data.panel import Panel, as_dates
from seqalpha.data.quality import Problem, report, validate_fields
from seqalpha.data.safety import (
    NAME_RULE,
    bad_name,
    check_fields,
    check_float32_range,
    check_names,
    staged_parts,
)
from seqalpha.errors import DataError
from seqalpha.jsonio import write_atomic, write_text_atomic

Universe = str | Sequence[str]
STORE_PARTS = ("calendars", "instruments", "features")


def _read_text(path: Path, what: str) -> str:
    """A text file as str; a directory, unreadable or non-UTF-8 file is a one-line DataError."""
    if path.is_dir():
        raise DataError(f"{path}: {what} is a directory, not a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: {what} cannot be read ({exc.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: {what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start})"
        ) from None


def read_calendar(data_dir: str | Path) -> np.ndarray:
    """The trading calendar as `datetime64[D]`; an empty or non-increasing calendar is an error."""
    path = Path(data_dir) / "calendars" / "day.txt"
    if not path.exists():
        raise DataError(f"{path}: calendar file not found (is {data_dir} a Qlib data directory?)")
    numbered = [
        (k, ln.strip())
        for k, ln in enumerate(_read_text(path, "calendar").splitlines(), 1)
        if ln.strip()
    ]
    if not numbered:
        raise DataError(f"{path}: calendar is empty (no dates)")
    lineno = np.array([k for k, _ in numbered], dtype=np.int64)
    try:
        cal = np.array([ln[:10] for _, ln in numbered], dtype="datetime64[D]")
    except ValueError:
        cal = None
    if cal is None or len(cal) != len(numbered):
        for k, ln in numbered:
            try:
                np.datetime64(ln[:10], "D")
            except ValueError:
                raise DataError(f"{path}:{k}: unparseable date {ln!r}") from None
        raise DataError(f"{path}: unparseable calendar")
    bad = np.nonzero(cal[1:] <= cal[:-1])[0]
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"{path}: calendar not strictly increasing at line {lineno[i + 1]}: "
            f"{cal[i]} (line {lineno[i]}) then {cal[i + 1]}"
        )
    return cal


@dataclass(frozen=True)
class Spell:
    """One membership spell of an instrument in a market (inclusive dates)."""

    code: str
    start: np.datetime64
    end: np.datetime64


def read_instruments(data_dir: str | Path, market: str = "all") -> list[Spell]:
    """The membership spells of a market file `instruments/<market>.txt`."""
    path = Path(data_dir) / "instruments" / f"{market}.txt"
    if not path.is_file():
        avail = sorted(p.stem for p in (Path(data_dir) / "instruments").glob("*.txt"))
        raise DataError(f"{path}: no such market {market!r}; available: {avail}")
    spells = []
    for k, line in enumerate(_read_text(path, "market file").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 3:
            raise DataError(f"{path}:{k}: expected CODE<TAB>start<TAB>end, got {line!r}")
        try:
            spell = Spell(
                parts[0].strip().upper(),
                np.datetime64(parts[1].strip()[:10], "D"),
                np.datetime64(parts[2].strip()[:10], "D"),
            )
        except ValueError:
            raise DataError(f"{path}:{k}: bad date in {line!r}") from None
        if bad_name(spell.code):
            raise DataError(
                f"{path}:{k}: invalid instrument code {parts[0].strip()!r} (allowed: {NAME_RULE})"
            )
        if spell.end < spell.start:
            raise DataError(
                f"{path}:{k}: spell of {spell.code} ends ({spell.end}) before it "
                f"starts ({spell.start})"
            )
        spells.append(spell)
    return spells


def list_feature_codes(data_dir: str | Path) -> list[str]:
    """Codes (upper-case) that have a folder under `features/`."""
    root = Path(data_dir) / "features"
    if not root.is_dir():
        raise DataError(f"{root}: features folder not found")
    return sorted(p.name.upper() for p in root.iterdir() if p.is_dir())


def universe_mask(
    spells: Iterable[Spell], dates: np.ndarray, instruments: np.ndarray
) -> np.ndarray:
    """bool [T, N]: instrument n is a member on date t (any of its spells covers t)."""
    dates = as_dates(dates)
    pos = {c: i for i, c in enumerate(np.asarray(instruments).tolist())}
    mask = np.zeros((len(dates), len(pos)), dtype=bool)
    for s in spells:
        j = pos.get(s.code)
        if j is None:
            continue
        lo, hi = np.searchsorted(dates, s.start), np.searchsorted(dates, s.end, side="right")
        mask[lo:hi, j] = True
    return mask


def read_bin(
    path: str | Path, calendar_len: int, calendar: np.ndarray | None = None
) -> tuple[int, np.ndarray]:
    """One `.bin` file as (start index, float32 values); malformed files are errors.

    Messages name the file, the instrument (its folder) and, given `calendar`, the dates.
    Values are returned as stored; `QlibStore.load` and `data check` validate them.
    """
    raw = _read_raw(os.fspath(path))
    if raw is None:
        raise DataError(f"{path}: instrument {Path(path).parent.name.upper()}: file not found")
    return _decode_bin(raw, path, calendar_len, calendar)


def _read_raw(path: str) -> bytes | None:
    """The bytes of a `.bin` file, None when it does not exist (one open, no extra stat)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        inst = os.path.basename(os.path.dirname(path)).upper()
        raise DataError(f"{path}: instrument {inst}: is a directory, not a .bin file") from None
    except OSError as exc:
        inst = os.path.basename(os.path.dirname(path)).upper()
        raise DataError(f"{path}: instrument {inst}: cannot be read ({exc.strerror})") from None


def _decode_bin(
    raw: bytes, path: str | Path, calendar_len: int, calendar: np.ndarray | None
) -> tuple[int, np.ndarray]:
    """Start index and values of the bytes of a `.bin` file (see `read_bin`)."""
    inst = os.path.basename(os.path.dirname(os.fspath(path))).upper()
    if len(raw) % 4:
        raise DataError(
            f"{path}: instrument {inst}: size {len(raw)} bytes is not a multiple of 4 "
            f"(truncated file?)"
        )
    if len(raw) < 4:
        raise DataError(f"{path}: instrument {inst}: empty file (no start index)")
    arr = np.frombuffer(raw, dtype="<f4")
    start_f = float(arr[0])
    if not np.isfinite(start_f) or start_f != int(start_f) or start_f < 0:
        raise DataError(
            f"{path}: instrument {inst}: start index {start_f} is not a non-negative integer"
        )
    start = int(start_f)
    values = arr[1:]
    last = f", last date {calendar[-1]}" if calendar is not None and len(calendar) else ""
    if start >= calendar_len:
        raise DataError(
            f"{path}: instrument {inst}: start index {start} is beyond the calendar "
            f"({calendar_len} days{last})"
        )
    if start + len(values) > calendar_len:
        first = f" (first date {calendar[start]})" if calendar is not None else ""
        raise DataError(
            f"{path}: instrument {inst}: {len(values)} values from index "
            f"{start}{first} run {start + len(values) - calendar_len} days past the "
            f"end of the calendar ({calendar_len} days{last})"
        )
    return start, values


def write_bin(path: str | Path, start: int, values: np.ndarray) -> None:
    """Write one `.bin` file atomically (start index, then float32 values; overflow refused)."""
    path = Path(path)
    check_float32_range(values, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = np.empty(len(values) + 1, dtype="<f4")
    buf[0] = start
    buf[1:] = values
    write_atomic(path, buf.tofile)


class QlibStore:
    """A Qlib binary data directory: calendar, markets, and per-field panels.

    strict: impossible values and missing field files raise a DataError instead of becoming NaN
    with a `DataQualityWarning` (see `seqalpha.data.quality`).
    """

    def __init__(self, data_dir: str | Path, strict: bool = False):
        self.root = Path(data_dir)
        if not self.root.is_dir():
            what = "is not a directory" if self.root.exists() else "does not exist"
            raise DataError(f"data directory {self.root} {what}")
        self.calendar = read_calendar(self.root)
        self.strict = strict

    def markets(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "instruments").glob("*.txt"))

    def fields_of(self, code: str) -> list[str]:
        d = self.root / "features" / code.lower()
        return sorted(p.name[: -len(".day.bin")] for p in d.glob("*.day.bin"))

    def fields_of_all(self, codes: Sequence[str]) -> list[str]:
        """Union of the fields stored for `codes` (one missing file never hides a field)."""
        names: set[str] = set()
        for code in codes:
            names.update(self.fields_of(code))
        return sorted(names)

    def resolve_universe(self, universe: Universe) -> tuple[list[str], list[Spell]]:
        """Codes and spells of a universe: `all`, a market name, or a list of codes."""
        if isinstance(universe, str):
            if bad_name(universe):
                raise DataError(f"universe {universe!r}: not a market name ({NAME_RULE})")
            spells = read_instruments(self.root, universe)
        else:
            codes = [str(c).upper() for c in universe]
            check_names(codes, "instrument code", "universe")
            lo, hi = self.calendar[0], self.calendar[-1]
            spells = [Spell(c, lo, hi) for c in codes]
        codes = sorted({s.code for s in spells})
        return codes, spells

    def load(
        self,
        fields: Sequence[str] | None = None,
        universe: Universe = "all",
        start=None,
        end=None,
        warn_missing: bool = True,
        strict: bool | None = None,
    ) -> Panel:
        """Load fields for a universe and a date range into a Panel (validated on read).

        Instruments of the universe without any data files are dropped with one warning that
        lists them. fields=None loads every field any of them has. A field file missing for
        some instruments leaves their values NaN; impossible values become NaN (see
        `seqalpha.data.quality`); both are reported in one DataQualityWarning, or raise with
        `strict`. The universe mask is the point-in-time membership.
        """
        strict = self.strict if strict is None else strict
        codes, spells = self.resolve_universe(universe)
        have = set(list_feature_codes(self.root))
        missing = [c for c in codes if c not in have]
        if missing and warn_missing:
            warnings.warn(
                f"{len(missing)} instruments of universe {universe!r} have no data files "
                f"under {self.root / 'features'} and are skipped: {missing}",
                stacklevel=2,
            )
        codes = [c for c in codes if c in have]
        if not codes:
            raise DataError(f"universe {universe!r} has no instruments with data in {self.root}")
        if fields is None:
            fields = self.fields_of_all(codes)
        fields = list(fields)
        check_fields(fields, f"{self.root}: load")
        cal = self.calendar
        lo = 0 if start is None else int(np.searchsorted(cal, np.datetime64(start, "D")))
        hi = (
            len(cal) if end is None else int(np.searchsorted(cal, np.datetime64(end, "D"), "right"))
        )
        if hi <= lo:
            raise DataError(f"no trading days in {start}..{end} (calendar {cal[0]}..{cal[-1]})")
        T, N = hi - lo, len(codes)
        out = {f: np.full((T, N), np.nan, dtype=np.float32) for f in fields}
        absent = {f: np.zeros(N, dtype=np.int64) for f in fields}
        base = os.fspath(self.root / "features")
        for j, code in enumerate(codes):
            folder = os.path.join(base, code.lower())
            for f in fields:
                path = os.path.join(folder, f"{f}.day.bin")
                raw = _read_raw(path)
                if raw is None:
                    absent[f][j] = 1
                    continue
                s, vals = _decode_bin(raw, path, len(cal), cal)
                a, b = max(s, lo), min(s + len(vals), hi)
                if b > a:
                    out[f][a - lo : b - lo, j] = vals[a - s : b - s]
        inst = np.array(codes)
        lacking = [f for f in fields if absent[f].all()]
        if lacking:
            raise DataError(
                f"{self.root}: field(s) {lacking} stored for none of the {N} instruments of "
                f"universe {universe!r}; fields there: {self.fields_of_all(codes)}"
            )
        problems = [Problem("missing-file", f, absent[f]) for f in fields if absent[f].any()]
        problems += validate_fields(out)
        report(problems, inst, f"{self.root}", strict)
        dates = cal[lo:hi]
        mask = universe_mask(spells, dates, inst)
        return Panel(dates, inst, out, mask)


def load_panel(
    data_dir: str | Path,
    fields: Sequence[str] | None = None,
    universe: Universe = "all",
    start=None,
    end=None,
    strict: bool = False,
) -> Panel:
    """Shortcut: `QlibStore(data_dir, strict).load(...)`."""
    return QlibStore(data_dir, strict).load(fields, universe, start, end)


def write_store(
    data_dir: str | Path,
    panel: Panel,
    markets: dict[str, np.ndarray] | None = None,
    calendar: np.ndarray | None = None,
    overwrite: bool = False,
) -> None:
    """Write a Panel as a Qlib binary store (exact round trip of finite and NaN values).

    Each instrument's series spans its first to last non-NaN value over all fields; an
    instrument without any value gets no files and is left out of `all.txt`.
    markets: market name -> bool [T, N] membership, written as spells (`all` is always written).
    Codes, market and field names are checked first (`seqalpha.data.safety`); the store is
    built in a temporary sibling directory and its parts (calendars/ instruments/ features/)
    renamed into place; existing parts are replaced only with `overwrite`; other content of
    `data_dir` (e.g. minute/) is kept.
    """
    root = Path(data_dir)
    with staged_parts(root, STORE_PARTS, overwrite, "store") as tmp:
        write_store_into(tmp, panel, markets, calendar, where=str(root))


def write_store_into(
    root: Path,
    panel: Panel,
    markets: dict[str, np.ndarray] | None = None,
    calendar: np.ndarray | None = None,
    where: str | None = None,
) -> None:
    """The body of `write_store`, into an existing EMPTY directory `root` (not staged)."""
    where = where or str(root)
    if not panel.fields or len(panel.dates) == 0:
        raise DataError(f"write_store {where}: the panel has no fields or no dates")
    check_names(panel.instruments.tolist(), "instrument code", f"write_store {where}")
    check_names(list(markets or {}), "market name", f"write_store {where}")
    check_fields(list(panel.fields), f"write_store {where}")
    for name, arr in panel.fields.items():
        check_float32_range(arr, f"write_store {where}: field {name!r}")
    for name, mask in (markets or {}).items():
        if np.shape(mask) != panel.shape:
            raise DataError(
                f"write_store {where}: market {name!r} mask shape {np.shape(mask)} "
                f"!= panel shape {panel.shape}"
            )
    cal = panel.dates if calendar is None else as_dates(calendar)
    offset = int(np.searchsorted(cal, panel.dates[0]))
    if len(cal) < offset + len(panel.dates) or not np.array_equal(
        cal[offset : offset + len(panel.dates)], panel.dates
    ):
        raise DataError("write_store: the panel's dates are not a contiguous run of the calendar")
    (root / "calendars").mkdir(parents=True, exist_ok=True)
    (root / "features").mkdir(exist_ok=True)  # present even when no instrument has a value
    write_text_atomic(root / "calendars" / "day.txt", "".join(f"{d}\n" for d in cal))
    any_val = np.zeros(panel.shape, dtype=bool)
    for arr in panel.fields.values():
        any_val |= ~np.isnan(arr)
    # each instrument's span: first to last day with a value (an instrument without any: none)
    T = panel.shape[0]
    has = any_val.any(axis=0)
    first = any_val.argmax(axis=0)
    stop = T - any_val[::-1].argmax(axis=0)
    for j in np.nonzero(has)[0]:
        a, b = int(first[j]), int(stop[j])
        folder = root / "features" / str(panel.instruments[j]).lower()
        for name, arr in panel.fields.items():
            write_bin(folder / f"{name}.day.bin", offset + a, arr[a:b, j])
    t = np.arange(T)[:, None]
    all_mask = has & (t >= first) & (t < stop)
    write_market(root, "all", all_mask, panel.dates, panel.instruments)
    for name, mask in (markets or {}).items():
        write_market(root, name, mask, panel.dates, panel.instruments, overwrite=name == "all")


def write_market(
    root: str | Path,
    name: str,
    mask: np.ndarray,
    dates: np.ndarray,
    instruments: np.ndarray,
    overwrite: bool = False,
) -> None:
    """Write `instruments/<name>.txt` from a membership mask (one line per spell).

    The market name and codes are checked first; an existing market file is replaced only
    with `overwrite`.
    """
    path = Path(root) / "instruments" / f"{name}.txt"
    check_names([name], "market name", f"write_market {root}")
    codes = np.asarray(instruments).tolist()
    check_names(codes, "instrument code", f"write_market {path}")
    if np.shape(mask) != (len(dates), len(codes)):
        raise DataError(
            f"write_market {path}: mask shape {np.shape(mask)} != {(len(dates), len(codes))}"
        )
    if path.exists() and not overwrite:
        raise DataError(f"{path}: market file exists (pass overwrite=True to replace it)")
    lines = []
    for j, code in enumerate(codes):
        col = np.asarray(mask)[:, j].astype(np.int8)
        edges = np.diff(np.concatenate([[0], col, [0]]))
        for a, b in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=False):
            lines.append(f"{code}\t{dates[a]}\t{dates[b - 1]}\n")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, "".join(lines))
    except OSError as exc:
        raise DataError(f"{path}: cannot write the market file ({exc.strerror})") from None
