"""The agent's config against a real Ray session: the files it tails and the metrics it keeps exist.

The session's shared local cluster (tests/fakes/session_cluster.py) runs one more Serve application
(left for `local down`), that logs as JSON, answers requests, fails one on purpose and sets the drift gauge
the way an application does. The config a node would run is rendered for that session's layout, and
every file glob it ships must match a file, and Ray's metrics endpoint must answer with every name
its metric declaration keeps.
"""

from __future__ import annotations

import glob
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from components.contract import APPLICATION_LABEL, metrics_namespace
from components.ray_cluster.cloudwatch_agent import Shipping, agent_config, kept_metrics, log_files, metrics_url
from tests.fakes.environments import ROOT
from tests.fakes.session_cluster import driver_env, metrics_export_port

pytestmark = pytest.mark.slow  # a Ray head and a Serve application: a minute or more

APP = "echo"

#: The driver that deploys the application, sends its requests and leaves it running.
DEPLOY = """
import sys, urllib.error, urllib.request
import ray
from ray import serve
from ray.util import metrics

gcs_port, http_port = sys.argv[1], int(sys.argv[2])
ray.init(address=f"127.0.0.1:{gcs_port}", log_to_driver=False)
serve.start(http_options={"host": "127.0.0.1", "port": http_port})


# No CPU reserved: the shared cluster keeps its CPUs for dev's replicas and the drift test's app.
@serve.deployment(logging_config={"encoding": "JSON"}, ray_actor_options={"num_cpus": 0})
class Echo:
    def __init__(self):
        # What an application's drift monitor does: the gauge, tagged with the application's name.
        drift = metrics.Gauge(DRIFT_GAUGE, "drift of the inputs", tag_keys=(APPLICATION_LABEL,))
        drift.set(0.05, tags={APPLICATION_LABEL: "echo"})
        self.drift = drift

    async def __call__(self, request):
        self.drift.set(0.05, tags={APPLICATION_LABEL: "echo"})
        if request.query_params.get("fail"):
            raise ValueError("asked to fail")
        return "ok"


serve.run(Echo.bind(), name="echo", route_prefix="/echo")
for query in ("", "", "", "?fail=1"):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{http_port}/echo{query}", timeout=30).read()
    except urllib.error.HTTPError as err:
        assert err.code == 500, err
"""


def _labels_by_metric(url: str) -> dict[str, set[str]]:
    """Each metric name on the endpoint, with the label names its samples carry."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    labels: dict[str, set[str]] = {}
    for match in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", text, re.MULTILINE):
        names = re.findall(r'(?:^|,)([a-zA-Z_][a-zA-Z0-9_]*)="', match.group(2) or "")
        labels.setdefault(match.group(1), set()).update(names)
    return labels


def test_the_agent_config_names_files_and_metrics_a_ray_session_has(tmp_path, local_cluster):
    state = local_cluster["state"]
    boot_log = tmp_path / "rayfleet-boot.log"  # the user data's log: a node writes it, a Ray session does not
    boot_log.write_text("rayfleet boot: started\n")
    shipping = Shipping("rayfleet-dev-us-west-2", "head", metrics_namespace("dev"), "/rayfleet/x",
                        ray_logs=f"{state.temp_dir}/session_latest/logs", boot_log=str(boot_log),
                        metrics_port=metrics_export_port(state))  # as a node's METRICS_EXPORT_PORT
    config = agent_config(shipping)
    script = tmp_path / "deploy.py"
    script.write_text(f"from components.contract import APPLICATION_LABEL, DRIFT_GAUGE\n{DEPLOY}")
    run = subprocess.run([sys.executable, str(script), str(state.gcs_port), str(state.serve_port)],
                         env=driver_env(state), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    _assert_files_and_metrics(state.temp_dir, config, shipping)


def _assert_files_and_metrics(temp_dir: str, config: dict, shipping: Shipping) -> None:
    for entry in log_files(config):
        assert glob.glob(entry["file_path"]), f"nothing matches {entry['file_path']}"
    replica_logs = glob.glob(f"{temp_dir}/session_latest/logs/serve/replica_{APP}_*.log")
    assert replica_logs
    lines = [json.loads(line) for path in replica_logs for line in Path(path).read_text().splitlines()]
    assert any(line.get("route") == "/echo" for line in lines)  # Serve's JSON request log

    # Ray drops a gauge two report intervals (metrics_report_interval_ms, 10 s) after it was last
    # set: the agent's scrapes over a minute see what this one sees, polled every second.
    wanted, seen = set(kept_metrics(config)), {}
    deadline = time.monotonic() + 60
    while not wanted <= _with_application(seen) and time.monotonic() < deadline:
        for name, labels in _labels_by_metric(metrics_url(shipping)).items():
            seen.setdefault(name, set()).update(labels)
        time.sleep(1)
    assert wanted <= seen.keys(), f"Ray's endpoint lacks {sorted(wanted - seen.keys())}"
    # The declaration's dimensions are [Cluster, application]: the agent drops a metric without the label.
    assert wanted <= _with_application(seen), (
        f"without the {APPLICATION_LABEL} label: {sorted(wanted - _with_application(seen))}"
    )


def _with_application(seen: dict[str, set[str]]) -> set[str]:
    return {name for name, labels in seen.items() if APPLICATION_LABEL in labels}
