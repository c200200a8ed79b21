"""Data layer: calendars, universes, Qlib binary store, ingest, minute bars, synthetic market."""

from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import QlibStore, load_panel, write_store
from seqalpha.data.quality import DataQualityWarning

__all__ = ["DataQualityWarning", "Panel", "QlibStore", "load_panel", "write_store"]
