"""Guards for everything the data layer writes: names that become paths, staged directories.

Instrument codes, market names and field names become file or folder names, so they are checked
against one documented character set before anything is written: ASCII letters, digits and
`_ - .`, starting with a letter or digit, at most 64 characters, no `..` (so no path separator,
no control character, no empty or hidden name). Codes are compared case-insensitively (their
folder is the lower-case code), so two codes that differ only in case are refused too.
A store is written into a temporary sibling directory and renamed into place only when complete.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from seqalpha.errors import DataError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
NAME_RULE = "1-64 ASCII letters, digits, '_', '-' or '.', starting with a letter or digit, no '..'"
FIELD_RULE = "1-64 ASCII letters, digits or '_', not starting with a digit"
FLOAT32_MAX = float(np.finfo(np.float32).max)
TMP_TAG = ".seqalpha-tmp-"
OLD_TAG = ".seqalpha-old-"


def bad_name(name: object) -> bool:
    """True when `name` is not a safe instrument code or market name (see `NAME_RULE`)."""
    return not (isinstance(name, str) and NAME_RE.fullmatch(name) and ".." not in name)


def check_names(names: Iterable[object], what: str, where: str) -> None:
    """Refuse unsafe codes or market names (one-line DataError naming `where` and the first)."""
    names = list(names)
    bad = [n for n in names if bad_name(n)]
    if bad:
        raise DataError(
            f"{where}: {len(bad)} invalid {what}(s), e.g. {bad[0]!r} (allowed: {NAME_RULE})"
        )
    seen: dict[str, str] = {}
    for n in names:
        key = str(n).lower()
        if key in seen and seen[key] != n:
            raise DataError(
                f"{where}: {what}s {seen[key]!r} and {n!r} differ only in case "
                f"(both would be stored as {key!r})"
            )
        seen[key] = str(n)


def check_fields(names: Iterable[object], where: str) -> None:
    """Refuse unsafe field names (they become `<field>.day.bin` files)."""
    bad = [n for n in names if not (isinstance(n, str) and FIELD_RE.fullmatch(n))]
    if bad:
        raise DataError(f"{where}: invalid field name {bad[0]!r} (allowed: {FIELD_RULE})")


def check_float32_range(values: np.ndarray, what: str, allow_inf: bool = False) -> None:
    """Refuse finite values that would overflow float32 (e.g. 1e39), and +-inf unless allowed."""
    arr = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        over = np.isfinite(arr) & (np.abs(arr) > FLOAT32_MAX)
        if not allow_inf:
            over |= np.isinf(arr)
    if over.any():
        raise DataError(
            f"{what}: {int(over.sum())} value(s) are infinite or overflow float32 "
            f"(e.g. {arr[over].flat[0]:g}; largest storable magnitude {FLOAT32_MAX:.4g})"
        )


def check_output_dir(target: Path, overwrite: bool, what: str = "output directory") -> None:
    """Refuse an output path that is a file, or a non-empty directory unless `overwrite`."""
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise DataError(f"{target}: {what} exists and is not a directory")
        try:
            non_empty = any(target.iterdir())
        except OSError as exc:
            raise DataError(f"{target}: {what} cannot be listed ({exc.strerror})") from None
        if non_empty and not overwrite:
            raise DataError(f"{target}: {what} is not empty (pass --overwrite / overwrite=True)")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"{target}: {parent} is a file, not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise DataError(f"{target}: cannot create it, {parent} is not writable")
            break


@contextmanager
def staged_dir(
    target: str | Path, overwrite: bool, what: str = "output directory"
) -> Iterator[Path]:
    """Yield an empty temporary sibling of `target`; on success rename it into place.

    The old `target` is removed only after the new one is complete; on any error the temporary
    directory is removed and `target` is left as it was. OSErrors become one-line DataErrors.
    """
    target = Path(target)
    check_output_dir(target, overwrite, what)
    parent = target.absolute().parent
    tmp = parent / f".{target.name}{TMP_TAG}{uuid.uuid4().hex[:12]}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise DataError(f"{target}: cannot create the {what} ({exc.strerror})") from None
    try:
        yield tmp
        _swap_into_place(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        name = f" at {exc.filename}" if exc.filename else ""
        raise DataError(f"{target}: writing failed{name} ({exc.strerror})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def staged_parts(
    root: str | Path, parts: tuple[str, ...], overwrite: bool, what: str = "store"
) -> Iterator[Path]:
    """Like `staged_dir`, for a set of sub-folders of `root` (other content of `root` is kept).

    An existing part is replaced only with `overwrite`; old parts are moved aside first,
    restored if moving the new ones in fails, and deleted last.
    """
    root = Path(root)
    if (root.exists() or root.is_symlink()) and not root.is_dir():
        raise DataError(f"{root}: {what} directory exists and is not a directory")
    existing = [p for p in parts if (root / p).exists()]
    if existing and not overwrite:
        raise DataError(
            f"{root}: a {what} exists there ({', '.join(existing)}); "
            "pass --overwrite / overwrite=True to replace it"
        )
    check_output_dir(root, True, f"{what} directory")
    tmp = root.absolute().parent / f".{root.name}{TMP_TAG}{uuid.uuid4().hex[:12]}"
    try:
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise DataError(f"{root}: cannot create the {what} directory ({exc.strerror})") from None
    try:
        yield tmp
        _swap_parts(tmp, root, parts, existing)
    except OSError as exc:
        name = f" at {exc.filename}" if exc.filename else ""
        raise DataError(f"{root}: writing failed{name} ({exc.strerror})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_parts(tmp: Path, root: Path, parts: tuple[str, ...], existing: list[str]) -> None:
    """Move the new parts from `tmp` into `root`; old parts go to `tmp/OLD` (restored on error)."""
    root.mkdir(exist_ok=True)
    old = tmp / OLD_TAG.strip(".-")
    old.mkdir()
    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for p in existing:
            os.rename(root / p, old / p)
            moved_out.append(p)
        for p in parts:
            if (tmp / p).exists():
                os.rename(tmp / p, root / p)
                moved_in.append(p)
    except OSError:
        for p in moved_in:
            os.rename(root / p, tmp / p)
        for p in moved_out:
            os.rename(old / p, root / p)
        raise


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename `tmp` to `target`; an existing `target` is moved aside first and deleted last."""
    if not (target.exists() or target.is_symlink()):
        os.rename(tmp, target)
        return
    old = target.absolute().parent / f".{target.name}{OLD_TAG}{uuid.uuid4().hex[:12]}"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def leftovers(parent: str | Path) -> list[Path]:
    """Temporary or moved-aside directories of staged writes left under `parent` (for tests)."""
    return [p for p in Path(parent).iterdir() if TMP_TAG in p.name or OLD_TAG in p.name]
