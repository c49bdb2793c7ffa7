"""Benchmark: the model apps served three ways on this machine, side by side in one run, under the same load.

    .venv/bin/python tests/benchmarks/serve_ingress.py                 # digits and sentiment, 2,000 requests per mode
    .venv/bin/python tests/benchmarks/serve_ingress.py --apps digits --requests 500 --json

For each app (`digits`, `sentiment`):

1. `plain`: the app's own request parsing and model code behind FastAPI/uvicorn
   in one process, no Ray, no access log: the baseline;
2. `serve-python`: Ray Serve with its Python proxy (`rayfleet:serve.ingress: python`);
3. `serve-haproxy`: Ray Serve the way rayfleet runs it by default (`haproxy`:
   Serve's HAProxy ingress and its throughput-optimized mode).

Both Serve modes start their head exactly as `rayfleet local up` does
(`serve_apps.local.start_head`: the same environment, ports and loopback-only
HAProxy), deploy the real applications through the same REST deployer with the
same replicas, and are stopped with `local down`'s code. Each mode gets
`--warmup` requests, then `--requests` single-item POSTs from `--concurrency`
concurrent clients (aiohttp, one event loop), stopped after `--max-seconds`
whatever happens. Prints throughput and p50/p99 per app and mode, and whether
rayfleet's default path reached the target on digits: >= 1.0x the plain
server's throughput with p99 <= 50 ms. Everything binds 127.0.0.1.

Where the time goes: during each measured run, the CPU time of every process
on the machine (psutil), per request, grouped by what it is (the load client,
the plain server, the replicas, HAProxy, Serve's HAProxy manager or proxy
actor, the rest of Ray). On a machine whose cores the client shares, CPU per
request is what sets the ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TARGET_SPEEDUP = 1.0
TARGET_P99_MS = 50.0
APPS = ("digits", "sentiment")
SERVE_MODES = {"serve-python": "python", "serve-haproxy": "haproxy"}
TEXTS = ("rayfleet makes this easy and I love it", "the deploy failed again, awful", "it is a cluster",
         "great latency, terrible bill", "spot capacity came back and the service never noticed")


def payloads(app: str, count: int) -> list[bytes]:
    if app == "digits":
        from serve_apps.digits.model import held_back

        rows = held_back()[0].tolist()
        return [json.dumps({"pixels": rows[i % len(rows)]}).encode() for i in range(count)]
    return [json.dumps({"text": TEXTS[i % len(TEXTS)]}).encode() for i in range(count)]


def answered(app: str, doc) -> bool:
    return isinstance(doc, dict) and ("digit" in doc if app == "digits" else "label" in doc)


async def drive(app: str, url: str, bodies: list[bytes], concurrency: int, max_seconds: float) -> dict:
    """POST every body with `concurrency` workers; latencies of the good answers, wall time, errors.

    aiohttp, not httpx: on a 2-core machine the client shares the CPUs with the
    server, and httpx spends several times more CPU per request.
    """
    import aiohttp

    latencies: list[float] = []
    errors = 0
    queue = list(reversed(bodies))
    deadline = time.perf_counter() + max_seconds
    headers = {"Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while queue and time.perf_counter() < deadline:
            body = queue.pop()
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    ok = response.status == 200 and answered(app, await response.json())
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {"latencies": latencies, "errors": errors, "wall": wall}


def summarize(app: str, mode: str, result: dict) -> dict:
    lat = sorted(result["latencies"])
    done = len(lat)

    def pct(p: float) -> float:
        return lat[min(done - 1, int(p * done))] * 1000 if done else float("nan")

    return {
        "app": app,
        "mode": mode,
        "requests": done,
        "errors": result["errors"],
        "throughput": done / result["wall"] if result["wall"] else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
    }


def wait_http(url: str, body: bytes, timeout: float = 120) -> None:
    import httpx  # one request at a time: speed does not matter here

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.post(url, content=body, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds (user + system) so far."""
    import psutil

    found = {}
    for proc in psutil.process_iter(["name"]):
        try:
            times = proc.cpu_times()
            found[proc.pid] = (proc.info["name"] or "", times.user + times.system)
        except psutil.Error:
            continue
    return found


def role(pid: int, name: str, server_pid: int | None) -> str:
    if pid == os.getpid():
        return "load client"
    if pid == server_pid:
        return "plain server"
    if name.startswith("ray::ServeReplica"):
        return "Serve replicas"
    if name == "haproxy":
        return "HAProxy"
    if name.startswith("ray::HAProxyManager"):
        return "Serve's HAProxy manager"
    if name.startswith("ray::ProxyActor"):
        return "Serve's Python proxy"
    return "Ray and the rest"


