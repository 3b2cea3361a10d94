"""Kubernetes resource quantities, parsed exactly so the plan can multiply them per GPU."""

from __future__ import annotations

import re
from decimal import Decimal

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>m|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")


def parse_quantity(text: str | int) -> Decimal:
    """Returns the quantity in base units ('500m' -> 0.5, '2Gi' -> 2147483648)."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(
            f"must be a Kubernetes quantity such as '8', '500m', '64Gi' or '1Ti', got {text!r}"
        )
    number = Decimal(match["number"])
    suffix = match["suffix"]
    if suffix == "m":
        return number / 1000
    return number * (_BINARY.get(suffix) or _DECIMAL.get(suffix) or 1)


def format_bytes(amount: Decimal) -> str:
    """The largest binary suffix that represents `amount` exactly ('68719476736' -> '64Gi')."""
    value = int(amount)
    for suffix, factor in sorted(_BINARY.items(), key=lambda item: -item[1]):
        if value and value % factor == 0:
            return f"{value // factor}{suffix}"
    return str(value)


def format_cpu(amount: Decimal) -> str:
    millicores = int(amount * 1000)
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"
