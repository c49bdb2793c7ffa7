"""Money as people read it: Decimals rounded only here, when rendered.

    >>> usd(Decimal("1677.7152"))
    '$1,677.72'
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def usd(value: Decimal, places: int = 2) -> str:
    quantum = Decimal(1).scaleb(-places)
    rounded = value.quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.{places}f}"


def signed_usd(value: Decimal) -> str:
    return ("+" if value > 0 else "") + usd(value)


def rate(value: Decimal) -> str:
    """An hourly price, with the precision AWS prices carry."""
    return usd(value, 4) + "/h"
