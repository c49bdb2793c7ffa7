"""The error root: every error a user may see derives from RayfleetError.

Its message is complete on its own (what is wrong, with which value, and how
to fix it), so the CLI prints it as-is, without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class RayfleetError(Exception):
    """An error the user can act on; `str(err)` says what to fix."""


def show_value(value: Any, limit: int = 60) -> str:
    """A short, YAML-like rendering of a config value for messages."""
    if isinstance(value, str):
        text = repr(value)
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class ConfigIssue:
    """One rule a config file breaks: where, with what value, which rule, and the fix."""

    path: str
    value: Any
    rule: str
    fix: str

    def __str__(self) -> str:
        end = "" if self.fix.endswith(("?", ".")) else "."
        return f"{self.path} = {show_value(self.value)}: {self.rule}. Fix: {self.fix}{end}"


@dataclass(frozen=True)
class Missing:
    """The value shown for a key that is absent."""

    def __str__(self) -> str:
        return "(missing)"


class ConfigError(RayfleetError):
    """A config file (or its values) breaks one or more rules."""

    def __init__(self, source: str, issues: list[ConfigIssue]):
        self.source = source
        self.issues = issues
        count = len(issues)
        head = f"{source}: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head] + [f"  - {issue}" for issue in issues]))
