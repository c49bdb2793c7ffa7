"""What the `boot` scenario measures and how it explains a boot that did not happen: no boto3, no Ray.

    figures = BootFigures()
    figures.head_up_s = 41.2                      # the head's GCS answers (its dashboard lists it ALIVE)
    stalled(nodes, "the head's Ray to answer")    # "... node i-0abc (rayfleet-dev-us-west-2-head, 10.30.0.4):
                                                  #  boot finished after step 'start Ray'; ..."

A scenario that fails names the step that did not happen: the boot steps a node began come from
its boot log (userdata.py's `step` lines), and a failed boot reports its step and reason there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

_STEP_LINE = re.compile(r"^step '?([^'\n]+)'?$", re.M)


class BootingNode(Protocol):
    instance_id: str
    group: str
    address: str

    def steps(self) -> list[str]: ...
    def failed_step(self) -> str | None: ...
    def boot_exit(self) -> int | None: ...


@dataclass
class Request:
    app: str
    url: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "url": self.url, "ok": self.ok, "detail": self.detail}


@dataclass
class BootFigures:
    head_up_s: float | None = None
    workers_joined: int = 0
    workers_joined_s: float | None = None
    apps_running_s: float | None = None
    apps: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    #: The run's ID, in the names of its bridge (rfb<ID>) and node namespaces (rfn<ID>-N).
    run_id: str = ""

    @property
    def requests_answered(self) -> int:
        return sum(r.ok for r in self.requests)

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return {
            "headUpSeconds": rounded(self.head_up_s),
            "workersJoined": self.workers_joined,
            "workersJoinedSeconds": rounded(self.workers_joined_s),
            "appsRunningSeconds": rounded(self.apps_running_s),
            "apps": self.apps,
            "requestsAnswered": self.requests_answered,
            "requestsSent": len(self.requests),
            "requests": [r.to_json() for r in self.requests],
            "nodes": self.nodes,
            "runId": self.run_id,
        }


def script_steps(script: str) -> list[str]:
    """The boot steps a user data script names, in order (`step 'install Ray'` lines)."""
    return _STEP_LINE.findall(script)


def node_state(node: BootingNode) -> str:
    """Where a node's boot is: the step it failed in, the step it is in, or the last step of a finished boot."""
    steps = node.steps()
    failed = node.failed_step()
    if failed is not None:
        return f"boot FAILED in step '{failed}'"
    last = f"step '{steps[-1]}'" if steps else "no step yet (the boot log is empty)"
    code = node.boot_exit()
    if code is None:
        return f"boot still in {last}"
    return f"boot finished after {last}" + (f" with exit {code}" if code else "")


def stalled(nodes: list[BootingNode], what: str, seconds: float) -> str:
    """The message of a scenario that waited `seconds` for `what`: each node and where its boot is."""
    where = "; ".join(f"node {n.instance_id} ({n.group}, {n.address}): {node_state(n)}" for n in nodes)
    return (f"the boot did not reach {what} within {seconds:.0f} s. "
            f"{where or 'No instance was launched'}. Fix: read each node's boot log (layers/var.up/log/"
            "rayfleet-boot.log in its directory) and correct the user data's step that did not happen")


def failed_boots(nodes: list[BootingNode]) -> list[str]:
    """One line per node whose boot failed: the step it failed in, as its boot log says."""
    return [f"node {n.instance_id} ({n.group}, {n.address}): boot FAILED in step '{n.failed_step()}'"
            for n in nodes if n.failed_step() is not None]


def missing_steps(expected: list[str], done: list[str]) -> list[str]:
    """The expected steps a node's boot log does not show, in the script's order."""
    return [s for s in expected if s not in done]
