"""The few exception classes seqalpha raises on purpose.

Each message names the file, field, key or date at fault so that the user can fix the input.
"""


class SeqAlphaError(Exception):
    """Base class of every error seqalpha raises on purpose."""


class DataError(SeqAlphaError):
    """Bad or inconsistent input data (files, fields, calendars, bars)."""


class ConfigError(SeqAlphaError):
    """An invalid configuration: unknown key or name, bad value, overlapping splits."""


class LeakageError(SeqAlphaError):
    """A construction that would let future information reach a feature or a model."""
