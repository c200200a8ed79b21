"""One run at a time per run directory: `RUN_DIR/.lock` holds the holder's pid, host and start.

The lock is an exclusive `fcntl.flock` on that file (released by the kernel when the holder
dies), plus the holder's identity written inside it: a second live run refuses with a one-line
error naming the holder; a lock left by a dead process is taken over with a message. A
process re-entering a directory it already holds (`seqalpha run` -> its training stage) nests.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import functools
import inspect
import json
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from seqalpha.errors import ConfigError

LOCK_NAME = ".lock"
Log = Callable[[str], None]
F = TypeVar("F", bound=Callable[..., Any])

_held: dict[Path, list[Any]] = {}  # resolved run dir -> [open lock file, depth]
_held_guard = threading.Lock()


def check_output_dir(run_dir: str | Path, option: str = "--out") -> Path:
    """Create RUN_DIR if needed; one-line ConfigError when it is a file, under a file, or not
    writable. Returns the resolved path."""
    path = Path(run_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{option} {path}: a parent of it is a file, not a directory") from None
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create it ({exc.strerror})") from None
    path = path.resolve()
    try:  # os.access is not enough (root, read-only or special file systems): try a write
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: directory is not writable ({exc.strerror})") from None
    return path


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _holder_record() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_utc": _now(),
        "command": " ".join(sys.argv[:6])[:300],
    }


def read_holder(run_dir: str | Path) -> dict[str, Any] | None:
    """The identity recorded in RUN_DIR/.lock (None when absent or unreadable)."""
    try:
        data = json.loads((Path(run_dir) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _process_start(pid: int) -> _dt.datetime | None:
    """When process `pid` started (Linux /proc), None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        btime = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    seconds = btime + ticks / os.sysconf("SC_CLK_TCK")
    return _dt.datetime.fromtimestamp(seconds, _dt.UTC)


def holder_alive(holder: dict[str, Any]) -> bool:
    """Whether the recorded holder may still run: same host, its pid exists, and that process
    started no later than the lock (a reused pid is not the holder)."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0 or holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    started = _process_start(pid)
    try:
        locked = _dt.datetime.fromisoformat(str(holder.get("started_utc")))
    except ValueError:
        return True
    if started is None or locked.tzinfo is None:
        return True
    return started <= locked + _dt.timedelta(seconds=2)


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started_utc')}" + (
        f" ({holder.get('command')})" if holder.get("command") else ""
    )


def _busy(run_dir: Path, holder: dict[str, Any] | None) -> ConfigError:
    return ConfigError(
        f"{run_dir}: run directory is in use by {_describe(holder)}; wait for it to finish "
        f"or use another --out (remove {run_dir / LOCK_NAME} only if that process is gone)"
    )


def _acquire(run_dir: Path, log: Log) -> Any:
    """Open, flock and stamp RUN_DIR/.lock; the open file is the lock."""
    path = run_dir / LOCK_NAME
    for _ in range(5):
        try:
            fh = open(path, "a+", encoding="utf-8")  # held (locked) for the whole run
        except OSError as exc:
            raise ConfigError(f"{path}: cannot create the lock file ({exc.strerror})") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _busy(run_dir, read_holder(run_dir)) from None
            raise ConfigError(f"{path}: cannot lock the run directory ({exc.strerror})") from None
        try:  # the file we locked must still be the one at `path` (a releaser unlinks it)
            same = os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            fh.close()
            continue
        fh.seek(0)
        try:
            old = json.loads(fh.read() or "null")
        except ValueError:
            old = {"pid": None, "host": "?", "started_utc": "? (unreadable lock file)"}
        if isinstance(old, dict) and old:
            if holder_alive(old):  # a live holder that did not take the flock
                fh.close()
                raise _busy(run_dir, old)
            log(f"{run_dir}: taking over the stale lock of {_describe(old)} (not running)")
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(_holder_record()))
        fh.flush()
        os.fsync(fh.fileno())
        return fh
    raise _busy(run_dir, read_holder(run_dir))


def is_held(run_dir: str | Path) -> bool:
    """Whether this process holds RUN_DIR's lock."""
    try:
        return Path(run_dir).resolve() in _held
    except OSError:
        return False


@contextmanager
def lock_run_dir(run_dir: str | Path, log: Log | None = None) -> Iterator[Path]:
    """Hold RUN_DIR's lock for the block (created and checked by `check_output_dir`); nested
    use by the same process is allowed. Yields the resolved run directory."""
    say = log or (lambda msg: None)
    path = check_output_dir(run_dir)
    with _held_guard:
        entry = _held.get(path)
        if entry is not None:
            entry[1] += 1
        else:
            _held[path] = [_acquire(path, say), 1]
    try:
        yield path
    finally:
        with _held_guard:
            entry = _held[path]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[path]
                fh = entry[0]
                try:
                    if os.fstat(fh.fileno()).st_ino == os.stat(path / LOCK_NAME).st_ino:
                        os.unlink(path / LOCK_NAME)
                except OSError:
                    pass
                fh.close()


def holds_run_dir(arg: str = "out") -> Callable[[F], F]:
    """Decorator: the function holds the lock of the run directory passed as `arg` (and its
    `log` argument, when it has one, receives the lock's messages)."""

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind_partial(*args, **kwargs)
            run_dir = bound.arguments.get(arg)
            if run_dir is None:
                return fn(*args, **kwargs)
            with lock_run_dir(run_dir, bound.arguments.get("log")):
                return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
