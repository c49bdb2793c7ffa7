"""Benchmark: what the canary router's hop costs, router code against router code, side by side in one run.

    rayfleet local up                                                      # the cluster it measures
    git show main:serve_apps/canary_router.py > serve_apps/_router_before.py
    .venv/bin/python tests/benchmarks/canary_hop.py --router before=serve_apps._router_before:app \
        --router after=serve_apps.canary_router:app --rounds 3 --seconds 10

On the cluster of `rayfleet local up` (RAYFLEET_HOME as for the CLI), beside
the running applications: a copy of `digits` with no route (`_digits-stable`,
as a canary runs it), and one router application per `--router NAME=IMPORT_PATH`
on `/hop-NAME`, each forwarding every request to that copy (share 0 %), as
the canary's `router_entry` renders it. Then, in interleaved rounds (so that
every arm sees the same noise of a shared machine), a paced load of the smoke
request at `--rate` per second for `--seconds` to `/digits` straight and to
each router: the client's p50/p99, and each router replica's CPU per request
(psutil, its idle CPU over the same time subtracted). CPU per request is the
steadier figure on a busy machine; compare arms of one run only. The
applications it added are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def deploy(state, routers: dict[str, str]) -> tuple[dict, dict]:
    """The running config plus the copy and one router per arm; (the config before, the config deployed)."""
    from serve_apps.canary import hidden, region_health_env, router_entry
    from serve_apps.deployer import wait_until_healthy
    from serve_apps.history import History

    # The last config that ran well (a drill's or a canary's failed one is recorded too, as `failed`).
    before = copy.deepcopy([r for r in History.for_target(state.dashboard_url).records() if r.outcome == "running"][-1].config)
    config = copy.deepcopy(before)
    digits = next(a for a in config["applications"] if a["name"] == "digits")
    config["applications"].append(hidden(digits, "_digits-stable", reserve=False))
    for name, import_path in routers.items():
        entry = router_entry(digits, "Digits", 0, region_health_env(config))
        entry.update(name=f"hop-{name}", route_prefix=f"/hop-{name}", import_path=import_path)
        entry["args"]["canary"] = "_digits-stable"
        config["applications"].append(entry)
    dashboard = state.dashboard()
    dashboard.put_applications(config)
    wait_until_healthy(dashboard, [a["name"] for a in config["applications"]], timeout_s=600, poll_s=2)
    return before, config


def replica_process(app: str):
    import psutil

    pids = subprocess.run(["pgrep", "-f", f"ServeReplica:{app}:"], capture_output=True, text=True).stdout.split()
    if len(pids) != 1:
        raise SystemExit(f"expected one replica of {app}, found {len(pids)}")
    return psutil.Process(int(pids[0]))


def cpu(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def paced(url: str, body: bytes, rate: float, seconds: float) -> list[tuple[float, bool]]:
    """(ms, answered 200) per request, one every 1/`rate` s whatever the answers take."""
    import aiohttp

    results: list[tuple[float, bool]] = []
    async with aiohttp.ClientSession() as session:
        async def one() -> None:
            started = time.monotonic()
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as answer:
                await answer.read()
                results.append(((time.monotonic() - started) * 1000, answer.status == 200))

        began, tasks = time.monotonic(), []
        for sent in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, began + sent / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return results


def quantile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None


def measure(state, routers: dict[str, str], args) -> dict[str, dict]:
    body = json.dumps({"pixels": [0.0] * 64}).encode()
    base = f"http://127.0.0.1:{state.serve_port}"
    routes = {"straight": "/digits", **{name: f"/hop-{name}" for name in routers}}
    processes = {name: replica_process(f"hop-{name}") for name in routers}
    idle = {name: cpu(p) for name, p in processes.items()}
    idle_started = time.monotonic()
    time.sleep(args.seconds)  # each router's own CPU with no request: its background work
    idle_rate = {name: (cpu(p) - idle[name]) / (time.monotonic() - idle_started) for name, p in processes.items()}
    for route in routes.values():  # the first requests open connections: not measured
        asyncio.run(paced(base + route, body, args.rate, 2))
    seen = {arm: {"results": [], "cpu": 0.0} for arm in routes}
    for _ in range(args.rounds):
        for arm, route in routes.items():
            process = processes.get(arm)
            before, started = (cpu(process) if process else 0.0), time.monotonic()
            seen[arm]["results"] += asyncio.run(paced(base + route, body, args.rate, args.seconds))
            if process:
                seen[arm]["cpu"] += cpu(process) - before - idle_rate[arm] * (time.monotonic() - started)
    report = {}
    for arm, got in seen.items():
        answered = [ms for ms, ok in got["results"] if ok]
        sent = len(got["results"])
        report[arm] = {"sent": sent, "failed": sent - len(answered), "p50Ms": quantile(answered, 0.5),
                       "p99Ms": quantile(answered, 0.99),
                       "routerCpuUsPerRequest": round(got["cpu"] / sent * 1e6) if arm in routers and sent else None}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--router", action="append", required=True, metavar="NAME=IMPORT_PATH",
                        help="A router to measure, e.g. after=serve_apps.canary_router:app (repeat it).")
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="Each arm's load per round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    routers = dict(spec.split("=", 1) for spec in args.router)

    from serve_apps.deployer import wait_until_healthy
    from serve_apps.local import read_state

    state = read_state()
    if state is None:
        raise SystemExit("no local cluster: start one with 'rayfleet local up'")
    before, _ = deploy(state, routers)
    try:
        report = measure(state, routers, args)
    finally:
        state.dashboard().put_applications(before)
        wait_until_healthy(state.dashboard(), [a["name"] for a in before["applications"]], timeout_s=600, poll_s=2)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for arm, row in report.items():
        cpu_text = f", router CPU {row['routerCpuUsPerRequest']} us/request" if row["routerCpuUsPerRequest"] else ""
        print(f"{arm:>10}: {row['sent']} sent, {row['failed']} failed, p50 {row['p50Ms']} ms, p99 {row['p99Ms']} ms{cpu_text}")


if __name__ == "__main__":
    main()
