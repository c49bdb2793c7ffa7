"""Where the CLI writes: rich consoles for people, plain JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.theme import Theme

from cost.decimals import decimal_text

THEME = Theme(
    {
        "ok": "green",
        "warn": "yellow",
        "error": "bold red",
        "muted": "dim",
        "region": "bold cyan",
        "component": "bold",
        "money": "bold green",
        "saving": "green",
        "key": "cyan",
    }
)

console = Console(theme=THEME, highlight=False)
#: Errors are never wrapped, so a message stays one searchable line.
err_console = Console(theme=THEME, stderr=True, highlight=False, soft_wrap=True)


def _jsonable(value: Any) -> Any:
    return decimal_text(value) if isinstance(value, Decimal) else str(value)


def print_json(data: Any) -> None:
    """JSON for scripts: plain, stable key order as given, no colour; decimals as exact plain strings."""
    sys.stdout.write(json.dumps(data, indent=2, default=_jsonable) + "\n")
    sys.stdout.flush()
