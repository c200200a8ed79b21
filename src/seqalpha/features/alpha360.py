"""Qlib's Alpha360 library: 60 days of prices and volume, normalized by today's close/volume."""

from __future__ import annotations


def alpha360_expressions() -> dict[str, str]:
    """The 360 Alpha360 features as `name -> Qlib expression`, ordered as Qlib orders them."""
    f: dict[str, str] = {}
    for field in ("close", "open", "high", "low", "vwap"):
        for i in range(59, 0, -1):
            f[f"{field.upper()}{i}"] = f"Ref(${field}, {i})/$close"
        f[f"{field.upper()}0"] = f"${field}/$close"
    for i in range(59, 0, -1):
        f[f"VOLUME{i}"] = f"Ref($volume, {i})/($volume+1e-12)"
    f["VOLUME0"] = "$volume/($volume+1e-12)"
    return f
