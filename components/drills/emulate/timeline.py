"""What the `scale` and `spot` scenarios measure, and the decisions they take: no boto3, no Ray.

    steps = Timeline(("Serve target replicas rise", "desired capacity rises"), started=100.0)
    steps.mark("Serve target replicas rise", 131.2)       # seconds from the load's start: 31.2
    steps.missing()                                       # ['desired capacity rises']
    spot_notice(datetime(2026, 11, 30, 17, 2, tzinfo=timezone.utc))
    # '{"action": "terminate", "time": "2026-11-30T17:02:00Z"}': the document EC2 puts at spot/instance-action

A step is marked once, the first time the scenario sees it happen, in seconds from the scenario's
cause (the load's first request, the notice). The steps are declared in the order one causes the
next, so a step seen before the one that causes it is a finding, reported by `out_of_order`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: IMDS's path of a spot interruption notice, and the notice EC2 gives: two minutes.
SPOT_ACTION_PATH = "spot/instance-action"
SPOT_NOTICE_S = 120


@dataclass
class Timeline:
    #: The steps in the order each causes the next.
    steps: tuple[str, ...]
    #: The monotonic clock's reading at the cause (the load's first request, the notice).
    started: float
    seconds: dict[str, float] = field(default_factory=dict)

    def mark(self, step: str, now: float) -> bool:
        """Record `step` at `now`, the first time only; True when this call recorded it."""
        if step not in self.steps:
            raise ValueError(f"{step!r} is not a step of this timeline ({', '.join(self.steps)})")
        if step in self.seconds:
            return False
        self.seconds[step] = now - self.started
        return True

    def reached(self, step: str) -> bool:
        return step in self.seconds

    def missing(self) -> list[str]:
        """The steps not seen, in their order."""
        return [s for s in self.steps if s not in self.seconds]

    def out_of_order(self) -> list[tuple[str, str]]:
        """(earlier, later) pairs of seen steps where the later step was seen before the one that causes it."""
        seen = [s for s in self.steps if s in self.seconds]
        return [(a, b) for a, b in zip(seen, seen[1:]) if self.seconds[b] < self.seconds[a]]

    def to_json(self) -> dict[str, float | None]:
        return {s: (round(self.seconds[s], 2) if s in self.seconds else None) for s in self.steps}

    def rows(self) -> list[tuple[str, str]]:
        return [(s, f"{self.seconds[s]:.1f}" if s in self.seconds else "not reached") for s in self.steps]


@dataclass
class Traffic:
    """Requests a scenario's load sent, and those that failed (the first few kept, to say why)."""

    sent: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    #: Failed requests by application.
    failed_by_app: dict[str, int] = field(default_factory=dict)
    #: Failures kept in `failures`; the rest are only counted.
    KEEP = 5

    def record(self, ok: bool, detail: str, app: str = "") -> None:
        self.sent += 1
        if not ok:
            self.failed += 1
            self.failed_by_app[app] = self.failed_by_app.get(app, 0) + 1
            if len(self.failures) < self.KEEP:
                self.failures.append(detail)

    def to_json(self) -> dict[str, Any]:
        return {"requestsSent": self.sent, "requestsFailed": self.failed, "failedByApp": dict(self.failed_by_app),
                "failures": list(self.failures)}


def spot_notice(at: dt.datetime) -> str:
    """EC2's spot interruption notice (IMDS `spot/instance-action`): the instance is terminated at `at`, UTC, to the
    second, in the format EC2 writes (`2017-09-18T08:22:00Z`)."""
    return json.dumps({"action": "terminate", "time": at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})


def notice_time(now: dt.datetime, seconds: int = SPOT_NOTICE_S) -> dt.datetime:
    """When EC2 terminates an instance noticed at `now`: `seconds` later, to the whole second (the notice's format
    has no fraction, so it is rounded up: the instance never goes before the deadline the notice names)."""
    at = now + dt.timedelta(seconds=seconds)
    return at.replace(microsecond=0) + (dt.timedelta(seconds=1) if at.microsecond else dt.timedelta())


def load_concurrency(target_ongoing_requests: float, max_replicas: int) -> int:
    """Clients of a closed loop that keep an application's ongoing requests above what `max_replicas` replicas hold at
    their target: Serve asks for ceil(ongoing / target) replicas, so one more client than the most replicas hold."""
    return math.ceil(target_ongoing_requests * max_replicas) + 1


@dataclass(frozen=True)
class Scalable:
    """An application the `scale` scenario can load: its name and the autoscaling of its (ingress) deployment."""

    name: str
    min_replicas: int
    max_replicas: int
    target_ongoing_requests: float
    has_smoke_request: bool


def app_to_load(apps: Iterable[Scalable]) -> Scalable | None:
    """The application whose load raises demand soonest: one that can grow (max > min) and has a smoke request to
    send, with the lowest target of ongoing requests per replica (the fewest clients); ties go to the first."""
    growable = [a for a in apps if a.has_smoke_request and a.max_replicas > a.min_replicas]
    return min(growable, key=lambda a: a.target_ongoing_requests) if growable else None


def busiest_node(replicas_by_address: Mapping[str, int], candidates: Iterable[str]) -> str | None:
    """Of the candidate nodes (their addresses, oldest first), the one holding the most replicas: the interruption
    that tests the drain hardest. Ties go to the oldest; None when none holds a replica (no drain to test)."""
    ordered = [a for a in candidates if replicas_by_address.get(a, 0) > 0]
    if not ordered:
        return None
    return max(ordered, key=lambda address: (replicas_by_address.get(address, 0), -ordered.index(address)))
