"""The offline plan: the real Pulumi program, run in-process under mocks, with every resource captured.

No credentials, network or Pulumi CLI are involved. The plan validates the
stack file, then runs `build(cfg)` on that validated config (what
stacks/__main__.py runs under `pulumi up`). The capture feeds the
`rayfleet plan` tree, the security checks and the cost estimate.

    >>> plan = run_plan("prod")
    >>> plan.summary()["byRegion"]["us-east-1"] > 0
    True
    >>> plan.of_type("aws:ec2/vpc:Vpc")[0].inputs["cidrBlock"]
    '10.10.0.0/16'
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from stacks.loader import environment_file, load_file
from stacks.mocks import PlanMocks

PROJECT = "rayfleet"
#: Components registered by rayfleet carry type tokens `rayfleet:<component>:<Class>`.
COMPONENT_PREFIX = "rayfleet:"


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program registers: what `pulumi up` would create."""

    type: str
    name: str
    urn: str
    #: The physical ID the mocks gave it, as AWS would (`vpc-...`); what other resources' inputs refer to.
    id: str
    region: str
    #: The outermost rayfleet component holding it (`network`, `cluster`, ...), or `stack`.
    component: str
    #: The component resource's own name (`network-us-east-1`), or `stack`.
    component_name: str
    inputs: dict[str, Any]
    parent_urn: str | None
    #: URNs of the resources it waits for: `depends_on` and every resource whose outputs its inputs use.
    dependencies: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "region": self.region,
            "component": self.component,
            "inputs": _jsonable(self.inputs),
        }


@dataclass
class Plan:
    env: str
    source: str
    resources: list[PlannedResource]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str, region: str | None = None) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token and (region is None or r.region == region)]

    def in_region(self, region: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.region == region]

    def named(self, name: str) -> PlannedResource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    @property
    def regions(self) -> list[str]:
        return sorted({r.region for r in self.resources})

    def summary(self) -> dict[str, Any]:
        return {
            "total": len(self.resources),
            "byRegion": dict(sorted(Counter(r.region for r in self.resources).items())),
            "byComponent": dict(sorted(Counter(r.component for r in self.resources).items())),
            "byType": dict(sorted(Counter(r.type for r in self.resources).items())),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "resources": [r.to_json() for r in self.resources],
            "summary": self.summary(),
            "outputs": _jsonable(self.outputs),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@dataclass(frozen=True)
class _Registration:
    urn: str
    id: str
    type: str
    name: str
    parent: str
    provider: str
    custom: bool
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]


class _CapturingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that also keeps each registration's parent, provider, inputs and dependencies."""

    def __init__(self, mocks: PlanMocks):
        super().__init__(mocks)
        self.registrations: list[_Registration] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request):  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            registration = _Registration(
                urn=response.urn,
                id=response.id,
                type=request.type,
                name=request.name,
                parent=request.parent,
                provider=request.provider,
                custom=bool(request.custom),
                inputs=rpc.deserialize_properties(request.object),
                dependencies=tuple(request.dependencies),
            )
            with self._lock:
                self.registrations.append(registration)
        return response


_RUN_LOCK = threading.Lock()


def run_plan(
    env: str | None = None, *, path: Path | str | None = None, previous_outputs: dict[str, Any] | None = None
) -> Plan:
    """Run the program for one environment (by name, or a stack file's path) and capture it.

    `previous_outputs` are the stack's outputs as its last `pulumi up` left them
    (`pulumi stack output --json`): the plan of a change to a deployed stack. None: a new stack.
    """
    stack_file = Path(path) if path else environment_file(env or "")
    cfg = load_file(stack_file)  # raises ConfigError before anything runs
    from stacks.program import build  # every component and pulumi_aws: imported only when a plan runs

    return capture(
        cfg.env,
        str(stack_file),
        lambda: build(cfg),
        primary_region=cfg.primary_region.name,
        previous_outputs=previous_outputs,
    )


def capture(
    env: str,
    source: str,
    program: Callable[[], None],
    *,
    primary_region: str,
    config: dict[str, str] | None = None,
    previous_outputs: dict[str, Any] | None = None,
) -> Plan:
    """Run `program` as stack `env` under the plan's mocks, and capture every resource it registers.

    `config` is the stack config the program sees (`pulumi.Config`), as Pulumi passes it
    (stacks.mocks.pulumi_program_config); the plan's program, `build(cfg)`, reads none.
    `previous_outputs` are what the stack's previous update exported (None: a new stack).
    """
    # Pulumi's runtime settings are process-global: one run at a time.
    with _RUN_LOCK:
        return _run(env, source, program, PlanMocks(primary_region, previous_outputs), config or {})


def _run(env: str, source: str, program: Callable[[], None], mocks: PlanMocks, config: dict[str, str]) -> Plan:
    # A fresh event loop per run, closed afterwards. The mock monitor answers on executor
    # threads, each with a loop of its own; a private executor, shut down afterwards,
    # lets those loops close while the process is still whole.
    # Each thread's loop is made here and closed after the run: left to the garbage collector,
    # an unclosed loop may be finalized after its self-pipe and print an ignored ValueError
    # (seen when one process runs several plans, as `rayfleet cost diff` does).
    thread_loops: list[asyncio.AbstractEventLoop] = []

    def _thread_loop() -> None:
        thread_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(thread_loop)
        thread_loops.append(thread_loop)

    executor = ThreadPoolExecutor(thread_name_prefix="rayfleet-plan", initializer=_thread_loop)
    loop = asyncio.new_event_loop()
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    monitor = _CapturingMonitor(mocks)
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=env, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(config)
    settings.SETTINGS.outputs.clear()
    try:
        _sync_await(run_pulumi_func(program))
        root = settings.get_root_resource()
        outputs = _sync_await(pulumi.Output.from_input(dict(root.outputs)).future()) if root else {}
    finally:
        executor.shutdown(wait=True)
        for thread_loop in thread_loops:
            thread_loop.close()
        asyncio.set_event_loop(None)
        loop.close()
    return Plan(env=env, source=source, resources=_resources(monitor, mocks), outputs=outputs or {})


def _resources(monitor: _CapturingMonitor, mocks: PlanMocks) -> list[PlannedResource]:
    registrations = sorted(monitor.registrations, key=lambda r: r.urn)
    by_urn = {r.urn: r for r in registrations}
    out = []
    for reg in registrations:
        if not reg.custom:
            continue  # components group resources; they create nothing in AWS themselves
        if reg.type.startswith("pulumi:providers:"):
            region = mocks.provider_regions.get(reg.name, mocks.default_region)
        else:
            region = mocks.region_of(reg.provider)
        component = _outermost_component(reg, by_urn)
        out.append(
            PlannedResource(
                type=reg.type,
                name=reg.name,
                urn=reg.urn,
                id=reg.id,
                region=region,
                component=component.type.split(":")[1] if component else "stack",
                component_name=component.name if component else "stack",
                inputs=reg.inputs,
                parent_urn=reg.parent or None,
                dependencies=reg.dependencies,
            )
        )
    return out


def _outermost_component(reg: _Registration, by_urn: dict[str, _Registration]) -> _Registration | None:
    """The outermost rayfleet component among `reg`'s ancestors (parents are walked, not parsed from URNs)."""
    found = None
    current = by_urn.get(reg.parent)
    while current is not None:
        if current.type.startswith(COMPONENT_PREFIX):
            found = current
        current = by_urn.get(current.parent)
    return found
