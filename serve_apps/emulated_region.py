"""`rayfleet emulate`: an environment's primary region on this machine, from its offline plan.

    report = emulate(Path("stacks/Pulumi.dev.yaml"), "control-plane")
    report.plane.counts()["aws:autoscaling/group:Group"]     # 3
    report.to_json()["seconds"]                              # {'plan': 4.1, 'motoStart': 0.9, 'controlPlane': 1.7, ...}
    emulate(Path("stacks/Pulumi.dev.yaml"), "boot").boot.head_up_s      # 38.5: the nodes ran too

The plan is the one `rayfleet plan` shows (stacks.plan.run_plan: the real program under
mocks), so the emulated region is created from the program's own output, not from a second
description of the cluster. The code packages are the ones the deployer uploads, at the keys
the rendered Serve config names (serve_apps.package). The moto server lives only while the
scenario runs: it is stopped on return, on failure and on Ctrl-C.

`boot` then runs the region's instances as nodes (components.drills.emulate.nodes), waits for
the head's Ray to answer, deploys the environment's Serve config to the emulated head's
dashboard through the deployer (with the token the head wrote to the emulated secret), waits
for the applications to be RUNNING (the head's autoscaler launches the workers they need,
through the node provider and the emulated groups), and sends each a few bounded requests. On
return, failure or Ctrl-C every node, namespace, the bridge and the moto server are stopped.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.contract import HEAD_NODE_TYPE, SERVE_PORT
from components.drills.emulate.aws_routing import aws_router, id_rules, rewrite
from components.drills.emulate.boot import BootFigures, Request, node_state, stalled
from components.drills.emulate.dns import vpc_resolver
from components.drills.emulate.control_plane import ControlPlane, Created, create_control_plane
from components.drills.emulate.moto_server import moto_server
from components.drills.emulate.network import region_network
from components.drills.emulate.gcs_redis import auth_token, gcs_redis, redis_address
from components.drills.emulate.nodes import MAX_NODES, node_runner, user_data_script
from components.drills.emulate.plane import (BUCKET, KNOWN_GAPS, LAUNCH_TEMPLATE, SECRET, VPC, check_node_budget,
                                            launched_at_once)
from components.errors import RayfleetError
from components.ray_cluster.plan import DASHBOARD_PORT
from serve_apps.cloud import CloudRegion
from serve_apps.dashboard import Dashboard, DashboardError
from serve_apps.deployer import DeployError, deploy
from serve_apps.discovery import MODELS_PREFIX, model_files
from serve_apps import emulate_head_failover, emulate_scale, emulate_shortage, emulate_spot
from serve_apps.emulated_scenario import AfterBoot, BootedRegion, ScenarioResult
from serve_apps.history import History
from serve_apps.local import smoke_test
from serve_apps.package import app_sources, code_package, source_package
from serve_apps.paths import models_dir, rayfleet_home
from serve_apps.targets import ensure_models, render_cloud
from stacks.loader import load_file
from stacks.mocks import secret_arn

#: Scenarios run on the booted region, after `boot`'s figures, in the order `--scenario` names them.
AFTER_BOOT: dict[str, AfterBoot] = {
    emulate_scale.NAME: emulate_scale.run, emulate_spot.NAME: emulate_spot.run,
    "shortage": emulate_shortage.run, "head-failover": emulate_head_failover.run,
}
#: Scenarios that change the region, and what may still run after them: head-failover replaces the head
#: (a later scenario would talk to the dead one); shortage deploys a raised config, which head-failover
#: does not read (it reads the applications' names and the new head).
MAY_FOLLOW = {"head-failover": (), "shortage": ("head-failover",)}
#: The scenarios this rayfleet can run.
SCENARIOS = ("control-plane", "boot", *AFTER_BOOT)
#: Seconds the boot scenario waits for the head's Ray, then for the applications (workers boot in between).
HEAD_UP_TIMEOUT_S = 150.0
APPS_RUNNING_TIMEOUT_S = 360.0
#: Requests sent to each application once it runs (each bounded by the smoke test's timeout).
REQUESTS_PER_APP = 3


@dataclass
class EmulationReport:
    env: str
    scenario: str
    plane: ControlPlane
    seconds: dict[str, float] = field(default_factory=dict)
    moto_stopped: bool = False
    boot: BootFigures | None = None
    #: What each scenario after `boot` measured, in the order they ran.
    scenarios: list[ScenarioResult] = field(default_factory=list)
    #: Where each node's directory (boot log, Ray's logs, its /etc, /opt, /var layers) is kept.
    run_dir: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "scenario": self.scenario,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "motoStopped": self.moto_stopped,
            "controlPlane": self.plane.to_json(),
            "knownGaps": list(KNOWN_GAPS),
            **({"boot": self.boot.to_json(), "runDir": str(self.run_dir)} if self.boot else {}),
            **({"scenarios": {r.name: r.to_json() for r in self.scenarios}} if self.scenarios else {}),
            "missed": self.missed(),
        }

    def missed(self) -> list[str]:
        """Every target a scenario missed, each a sentence naming its scenario."""
        return [f"{r.name}: {sentence}" for r in self.scenarios for sentence in r.missed()]


def check_scenario(scenario: str) -> tuple[str, ...]:
    """The scenarios `--scenario` names: one, or several after `boot` separated by commas (one boot for all)."""
    names = tuple(name.strip() for name in scenario.split(","))
    for name in names:
        if name not in SCENARIOS:
            raise RayfleetError(f"--scenario {name!r} is not a scenario of this rayfleet (scenarios: "
                                f"{', '.join(SCENARIOS)}). Fix: pass --scenario {SCENARIOS[0]}")
    if len(names) > 1 and not set(names) <= set(AFTER_BOOT):
        raise RayfleetError(f"--scenario {scenario!r}: only scenarios run after boot can be combined "
                            f"({', '.join(AFTER_BOOT) or 'none in this rayfleet'}); each boots the region once. "
                            f"Fix: pass {names[0]!r} alone, or a list of {', '.join(AFTER_BOOT) or 'them'}")
    if len(set(names)) != len(names):
        raise RayfleetError(f"--scenario {scenario!r} names a scenario twice. Fix: name each once")
    for name, after in zip(names, names[1:]):
        if name in MAY_FOLLOW and after not in MAY_FOLLOW[name]:
            allowed = f"; only {', '.join(MAY_FOLLOW[name])} may follow it" if MAY_FOLLOW[name] else ""
            raise RayfleetError(f"--scenario {scenario!r}: {after} cannot follow {name} ({name} leaves the region "
                                f"changed: a new head, or a raised config, that {after} would not see{allowed}). "
                                f"Fix: run {after} before {name}, or in a separate emulation")
    return names


def check_environment(cfg, names: tuple[str, ...]) -> None:
    """Refuse, before anything starts, a scenario the environment cannot show."""
    if "head-failover" in names and not cfg.cluster.head_fault_tolerance:
        raise RayfleetError(f"--scenario head-failover: {cfg.env} has rayfleet:cluster.headFaultTolerance false; "
                            "the head's replacement can only restore the cluster from the GCS state in Redis, "
                            "which headFaultTolerance true keeps. Fix: set headFaultTolerance: true in its stack "
                            "file, or pass --file tests/fakes/stacks/Pulumi.failover.yaml")


def serve_packages(cfg) -> list[tuple[bytes, str]]:
    """The code packages the Serve config names: rayfleet's own, then each application's `source`."""
    return [code_package(), *(source_package(source) for source in app_sources(cfg.serve.applications))]


def emulate(
    stack_file: Path,
    scenario: str,
    *,
    on_step: Callable[[str], None] = lambda _text: None,
    on_created: Callable[[Created], None] = lambda _c: None,
) -> EmulationReport:
    """Run `scenario` on the primary region of the environment in `stack_file`; nothing is left running."""
    from stacks.plan import run_plan  # imports the program and pulumi_aws: only when a run starts

    names = check_scenario(scenario)
    cfg = load_file(stack_file)
    check_environment(cfg, names)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    on_step("running the Pulumi program under mocks...")
    plan = run_plan(path=stack_file)
    packages = serve_packages(cfg)
    seconds["plan"] = time.monotonic() - started
    on_step("starting the moto server...")
    mark = time.monotonic()
    with moto_server() as server:
        seconds["motoStart"] = time.monotonic() - mark
        on_step(f"creating {cfg.primary_region.name}'s control plane in moto ({server.endpoint})...")
        plane = create_control_plane(plan.resources, cfg.primary_region.name, server, packages=packages,
                                     on_created=on_created)
        seconds["controlPlane"] = plane.seconds
        boot, run_dir, results = None, None, []
        if names != ("control-plane",):
            run_dir = rayfleet_home() / "emulate" / f"{cfg.env}-{time.strftime('%Y%m%dT%H%M%S')}"
            mark = time.monotonic()
            with booted_region(cfg, plan, server, plane, run_dir, on_step) as region:
                boot = region.figures
                seconds["boot"] = time.monotonic() - mark
                for name in (n for n in names if n in AFTER_BOOT):
                    mark = time.monotonic()
                    results.append(AFTER_BOOT[name](region))
                    seconds[name] = time.monotonic() - mark
                on_step("stopping every node...")
        on_step("stopping the moto server...")
        mark = time.monotonic()
    seconds["motoStop"] = time.monotonic() - mark
    seconds["total"] = time.monotonic() - started
    return EmulationReport(cfg.env, ",".join(names), plane, seconds, moto_stopped=True, boot=boot, run_dir=run_dir,
                           scenarios=results)


@contextlib.contextmanager
def booted_region(cfg, plan, server, plane: ControlPlane, run_dir: Path,
                  on_step: Callable[[str], None]) -> Iterator[BootedRegion]:
    """The region's instances as nodes until the applications answer (the boot scenario's figures), then the
    region as it runs, for the scenarios after boot; every node, namespace and the resolver stop on exit."""
    figures = BootFigures()
    check_node_budget(launched_at_once(plan.resources, plane.region), MAX_NODES)
    rules = id_rules(plane.created, {r.id: secret_arn(plane.region, r.id) for r in plan.of_type(SECRET, plane.region)})
    with region_network(_vpc_cidr(plan, plane.region)) as net, \
            _gcs_store(plan, plane.region, net, run_dir) as (store, store_records), \
            aws_router((net.gateway, 0), server.endpoint, rules) as endpoint, \
            node_runner(server, plane, net, run_dir, endpoint, store.ca_pem if store else b"") as runner, \
            vpc_resolver(net.resolver, lambda: {**runner.records, **store_records}, zones=lambda: runner.zones):
        figures.run_id = net.run
        on_step(f"booting the region's instances as nodes (directories in {run_dir})...")
        started = time.monotonic()
        dashboard = _head_up(runner, server, plane, rules, plan, on_step)
        figures.head_up_s = time.monotonic() - started
        on_step("deploying the Serve config to the emulated head...")
        config = _cloud_config(cfg, server, plane, dashboard)

        def progress(apps, _elapsed) -> None:
            _check_boots(runner)
            joined = _alive(dashboard) - 1
            if joined > figures.workers_joined:
                figures.workers_joined, figures.workers_joined_s = joined, time.monotonic() - started
            states = ", ".join(f"{a.name} {a.status}" for a in apps) or "no application yet"
            on_step(f"{time.monotonic() - started:.0f} s: {joined} worker(s) joined; {states}")

        result = _deploy_until_running(runner, dashboard, config, progress, cfg, plane.region,
                                       lambda: _head_up(runner, server, plane, rules, plan, on_step), on_step)
        figures.apps_running_s = time.monotonic() - started
        figures.apps = {a.name: a.status for a in result.apps}
        on_step("sending requests to the applications...")
        base_url = f"http://{runner.nodes_of(HEAD_NODE_TYPE)[0].address}:{SERVE_PORT}"
        figures.requests = _requests(cfg, config, base_url)
        figures.nodes = [{"instanceId": n.instance_id, "group": n.group, "address": n.address, "steps": n.steps(),
                          "bootExit": n.boot_exit(), "rayStarts": n.unit_starts("ray")} for n in runner.running()]
        yield BootedRegion(cfg, plan, server, plane, net, runner, dashboard, config, base_url, figures, run_dir,
                           on_step)


def _deploy_until_running(runner, dashboard: Dashboard, config, progress, cfg, region: str, head_up, on_step):
    """`serve deploy` to the emulated head until every application is RUNNING; deployed again if the head's
    Ray restarts meanwhile (its unit has Restart=always: on a loaded machine a Ray process may time out at start)."""
    deadline = time.monotonic() + APPS_RUNNING_TIMEOUT_S
    history = History.for_target(f"emulate-{cfg.env}-{region}")
    while True:
        try:
            return deploy(dashboard, config, history=history, confirm_removal=lambda _names: True,
                          on_progress=progress, timeout_s=max(1.0, deadline - time.monotonic()))
        except DashboardError:
            if time.monotonic() >= deadline:
                raise
            on_step("the head's dashboard stopped answering (its Ray restarted); deploying again once it answers...")
            dashboard = head_up()
        except DeployError as err:
            nodes = list(runner.running())
            raise RayfleetError(f"{err} ({stalled(nodes, 'applications RUNNING', APPS_RUNNING_TIMEOUT_S)})") from None


@contextlib.contextmanager
def _gcs_store(plan, region: str, net, run_dir: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """With head fault tolerance, the emulated ElastiCache (a real Redis behind TLS) on the region's bridge, and the
    record that resolves the endpoint the head's user data reads to it; (None, {}) without."""
    for template in plan.of_type(LAUNCH_TEMPLATE, region):
        script = user_data_script(template.inputs["userData"])
        address = redis_address(script)
        if address is not None:
            token = auth_token(plan.resources, region, script)
            with gcs_redis((net.gateway, address.port), token, [address.host], run_dir / "redis") as store:
                yield store, {address.host: net.gateway}
            return
    yield None, {}


