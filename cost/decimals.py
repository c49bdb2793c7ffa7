"""Decimals as JSON writes them: exact, in plain positional notation, never in exponent form.

    >>> decimal_text(Decimal("0E-29")), decimal_text(Decimal("1.5E+3")), decimal_text(Decimal("140.160"))
    ('0', '1500', '140.160')

`str(Decimal)` switches to exponent form for results of division and
multiplication with many places (`0E-29`, `1.2E-7`), which scripts reading
`--json` cannot take for a number. A value already in positional form keeps
its digits, trailing zeros included: they say how precise a price is.
"""

from __future__ import annotations

from decimal import Decimal


def decimal_text(value: Decimal) -> str:
    text = str(value)
    if "E" not in text:
        return text
    return format(value.normalize(), "f")
