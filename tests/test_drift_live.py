"""The digits app on a real Ray Serve publishes its drift where CloudWatch's agent scrapes Ray's metrics.

The session's shared local cluster (tests/fakes/session_cluster.py) runs the app beside dev's, and
leaves it for `local down`; the driver runs in a subprocess, so that its Ray connection and token
mode end with it. Shifted digits must show up in Ray's Prometheus export as contract.DRIFT_METRIC,
tagged with the application's name, over the configured threshold.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from components.contract import APPLICATION_LABEL, DRIFT_METRIC
from serve_apps.monitoring import THRESHOLD_ENV
from stacks.config import DriftConfig
from tests.fakes.environments import ROOT
from tests.fakes.session_cluster import driver_env, metrics_export_port

pytestmark = pytest.mark.slow

APP = "digits-live"

#: Serve the app, send it 600 shifted images through a handle, ask it to publish, print its answer.
DRIVER = """
import json, sys
import numpy as np
import ray
from ray import serve
from serve_apps.digits.app import Digits, DigitsArgs
from serve_apps.digits.model import held_back

gcs, http_port, model_uri, name = sys.argv[1:5]
ray.init(address=gcs, logging_level="ERROR", log_to_driver=False)
serve.start(http_options={"host": "127.0.0.1", "port": int(http_port)})
# The app's own deployment and args, with no CPU of its own: the session cluster's CPUs belong to dev's
# applications, which autoscale (a second digits replica leaves half a CPU, and Serve would wait for a node).
a = DigitsArgs.model_validate({"modelUri": model_uri, "driftPublishEvery": 100})
digits = Digits.options(ray_actor_options={"num_cpus": 0}).bind(
    a.model_uri, a.max_batch_size, a.batch_wait_timeout_s, a.drift_window, a.drift_publish_every)
handle = serve.run(digits, name=name, route_prefix="/" + name)
pixels = held_back()[0].reshape(-1, 8, 8)
shifted = np.zeros_like(pixels)
shifted[:, :, 1:] = pixels[:, :, :-1]
rows = np.concatenate([shifted, shifted, shifted]).reshape(-1, 64)[:600].tolist()
for start in range(0, len(rows), 200):
    handle.predict.remote({"instances": rows[start:start + 200]}).result()
print(json.dumps(handle.drift.remote().result()))
"""


def _metric_lines(url: str) -> list[str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return [line for line in response.read().decode().splitlines() if line.startswith(DRIFT_METRIC + "{")]


def test_shifted_digits_reach_rays_prometheus_export_as_the_drift_metric_over_the_threshold(local_cluster, rayfleet_home):
    state = local_cluster["state"]
    threshold = DriftConfig().threshold
    # The model `local up` built for dev's digits app (serve_apps.digits.model.build_model): no second training.
    model_uri = (rayfleet_home / "models" / "digits-v1.json").as_uri()
    driver = subprocess.run(
        [sys.executable, "-c", DRIVER, state.gcs_address, str(state.serve_port), model_uri, APP],
        cwd=ROOT, env=driver_env(state, **{THRESHOLD_ENV: str(threshold)}), capture_output=True, text=True,
        timeout=300,
    )
    assert driver.returncode == 0, driver.stderr[-3000:]
    drift = json.loads(driver.stdout.splitlines()[-1])
    assert drift["samples"] == 600 and drift["score"] > threshold
    # The agent on the head exports what the replica set, at Ray's metrics report interval.
    metrics_url = f"http://127.0.0.1:{metrics_export_port(state)}/metrics"
    deadline, lines = time.monotonic() + 90, []
    while not lines and time.monotonic() < deadline:
        lines = [line for line in _metric_lines(metrics_url) if f'{APPLICATION_LABEL}="{APP}"' in line]
        time.sleep(2)
    assert lines, f"no {DRIFT_METRIC} series for {APP} at {metrics_url}"
    assert float(lines[-1].rsplit(" ", 1)[1]) == pytest.approx(drift["score"])
