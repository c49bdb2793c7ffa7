"""What the `head-failover` scenario measures, and the requests sent meanwhile: no boto3, no Ray.

    tally = Tally()
    tally.add(sent_at, ok=True)                     # one answered request of the load loop, by when it was sent
    figures = HeadFailoverFigures(worker_proxy="10.40.0.5:8000", ...)
    figures.count(tally, killed_at, running_at)     # requests sent from the kill to the applications RUNNING

The head dies abruptly (its instance terminated: its node killed), its group launches a
replacement, whose GCS reads the cluster's state back from Redis; the workers and their Serve
replicas keep running. Requests go to a worker's Serve proxy (the head's is gone) the whole time:
the target is that none fails (KubeRay users report about 1 in 5 failing during head recovery,
ray-project/kuberay#1153).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    """The load loop's requests: (monotonic time it was sent, answered as expected), appended from its thread.

    A request counts by when it was sent, not when it ended: one sent while the head is gone may fail only at its
    timeout, after the applications run again, and still belongs to the outage."""

    results: list[tuple[float, bool]] = field(default_factory=list)
    #: (monotonic time it was sent, what went wrong) of each failed request, for the report.
    failures: list[tuple[float, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, at: float, ok: bool, detail: str = "") -> None:
        with self._lock:
            self.results.append((at, ok))
            if not ok:
                self.failures.append((at, detail))

    def failed_between(self, start: float, end: float, most: int = 5) -> list[str]:
        """The first `most` failures from `start` to `end`, each with its second since `start`."""
        with self._lock:
            return [f"{at - start:.1f} s: {detail}" for at, detail in self.failures if start <= at <= end][:most]

    def between(self, start: float, end: float) -> tuple[int, int]:
        """(sent, failed) of the requests sent from `start` to `end`."""
        with self._lock:
            inside = [ok for at, ok in self.results if start <= at <= end]
        return len(inside), inside.count(False)

    def answered(self) -> int:
        with self._lock:
            return sum(ok for _, ok in self.results)


@dataclass
class HeadFailoverFigures:
    """Seconds from the head's instance terminated; requests sent from then to the applications RUNNING."""

    name = "head-failover"
    old_head: str = ""
    new_head: str = ""
    worker_proxy: str = ""
    #: The head's node stopped (its processes killed with its instance).
    node_stopped_s: float | None = None
    #: The group's replacement instance launched.
    replacement_launched_s: float | None = None
    #: The new head's GCS lists it ALIVE.
    head_alive_s: float | None = None
    #: The worker that ran before the failure is ALIVE in the new GCS under the same node ID: state came from Redis.
    worker_kept: bool = False
    #: Every application RUNNING again, with no redeploy.
    apps_running_s: float | None = None
    requests_sent: int = 0
    requests_failed: int = 0
    #: The first failed requests, each with its second since the termination and what went wrong.
    failures: list[str] = field(default_factory=list)
    #: Requests answered before the head was killed: the load loop reached the worker's proxy.
    answered_before: int = 0
    timeout_s: float = 0.0
    error: str = ""

    def count(self, tally: Tally, start: float, end: float) -> None:
        self.requests_sent, self.requests_failed = tally.between(start, end)
        self.failures = tally.failed_between(start, end)

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return {"oldHead": self.old_head, "newHead": self.new_head, "workerProxy": self.worker_proxy,
                "nodeStoppedSeconds": rounded(self.node_stopped_s),
                "replacementLaunchedSeconds": rounded(self.replacement_launched_s),
                "headAliveSeconds": rounded(self.head_alive_s), "workerKept": self.worker_kept,
                "appsRunningSeconds": rounded(self.apps_running_s), "requestsSent": self.requests_sent,
                "requestsFailed": self.requests_failed, "failures": self.failures, "answeredBefore": self.answered_before, "error": self.error}

    def rows(self) -> list[tuple[str, str]]:
        def seconds(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} s"

        return [("head's node stopped (instance terminated)", seconds(self.node_stopped_s)),
                ("replacement head launched by its group", seconds(self.replacement_launched_s)),
                ("new head ALIVE", seconds(self.head_alive_s)),
                ("worker kept its node ID (GCS state from Redis)", "yes" if self.worker_kept else "no"),
                ("applications RUNNING, not redeployed", seconds(self.apps_running_s)),
                (f"requests failed meanwhile (to {self.worker_proxy})", f"{self.requests_failed} of {self.requests_sent}")]

    def missed(self) -> list[str]:
        out = []
        if not self.answered_before:
            out.append(f"no request to the worker's proxy {self.worker_proxy} was answered before the head was killed")
        if self.head_alive_s is None:
            out.append(f"no new head was ALIVE within {self.timeout_s:.0f} s of the old one's termination")
        elif not self.worker_kept:
            out.append("the new head's GCS does not list the running worker under its node ID: state was not "
                       "restored from Redis")
        if self.head_alive_s is not None and self.apps_running_s is None:
            out.append(f"the applications were not RUNNING within {self.timeout_s:.0f} s of the termination")
        if self.requests_failed:
            out.append(f"{self.requests_failed} of {self.requests_sent} requests failed while the head was gone "
                       f"(target 0); the first: {'; '.join(self.failures)}")
        if self.error:
            out.append(self.error)
        return out