def cpu_per_request(before: dict, after: dict, requests: int, server_pid: int | None) -> dict[str, float]:
    """Microseconds of CPU per request, by role, between two `cpu_seconds` readings."""
    used: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        spent = seconds - before.get(pid, (name, 0.0))[1]
        if spent > 0:
            key = role(pid, name, server_pid)
            used[key] = used.get(key, 0.0) + spent
    return {key: round(seconds / requests * 1e6) for key, seconds in sorted(used.items())} if requests else {}


def run_load(app: str, mode: str, url: str, args, server_pid: int | None = None) -> dict:
    bodies = payloads(app, max(args.requests, args.warmup))
    wait_http(url, bodies[0])
    asyncio.run(drive(app, url, bodies[: args.warmup], args.concurrency, args.max_seconds))
    before = cpu_seconds()
    row = summarize(app, mode, asyncio.run(drive(app, url, bodies[: args.requests], args.concurrency, args.max_seconds)))
    row["cpu_us_per_request"] = cpu_per_request(before, cpu_seconds(), row["requests"], server_pid)
    print(f"  {app} {mode}: {row['requests']} ok, {row['errors']} errors, {row['throughput']:.0f} req/s, "
          f"p99 {row['p99_ms']:.1f} ms", file=sys.stderr)
    return row


# --- the plain server (a subprocess of this script) ----------------------------


def plain_app(app: str, model_uri: str):
    """The app's own parsing, model code and 4xx answers (serve_apps.handling) behind a raw Starlette route."""
    from fastapi import FastAPI
    from starlette.requests import Request

    from serve_apps.handling import answer_http

    if app == "digits":
        from serve_apps.digits.app import classify
        from serve_apps.digits.model import load_model
        from serve_apps.inputs import parse_digits

        model = load_model(model_uri)

        async def predict(rows):
            return classify(model, rows)

        parse, many = parse_digits, "predictions"
    else:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        from serve_apps.inputs import parse_sentiment
        from serve_apps.sentiment.app import score_text

        analyzer = SentimentIntensityAnalyzer()

        async def predict(texts):
            return [score_text(analyzer, text) for text in texts]

        parse, many = parse_sentiment, "results"

    async def route(request: Request):
        return await answer_http(request, parse=parse, predict=predict, app=app, many=many)

    server = FastAPI()
    server.add_route(f"/{app}", route, methods=["POST"])
    return server


