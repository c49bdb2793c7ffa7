"""Walking a blue/green upgrade (stacks/upgrade_plan.py), step by step, through three small interfaces.

    upgrade = Upgrade(runner=AutomationRunner("prod"), serve=ServeSlots(), fleet=AwsFleet(), store=StateStore(path))
    upgrade.start(cfg)      # or .resume(cfg), .rollback(cfg)

- `StackRunner` writes the stack config and runs `pulumi up` (the Automation API in
  serve_apps/upgrade_runner.py; a fake in the tests);
- `SlotServe` deploys the Serve config to a slot and drains a slot's Serve (the deployer);
- `Fleet` reads what the gates need from AWS and drains a slot's workers (serve_apps/upgrade_aws.py).

The state is saved after every step, so a failed upgrade resumes at the step
that failed, or rolls back from there. A failure leaves traffic on a slot that
serves (upgrade_plan.safe_weight), and says where it is.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from components.alarms.plan import HEALTH_CHECK, alarm_name, slot_serving_alarm_names
from components.errors import RayfleetError
from stacks.cluster_args import min_healthy_targets
from stacks.config import EnvironmentConfig
from stacks.deployed import running_ray_version
from stacks.loader import parse_stack_config
from stacks.outputs_model import RegionOutputs, StackOutputs
from stacks.slots import new_slot_config
from stacks.upgrade_plan import (
    STEPS,
    AsgSize,
    Step,
    UpgradeError,
    UpgradeState,
    change_of,
    describe,
    live_config,
    new_state,
    retired,
    rolled_back,
    safe_weight,
    with_weight,
)
from stacks.upgrade_plan import step as _step  # `step` is the walk's own name for the step at hand


class StackRunner(Protocol):
    """The stack: its config as its file holds it, its outputs, and `pulumi up`."""

    def config(self) -> dict[str, Any]: ...

    def outputs(self) -> StackOutputs: ...

    def up(self, config: dict[str, Any]) -> StackOutputs:
        """Make `config` the stack's config, run `pulumi up`, return the outputs; raise on failure."""
        ...


class SlotServe(Protocol):
    def deploy(self, cfg: EnvironmentConfig, region: str, outputs: RegionOutputs) -> None:
        """Deploy `cfg`'s Serve applications to the slot cluster of `outputs` and wait until RUNNING."""
        ...

    def drain(self, region: str, outputs: RegionOutputs) -> None:
        """Delete the Serve applications of the slot cluster of `outputs`: its proxies drain."""
        ...


class Fleet(Protocol):
    def healthy_targets(self, region: str, target_group_arn: str) -> int: ...

    def firing_alarms(self, env: str, region: str, names: list[str]) -> list[str]:
        """Which of the alarms `names` of `env` watching `region` are in ALARM."""
        ...

    def worker_sizes(self, region: str, asg_names: list[str]) -> dict[str, AsgSize]:
        """The ASGs' minimum, maximum and desired capacity now."""
        ...

    def restore_workers(self, region: str, sizes: dict[str, AsgSize]) -> None:
        """Give drained ASGs back the sizes `worker_sizes` read."""
        ...

    def drain_workers(self, region: str, asg_names: list[str]) -> None:
        """Empty the worker ASGs, each node leaving through the rayfleet-drain lifecycle hook."""
        ...


@dataclass
class StateStore:
    """The upgrade's state as a JSON file (`$RAYFLEET_HOME/upgrades/<env>.json`)."""

    path: Path

    def load(self) -> UpgradeState | None:
        if not self.path.is_file():
            return None
        try:
            return UpgradeState.model_validate_json(self.path.read_text())
        except ValueError as err:  # pydantic's ValidationError: not JSON, or not an upgrade's state
            first = str(err).splitlines()[0]
            raise UpgradeError(
                f"the upgrade state {self.path} cannot be read ({first}). Fix: put back the file the upgrade "
                f"wrote (it is saved after every step), or, if the stack's outputs show no `upgrade`, delete it"
            ) from None

    def save(self, state: UpgradeState) -> None:
        # Written beside the file, then renamed over it (atomic on POSIX): an interrupted save leaves the
        # last state whole, never half a file that --resume cannot read.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".tmp")
        partial.write_text(json.dumps(state.model_dump(mode="json"), indent=2) + "\n")
        os.replace(partial, self.path)


