"""A cluster's node logs, read back from its CloudWatch log group: all of them, or one Serve application's.

    lines = read_logs(LogQuery("/rayfleet/rayfleet-prod-us-east-1", "us-east-1", since_s=parse_since("1h")))
    lines = read_logs(LogQuery(group, region, 3600, app="digits", apps=["digits", "sentiment"]))
    for batch in follow_logs(LogQuery(group, region, 60)): ...      # until interrupted

The nodes' CloudWatch agent writes one stream per instance and file: the
instance id, then the file's path (`i-0abc/serve/replica_digits_Digits_x1y2.log`,
or with `publish_multi_logs` the path's `/` as `_`:
`i-0abc_tmp_ray_session_latest_logs_serve_replica_digits_Digits_x1y2.log`). A line belongs to an
application when its JSON record says so (Serve's JSON logs carry
`"application"`), else when its file is one of the application's replicas:
Serve names replica logs `replica_<app>_<deployment>_<replica id>.log`
(ray/serve/_private/replica.py, utils.get_component_file_name). Lines are
read with FilterLogEvents, every page, in time order.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from components.errors import RayfleetError

_SINCE = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INSTANCE = re.compile(r"^(i-[0-9a-f]+)[/_:.-]?(.*)$")
#: How far behind the newest line a follow keeps asking: more than the nodes' agent holds lines before it
#: sends them (force_flush_interval, 15 s) plus CloudWatch's ingestion delay.
LATE_WINDOW_MS = 30_000


def parse_since(value: str) -> int:
    """`30s`, `15m`, `1h`, `7d` as seconds."""
    match = _SINCE.match(value.strip())
    if not match or int(match.group(1)) == 0:
        raise RayfleetError(f"--since {value!r} is not a duration: a positive whole number and a unit s, m, h or d. "
                            "Fix: write it like --since 15m or --since 1h")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class LogLine:
    timestamp_ms: int
    stream: str
    message: str
    event_id: str = ""

    @property
    def instance_id(self) -> str:
        match = _INSTANCE.match(self.stream)
        return match.group(1) if match else ""

    @property
    def file(self) -> str:
        match = _INSTANCE.match(self.stream)
        return match.group(2) if match else self.stream

    def application(self, apps: Sequence[str]) -> str | None:
        """The Serve application the line belongs to, among `apps`; None when it names none."""
        try:
            record = json.loads(self.message)
        except ValueError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("application"), str):
            return record["application"] if record["application"] in apps else None
        # The longest name first: app `a` must not claim `replica_a_b_...` of app `a_b`.
        for name in sorted(apps, key=len, reverse=True):
            if re.search(rf"(?:^|[/_])replica_{re.escape(name)}_", self.file):
                return name
        return None


def select_app(lines: Sequence[LogLine], app: str | None, apps: Sequence[str]) -> list[LogLine]:
    if app is None:
        return list(lines)
    return [line for line in lines if line.application(apps) == app]


@dataclass(frozen=True)
class LogQuery:
    """Which lines to read: the log group (stack output `logGroupName`), how far back, and one application's only."""

    group: str
    region: str
    since_s: int
    #: One Serve application's lines only, among `apps` (the environment's application names).
    app: str | None = None
    apps: Sequence[str] = ()


def read_logs(query: LogQuery, *, now: Callable[[], float] = time.time) -> list[LogLine]:
    """Every line from `since_s` seconds ago until now, oldest first."""
    return next(follow_logs(query, now=now))


def follow_logs(
    query: LogQuery,
    *,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    interval_s: float = 2.0,
) -> Iterator[list[LogLine]]:
    """Batches of new lines, forever (the first: every line until now).

    Each node's agent sends its lines in batches, so a line can reach CloudWatch after a newer one from
    another stream: each poll asks again from LATE_WINDOW_MS before the newest timestamp seen and drops
    the events it already gave, by eventId; ids older than the window cannot come back and are forgotten.
    """
    logs = _client(query.region)
    start_ms = int((now() - query.since_s) * 1000)
    given: dict[str, int] = {}  # eventId -> timestamp, of the lines already yielded
    while True:
        lines, newest = _events(logs, query.group, start_ms)
        fresh = [line for line in lines if line.event_id not in given]
        given.update((line.event_id, line.timestamp_ms) for line in fresh)
        start_ms = max(start_ms, newest - LATE_WINDOW_MS)
        given = {event_id: ms for event_id, ms in given.items() if ms >= start_ms}
        yield select_app(fresh, query.app, query.apps)
        sleep(interval_s)


def _client(region: str):
    import boto3

    from components.node_agents.aws_calls import CLIENT_CONFIG

    return boto3.client("logs", region_name=region, config=CLIENT_CONFIG)


def _events(logs, group: str, start_ms: int) -> tuple[list[LogLine], int]:
    """All events from `start_ms` on (every page), oldest first, and the newest timestamp (start_ms if none)."""
    from botocore.exceptions import BotoCoreError, ClientError

    request = {"logGroupName": group, "startTime": start_ms}
    lines = []
    try:
        while True:
            page = logs.filter_log_events(**request)
            lines += [LogLine(e["timestamp"], e["logStreamName"], e["message"].rstrip("\n"), e.get("eventId", ""))
                      for e in page.get("events", [])]
            if not page.get("nextToken"):
                break
            request["nextToken"] = page["nextToken"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise RayfleetError(f"log group {group} does not exist. Fix: update the stack ('pulumi up') so the "
                                "cluster's log group is created") from None
        raise RayfleetError(f"cannot read log group {group} ({err}). "
                            "Fix: use AWS credentials allowed logs:FilterLogEvents on it") from None
    except BotoCoreError as err:
        raise RayfleetError(f"cannot read log group {group} ({err}). Fix: check your network and credentials") from None
    lines.sort(key=lambda line: (line.timestamp_ms, line.stream))
    return lines, max((line.timestamp_ms for line in lines), default=start_ms)