def _vpc_cidr(plan, region: str) -> str:
    vpcs = [r for r in plan.of_type(VPC, region)]
    if len(vpcs) != 1:
        raise RayfleetError(f"the plan's region {region} holds {len(vpcs)} VPCs; the emulated region needs one. "
                            "Fix: plan one VPC per region")
    return vpcs[0].inputs["cidrBlock"]


def _check_boots(runner) -> None:
    """Raise when the node runner stopped (its error) or a node's boot failed (the step its boot log names)."""
    if runner.errors:
        raise RayfleetError(f"the node runner failed: {runner.errors[0]}")
    failures = runner.boot_failures()
    if failures:
        raise RayfleetError("a node's boot failed: " + "; ".join(failures) + ". Fix: correct that step of the "
                            "user data; the node's boot log (layers/var.up/log/rayfleet-boot.log in its "
                            f"directory under {runner.run_dir}) says why it failed")


def _head_up(runner, server, plane: ControlPlane, rules, plan, on_step) -> Dashboard:
    """The head's dashboard, once its GCS lists the head ALIVE (the token from the emulated secret)."""
    import boto3
    from botocore.exceptions import ClientError

    secrets = boto3.client("secretsmanager", **server.client_args(plane.region))
    planned_arn = plan.outputs["regions"][plane.region]["dashboardTokenSecretArn"]
    arn = rewrite(planned_arn.encode(), rules).decode()
    started = time.monotonic()
    found: list[Dashboard] = []

    def answers(r) -> bool:
        _check_boots(r)
        heads = r.nodes_of(HEAD_NODE_TYPE)
        if not heads:
            return False
        try:
            token = secrets.get_secret_value(SecretId=arn)["SecretString"]
        except ClientError:
            return False
        found[:] = [Dashboard(f"http://{heads[0].address}:{DASHBOARD_PORT}", token, timeout_s=5)]
        on_step(f"{time.monotonic() - started:.0f} s: head {heads[0].instance_id}: {node_state(heads[0])}")
        return _alive(found[0]) >= 1

    try:
        runner.wait_for(answers, HEAD_UP_TIMEOUT_S, "the head's Ray")
    except TimeoutError:
        raise RayfleetError(stalled(list(runner.running()), "the head's Ray answering", HEAD_UP_TIMEOUT_S)) from None
    return found[0]