@dataclass
class Upgrade:
    runner: StackRunner
    serve: SlotServe
    fleet: Fleet
    store: StateStore
    #: Progress lines ("shift-10: move 10% of traffic to green; ...").
    report: Callable[[str], None] = lambda line: None
    #: Seconds a new weight must hold before its gate is read; at least the alarms' evaluation range
    #: (evaluationMinutes), or the gate reads alarms that have not yet seen the new weight's traffic.
    settle_seconds: float = 60.0
    #: Seconds the gate before a traffic step waits to open: a new slot's own alarms start without data
    #: and need their evaluation window to clear. The gate after the step never waits: traffic is on it.
    open_wait_seconds: float = 900.0
    poll_seconds: float = 15.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    # --- entry points ------------------------------------------------------------------

    def plan(self, cfg: EnvironmentConfig) -> UpgradeState:
        """The state an upgrade from `cfg` (the stack file) would start with; reads the outputs, writes nothing."""
        running = running_ray_version(self.runner.outputs())
        change = change_of(cfg, running)
        return new_state(cfg, running, change, live_config(self.runner.config(), running))

    def start(self, cfg: EnvironmentConfig) -> UpgradeState:
        current = self.store.load()
        if current is not None and current.status in ("running", "failed"):
            at = f"failed at {current.failed}" if current.failed else f"next step {current.next_step.name}"
            raise UpgradeError(
                f"an upgrade of {cfg.env} to Ray {current.to_version} is in progress ({at}). "
                f"Fix: `rayfleet upgrade --env {cfg.env} --resume`, or `--rollback`"
            )
        self._refuse_untracked_upgrade(cfg.env)
        state = self.plan(cfg)
        self.store.save(state)
        return self._walk(state)

    def resume(self, env: str) -> UpgradeState:
        state = self._in_progress(env, "resume")
        self.report(f"resuming at {state.next_step.name}")
        return self._walk(state)

    def rollback(self, env: str) -> UpgradeState:
        """All traffic back to the old slot, then the new slot removed; the old one redeployed first if drained."""
        state = self._in_progress(env, "roll back")
        if state.drained:
            self._restore_old_slot(state)
        if state.drained or state.weight > 0:
            self._up(state, with_weight(state.live, state.change, 0), "all traffic back to " + state.from_slot)
        self.report(f"remove {state.to_slot}: pulumi up without rayfleet:upgrade")
        self.runner.up(rolled_back(state.live))
        state.status, state.failed, state.error = "rolled-back", None, None
        self.store.save(state)
        return state

    def _refuse_untracked_upgrade(self, env: str) -> None:
        """The stack is mid-upgrade but this machine holds no state of it: starting again would walk from
        bring-up over a listener that already sends traffic to the new slot."""
        upgrade = self.runner.outputs().upgrade
        if upgrade is None:
            return
        raise UpgradeError(
            f"the stack {env} is mid-upgrade (its outputs hold a new slot {upgrade.slot}, Ray {upgrade.ray_version}, "
            f"at weight {upgrade.weight}%), but {self.store.path} holds no upgrade in progress. Fix: copy the state "
            f"file from the machine that started the upgrade and run `rayfleet upgrade --env {env} --resume`; or "
            f"remove rayfleet:upgrade from the stack file and run `pulumi up` to return all traffic to the live slot"
        )

    # --- the walk ----------------------------------------------------------------------

    def _in_progress(self, env: str, verb: str) -> UpgradeState:
        state = self.store.load()
        if state is None or state.status not in ("running", "failed"):
            last = f" (the last one {state.status})" if state else ""
            raise UpgradeError(
                f"no upgrade of {env} in progress to {verb}{last}. Fix: start one with `rayfleet upgrade --env {env}`"
            )
        return state

    def _walk(self, state: UpgradeState) -> UpgradeState:
        while (step := state.next_step) is not None:
            self.report(f"{step.name}: {describe(step, state)}")
            try:
                self._run(step, state)
            except KeyboardInterrupt:
                # Ctrl-C in a gate's wait or a settle: traffic goes where a failure would put it, then stop.
                try:
                    self._fail(step, state, UpgradeError("interrupted"))
                except UpgradeError as failed:
                    self.report(str(failed))
                raise
            except Exception as err:  # noqa: BLE001 - any failure of a step leaves traffic safe first
                self._fail(step, state, err)
            state.done.append(step.name)
            state.failed = state.error = None
            self.store.save(state)
        state.status = "finished"
        self.store.save(state)
        self.report(f"finished: {state.to_slot} (Ray {state.to_version}) is the only slot of {state.env}")
        return state

    def _run(self, step: Step, state: UpgradeState) -> None:
        mid = self._mid_config(state)
        if step.kind == "bring-up":
            self._up(state, with_weight(state.live, state.change, 0))
        elif step.kind == "deploy-serve":
            outputs = self.runner.outputs()
            for region in self._regions(mid):
                self.serve.deploy(new_slot_config(mid), region, self._new_slot(outputs, region))
        elif step.kind == "shift":
            self._await_gate(state, mid, self.runner.outputs())
            outputs = self._up(state, with_weight(state.live, state.change, step.weight))
            self.sleep(max(self.settle_seconds, mid.observability.alarms.evaluation_minutes * 60))
            self._gate(state, mid, outputs)
        elif step.kind == "drain":
            self._drain(state, mid)
        else:
            self.runner.up(retired(mid, state.live))

    def _drain(self, state: UpgradeState, mid: EnvironmentConfig) -> None:
        outputs = self.runner.outputs()
        for region in self._regions(mid):
            old = _region(outputs, region)
            names = [name for markets in (old.worker_asgs or {}).values() for name in markets.values()]
            # Recorded once: a drain resumed after a failure finds the groups already at 0.
            if region not in state.old_worker_sizes:
                state.old_worker_sizes[region] = self.fleet.worker_sizes(region, names)
                self.store.save(state)
            self.serve.drain(region, old)
            self.fleet.drain_workers(region, names)

    def _fail(self, step: Step, state: UpgradeState, err: Exception) -> None:
        weight = safe_weight(step)
        state.failed, state.error, state.status = step.name, str(err), "failed"
        # Traffic falls back to `weight`: the traffic steps above it are undone, so a resume walks them
        # again (0 -> 10 -> 50), never 0 -> 50 at once.
        state.done = [name for name in state.done if not (_step(name).kind == "shift" and _step(name).weight > weight)]
        self.store.save(state)
        where = f"all traffic on {state.from_slot}" if weight == 0 else f"all traffic on {state.to_slot}"
        if state.weight != weight or step.kind == "shift":
            try:
                self._up(state, with_weight(state.live, state.change, weight), where)
            except Exception as again:  # noqa: BLE001 - say so: traffic may be split
                raise UpgradeError(
                    f"upgrade of {state.env} failed at {step.name}: {err}; returning traffic failed too ({again}), "
                    f"so part of it may still go to {state.to_slot}. Fix: `rayfleet upgrade --env {state.env} "
                    f"--rollback` once `pulumi up` works"
                ) from None
        raise UpgradeError(
            f"upgrade of {state.env} failed at {step.name}: {err}; {where}. Fix: remove the cause, then "
            f"`rayfleet upgrade --env {state.env} --resume`, or `--rollback` to return to {state.from_slot}"
        ) from None

    def _up(self, state: UpgradeState, config: dict[str, Any], note: str = "") -> StackOutputs:
        if note:
            self.report(note)
        outputs = self.runner.up(config)
        state.weight = config["rayfleet:upgrade"]["weight"]
        self.store.save(state)
        return outputs

    def _await_gate(self, state: UpgradeState, mid: EnvironmentConfig, outputs: StackOutputs) -> None:
        self._await(lambda: self._gate(state, mid, outputs))

    def _await(self, check: Callable[[], None]) -> None:
        """Run `check` until it stops raising UpgradeError, for up to open_wait_seconds."""
        deadline = self.clock() + self.open_wait_seconds
        while True:
            try:
                return check()
            except UpgradeError as closed:
                if self.clock() >= deadline:
                    raise
                self.report(f"  waiting ({self.poll_seconds:g} s) for the {closed}")
                self.sleep(self.poll_seconds)

    def _gate(self, state: UpgradeState, mid: EnvironmentConfig, outputs: StackOutputs) -> None:
        need = max(1, min_healthy_targets(mid))
        for region in self._regions(mid):
            healthy = self.fleet.healthy_targets(region, _target_group(self._new_slot(outputs, region), region))
            # The new slot's own serving alarms and the region's Route 53 health check: the live slot's
            # (its drift, its share of the 5xx) say nothing of the slot that takes the traffic.
            names = [*slot_serving_alarm_names(state.env, region, state.to_slot),
                     alarm_name(state.env, region, HEALTH_CHECK)]
            firing = self.fleet.firing_alarms(state.env, region, names)
            if healthy < need or firing:
                raise UpgradeError(
                    f"gate closed in {region}: {state.to_slot} has {healthy} healthy targets (needs {need})"
                    + (f", alarms in ALARM: {', '.join(firing)}" if firing else "")
                )
            self.report(f"  gate open in {region}: {healthy} healthy targets on {state.to_slot}, no serving alarm firing")

    def _restore_old_slot(self, state: UpgradeState) -> None:
        """The old slot was drained: its ASGs get back their recorded sizes, Serve runs on it again, and its
        targets turn healthy before any traffic returns to it."""
        outputs = self._up(state, with_weight(state.live, state.change, 100), f"restore {state.from_slot}")
        live = parse_stack_config(state.env, state.live, source="the upgrade's live config")
        need = max(1, min_healthy_targets(live))
        for region in self._regions(live):
            old = _region(outputs, region)
            self.fleet.restore_workers(region, state.old_worker_sizes.get(region, {}))
            self.serve.deploy(live, region, old)
            self._await(lambda: self._old_slot_serves(state, region, old, need))

    def _old_slot_serves(self, state: UpgradeState, region: str, old: RegionOutputs, need: int) -> None:
        healthy = self.fleet.healthy_targets(region, _target_group(old, region))
        if healthy < need:
            raise UpgradeError(
                f"{state.from_slot} in {region} has {healthy} healthy targets (needs {need}): traffic stays on "
                f"{state.to_slot}. Fix: wait for its workers, then run --rollback again"
            )
        self.report(f"  {state.from_slot} in {region}: {healthy} healthy targets")

    def _mid_config(self, state: UpgradeState) -> EnvironmentConfig:
        return parse_stack_config(state.env, with_weight(state.live, state.change, 0), source="the upgrade's config")

    @staticmethod
    def _regions(cfg: EnvironmentConfig) -> list[str]:
        # Slots and weights are environment-wide: every region moves, and is gated, together.
        return cfg.region_names

    def _new_slot(self, outputs: StackOutputs, region: str) -> RegionOutputs:
        found = outputs.upgrade.regions.get(region) if outputs.upgrade else None
        if found is None:
            raise UpgradeError(f"the stack outputs have no new cluster slot in {region} (no `upgrade.regions.{region}`)")
        return found


def _region(outputs: StackOutputs, region: str) -> RegionOutputs:
    if region not in outputs.regions:
        raise UpgradeError(f"the stack outputs have no region {region}")
    return outputs.regions[region]


def _target_group(outputs: RegionOutputs, region: str) -> str:
    if not outputs.target_group_arn:
        raise RayfleetError(f"the stack outputs lack targetGroupArn of a cluster slot in {region}")
    return outputs.target_group_arn
