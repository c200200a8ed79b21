"""Checks of a feature specification (library + extra expressions), before any data is read."""

from __future__ import annotations

import re
from collections.abc import Mapping

from seqalpha.errors import ConfigError, LeakageError
from seqalpha.features.engine import check_no_lookahead, library_expressions, validate
from seqalpha.features.expr import parse

__all__ = ["FEATURE_NAME", "RESERVED_NAMES", "check_feature_specs", "library_feature_names"]

# a feature name: an identifier of ASCII letters, digits and _, not starting with a digit, <= 64
FEATURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
RESERVED_NAMES = frozenset({"datetime", "instrument"})  # the key columns of long tables

_LIBRARIES = ("alpha158", "alpha360", "intraday")


def _is_intraday_name(name: str) -> bool:
    from seqalpha.features.intraday import DAILY_BASE

    base = re.sub(r"_(mean|std|t)\d+$", "", name)
    return base in DAILY_BASE


def library_feature_names(library: str | None) -> frozenset[str]:
    """Names of an expression library's features (empty for None/'none'; intraday: base names)."""
    if library in (None, "none"):
        return frozenset()
    if library == "intraday":
        from seqalpha.features.intraday import DAILY_BASE

        return frozenset(DAILY_BASE)
    if library not in _LIBRARIES:
        raise ConfigError(f"unknown feature library {library!r}; known: {', '.join(_LIBRARIES)}")
    return frozenset(library_expressions(library))


def check_feature_specs(
    library: str | None,
    extra: Mapping[str, str],
    replace: bool = False,
    where: str = "features.extra",
    replace_key: str | None = "features.replace: true",
) -> None:
    """Validate extra feature names and expressions against a library, without reading data.

    Names match FEATURE_NAME and are not RESERVED_NAMES; expressions parse and validate
    (ConfigError); no feature, of the library or extra, reads data after its date (LeakageError
    naming it); an extra name equal to a library feature is a ConfigError unless `replace` (then
    the extra expression redefines it; intraday features are not expressions and cannot be).
    `where` names the config key (or CLI option) in messages; `replace_key` is how the user
    asks to replace.
    """
    names = library_feature_names(library)
    if library in ("alpha158", "alpha360"):
        for name, text in library_expressions(library).items():
            check_no_lookahead(name, text)
    if not isinstance(extra, Mapping):
        raise ConfigError(f"{where}: expected a mapping NAME: EXPR, got {type(extra).__name__}")
    for name, text in extra.items():
        key = f"{where} {name}" if where.startswith("--") else f"{where}.{name}"
        if not isinstance(name, str) or not FEATURE_NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: feature name {name!r} must match {FEATURE_NAME.pattern} "
                f"(a letter or _, then letters, digits or _; at most 64 characters)"
            )
        if name in RESERVED_NAMES:
            raise ConfigError(
                f"{where}: feature name {name!r} is reserved for the key column of long tables"
            )
        try:
            node = parse(text)
            validate(node, text)
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        try:
            check_no_lookahead(name, node, text)
        except LeakageError as exc:
            raise LeakageError(f"{key}: {exc}") from None
    clash = sorted(
        n for n in extra if n in names or (library == "intraday" and _is_intraday_name(n))
    )
    if not clash:
        return
    if library == "intraday":
        raise ConfigError(
            f"{where}: {clash} are names of intraday features, which are not expressions and "
            f"cannot be redefined; rename them"
        )
    if not replace:
        how = f", or set {replace_key} to redefine them" if replace_key else ""
        raise ConfigError(f"{where}: {clash} are already features of {library}; rename them{how}")
