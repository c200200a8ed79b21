"""Plain progress lines for batch jobs: the `seqalpha` logger and the handlers the CLI installs.

Stages log to `logging.getLogger("seqalpha.<stage>")` at INFO; nothing is shown unless a handler
is configured (`configure_logging`, used by the CLI and `seqalpha.api.log_to`). A record made with
`extra=PROGRESS` duplicates a rich progress bar: a terminal handler drops it while that bar shows.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from seqalpha.errors import ConfigError

ROOT = "seqalpha"
PROGRESS = {"progress": True}  # `extra` of a line a rich progress bar also shows
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
BATCH_FORMAT = "%(asctime)s %(message)s"


def get_logger(stage: str) -> logging.Logger:
    """The logger of a stage: `seqalpha.<stage>`."""
    return logging.getLogger(f"{ROOT}.{stage}")


def fmt_seconds(seconds: float) -> str:
    """Seconds as `12.3s`, `4m05s` or `1h02m`."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def eta(elapsed: float, done: int, total: int) -> float:
    """Seconds left if the remaining `total - done` steps take as long as the mean finished one."""
    return 0.0 if done <= 0 or done >= total else elapsed / done * (total - done)


class _NoProgress(logging.Filter):
    """Drops progress records (a rich bar shows them on the terminal)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "progress", False)


class _CallbackHandler(logging.Handler):
    """Hands each formatted record to a function (e.g. a rich console's print)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        super().__init__()
        self._emit = emit

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(self.format(record))
        except Exception:  # a broken console must not stop a run
            self.handleError(record)


@contextlib.contextmanager
def configure_logging(
    log_file: str | Path | None = None,
    stream: TextIO | None = None,
    terminal: bool | None = None,
    echo: Callable[[str], None] | None = None,
    show: bool = True,
) -> Iterator[logging.Logger]:
    """Send the `seqalpha` logger's INFO records to `stream` (default stderr) and `log_file`.

    On a terminal (`terminal`, default: `stream.isatty()`) lines are shown bare through `echo`
    (default: written to the stream) and progress records are dropped (rich bars show them); in a
    batch job every line is shown with a timestamp; `show=False` shows nothing. The file gets every
    line with time, level and logger name. The handlers are removed on exit."""
    stream = sys.stderr if stream is None else stream
    terminal = _isatty(stream) if terminal is None else terminal
    logger = logging.getLogger(ROOT)
    handlers: list[logging.Handler] = []
    if terminal:
        shown: logging.Handler = _CallbackHandler(
            echo or (lambda line: print(line, file=stream, flush=True))
        )
        shown.setFormatter(logging.Formatter("%(message)s"))
        shown.addFilter(_NoProgress())
    else:
        shown = logging.StreamHandler(stream)
        shown.setFormatter(logging.Formatter(BATCH_FORMAT, "%Y-%m-%d %H:%M:%S"))
    if show:
        handlers.append(shown)
    if log_file is not None:
        path = Path(log_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file = logging.FileHandler(path, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--log-file {path}: cannot write: {exc.strerror or exc}") from None
        file.setFormatter(logging.Formatter(FILE_FORMAT, "%Y-%m-%d %H:%M:%S"))
        handlers.append(file)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False  # no second copy through handlers on the root logger
    for h in handlers:
        logger.addHandler(h)
    try:
        yield logger
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


__all__ = ["PROGRESS", "configure_logging", "eta", "fmt_seconds", "get_logger"]
