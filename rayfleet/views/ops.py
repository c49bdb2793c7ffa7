"""Renderers for the operations commands: a command's result per node, log lines, exec progress."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

from rich.console import Group
from rich.text import Text


def exec_progress(statuses: dict[str, str], elapsed: float) -> Text:
    """`3 node(s), 12 s: InProgress 2, Success 1`."""
    counts = Counter(statuses.values())
    detail = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    return Text(f"{len(statuses)} node(s), {elapsed:.0f} s: {detail}", style="muted")


def exec_results(results) -> Group:
    """Each node's header (instance, node type, status, exit code), then its stdout and stderr."""
    parts = []
    for r in results:
        style = "ok" if r.ok else "error"
        parts.append(Text(f"── {r.node.label}: {r.status}, exit {r.exit_code}", style=style))
        if r.stdout:
            parts.append(Text(r.stdout.rstrip("\n")))
        if r.stderr:
            parts.append(Text(r.stderr.rstrip("\n"), style="warn"))
    return Group(*parts)


def exec_json(results) -> list[dict[str, Any]]:
    return [
        {"instanceId": r.node.instance_id, "nodeType": r.node.node_type, "market": r.node.market,
         "status": r.status, "exitCode": r.exit_code, "stdout": r.stdout, "stderr": r.stderr}
        for r in results
    ]


def log_line(line) -> Text:
    """`2026-11-30T10:00:00.123Z i-0abc serve/replica_digits_Digits_x.log  message`."""
    return Text.assemble((_stamp(line.timestamp_ms), "muted"), " ", (line.instance_id or "-", "key"), " ",
                         (line.file, "muted"), "  ", line.message)


def log_json(line) -> dict[str, Any]:
    return {"timestamp": _stamp(line.timestamp_ms), "instanceId": line.instance_id, "file": line.file,
            "stream": line.stream, "message": line.message}


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