def _alive(dashboard: Dashboard) -> int:
    try:
        return sum(1 for n in dashboard.get_nodes() if n.get("state") == "ALIVE")
    except RayfleetError:
        return 0


def _cloud_config(cfg, server, plane: ControlPlane, dashboard: Dashboard) -> dict[str, Any]:
    """The Serve config `serve deploy` sends to this region, with the models uploaded to the emulated bucket."""
    import boto3

    bucket = next(c.emulated_id for c in plane.created if c.type == BUCKET)
    s3 = boto3.client("s3", **server.client_args(plane.region))
    ensure_models(cfg)  # built into this machine's models folder when missing, as `serve deploy` does
    for name in dict.fromkeys(n for app in cfg.serve.applications for n in model_files(app.args)):
        s3.put_object(Bucket=bucket, Key=f"{MODELS_PREFIX}/{name}", Body=(models_dir() / name).read_bytes())
    region = CloudRegion(plane.region, dashboard.address, "", bucket)
    return render_cloud(cfg, region).config


def _requests(cfg, config: dict[str, Any], base_url: str) -> list[Request]:
    """REQUESTS_PER_APP rounds of `rayfleet local up`'s smoke test through the head's Serve proxy at `base_url`:
    each application's smoke request (the region-health route's GET); an application without one is not asked."""
    smoke = {app.name: app.smoke_request for app in cfg.serve.applications}
    return [Request(r.app, r.url, r.ok, r.detail) for _ in range(REQUESTS_PER_APP)
            for r in smoke_test(base_url, config, smoke) if r.method]
