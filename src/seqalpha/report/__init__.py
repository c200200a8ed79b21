"""seqalpha.report: HTML report of a run directory, MLflow tracking, provenance.

Public names are imported lazily so that `seqalpha.report.provenance` does not pull in plotly
or mlflow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "write_report": "seqalpha.report.html",
    "render_report": "seqalpha.report.html",
    "load_run": "seqalpha.report.rundir",
    "check_render": "seqalpha.report.browser",
    "find_chromium": "seqalpha.report.browser",
    "log_run": "seqalpha.report.tracking",
    "default_artifacts": "seqalpha.report.tracking",
    "write_provenance": "seqalpha.report.provenance",
    "hash_files": "seqalpha.report.provenance",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'seqalpha.report' has no attribute {name!r}")