def serve_plain(port: int, app: str, model_uri: str) -> None:
    import uvicorn

    uvicorn.run(plain_app(app, model_uri), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def run_plain(app: str, model_uri: str, args) -> dict:
    from serve_apps.ports import free_port

    port = free_port()
    command = [sys.executable, __file__, "--serve-plain", str(port), "--plain-app", app, "--model-uri", model_uri]
    plain = subprocess.Popen(command)
    try:
        return run_load(app, "plain", f"http://127.0.0.1:{port}/{app}", args, server_pid=plain.pid)
    finally:
        plain.terminate()
        plain.wait(timeout=10)


# --- the Serve modes -------------------------------------------------------------


def serve_config(apps: list[str], model_uri: str, port: int, args) -> dict:
    """The real applications, the same fixed replicas in both modes, room for the whole load in flight."""
    entries = []
    for app in apps:
        entry = {"name": app, "import_path": f"serve_apps.{app}:app", "route_prefix": f"/{app}",
                 "args": {"modelUri": model_uri} if app == "digits" else {},
                 "deployments": [{"name": app.capitalize(), "num_replicas": args.replicas,
                                  "max_ongoing_requests": args.concurrency * 2,
                                  "ray_actor_options": {"num_cpus": 0}}]}
        entries.append(entry)
    return {"proxy_location": "EveryNode", "http_options": {"host": "127.0.0.1", "port": port},
            "logging_config": {"encoding": "JSON"}, "applications": entries}


def run_serve(mode: str, apps: list[str], model_uri: str, args) -> list[dict]:
    """Start a head as `local up` does with `mode`'s ingress, deploy, load each app, stop it as `local down` does."""
    from serve_apps import local
    from serve_apps.deployer import deploy
    from serve_apps.history import History
    from serve_apps.ports import free_port

    port = free_port()
    print(f"Ray Serve, {mode} ({args.replicas} replicas per app)", file=sys.stderr)
    state = local.start_head(free_port(), free_port(), port, float(os.cpu_count() or 1), SERVE_MODES[mode])
    try:
        deploy(state.dashboard(), serve_config(apps, model_uri, port, args),
               history=History.for_target(state.dashboard_url), confirm_removal=lambda names: False,
               note=f"benchmark {mode}")
        return [run_load(app, mode, f"http://127.0.0.1:{port}/{app}", args) for app in apps]
    finally:
        local.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", nargs="+", choices=APPS, default=list(APPS))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="Stop each load run after this long.")
    parser.add_argument("--replicas", type=int, default=2, help="Replicas of each app in both Serve modes.")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    parser.add_argument("--serve-plain", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--plain-app", choices=APPS, help=argparse.SUPPRESS)
    parser.add_argument("--model-uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_plain:
        serve_plain(args.serve_plain, args.plain_app, args.model_uri)
        return

    from serve_apps.digits.model import build_model

    home = Path(tempfile.mkdtemp(prefix="rf-bench-home-"))
    os.environ["RAYFLEET_HOME"] = str(home)  # the heads' state, token and deploy history: not the user's
    os.environ.pop("RAY_ADDRESS", None)
    try:
        model_uri = build_model(home / "models").as_uri()
        rows = []
        for app in args.apps:
            print(f"plain FastAPI/uvicorn, one process: {app}", file=sys.stderr)
            rows.append(run_plain(app, model_uri, args))
        for mode in SERVE_MODES:
            rows.extend(run_serve(mode, args.apps, model_uri, args))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    report(rows, args)


def verdict(rows: list[dict]) -> dict | None:
    """rayfleet's default path against the plain server on digits, and whether it met the target."""
    by = {(r["app"], r["mode"]): r for r in rows}
    if ("digits", "plain") not in by or ("digits", "serve-haproxy") not in by:
        return None
    ours, plain = by[("digits", "serve-haproxy")], by[("digits", "plain")]
    speedup = ours["throughput"] / plain["throughput"] if plain["throughput"] else 0.0
    return {"speedup": speedup, "p99_ms": ours["p99_ms"],
            "met": speedup >= TARGET_SPEEDUP and ours["p99_ms"] <= TARGET_P99_MS and ours["errors"] == 0}


def report(rows: list[dict], args) -> None:
    result = verdict(rows)
    if args.json:
        print(json.dumps({"rows": rows, "digitsTarget": result, "cpus": os.cpu_count(), "requests": args.requests,
                          "concurrency": args.concurrency, "replicas": args.replicas}, indent=2))
        return
    print(f"{args.requests} single-item POSTs per app and mode, {args.concurrency} concurrent, {os.cpu_count()} CPUs, "
          f"{args.replicas} replicas per app in Serve")
    print(f"{'app':<11}{'mode':<15}{'ok':>7}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs plain':>10}")
    plain = {r["app"]: r["throughput"] for r in rows if r["mode"] == "plain"}
    for r in rows:
        ratio = f"{r['throughput'] / plain[r['app']]:.2f}x" if plain.get(r["app"]) else "-"
        print(f"{r['app']:<11}{r['mode']:<15}{r['requests']:>7}{r['errors']:>8}{r['throughput']:>9.0f}"
              f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{ratio:>10}")
    if result is not None:
        print(f"digits, rayfleet's default path (serve-haproxy) / plain: {result['speedup']:.2f}x at p99 "
              f"{result['p99_ms']:.1f} ms; target >= {TARGET_SPEEDUP:g}x at p99 <= {TARGET_P99_MS:g} ms: "
              + ("met" if result["met"] else "NOT met"))
    print_cpu(rows)


def print_cpu(rows: list[dict]) -> None:
    """CPU microseconds per request by role, one column per app and mode."""
    roles = sorted({key for r in rows for key in r["cpu_us_per_request"]}, key=lambda k: (k == "Ray and the rest", k))
    labels = [f"{r['app']} {r['mode'].removeprefix('serve-')}" for r in rows]
    print("\nCPU per request, microseconds (all processes on the machine, during each measured run):")
    print(f"{'':<26}" + "".join(f"{label:>19}" for label in labels))
    for key in roles:
        print(f"{key:<26}" + "".join(f"{r['cpu_us_per_request'].get(key, 0):>19}" for r in rows))
    print(f"{'total':<26}" + "".join(f"{sum(r['cpu_us_per_request'].values()):>19}" for r in rows))


if __name__ == "__main__":
    main()
