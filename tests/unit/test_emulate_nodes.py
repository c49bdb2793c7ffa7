"""The emulated nodes' pieces that decide things: IMDS's answers, the units as systemd reads them, the venv's pip
check, the ID routing to moto, and how a stalled boot is explained."""

from __future__ import annotations

import base64
import gzip
import os
import re
import shutil
import socket
import struct
import tempfile
from pathlib import Path

import pytest

from components.drills.emulate.aws_routing import id_rules, rewrite
from components.drills.emulate.boot import failed_boots, node_state, script_steps, stalled
from components.drills.emulate.control_plane import Created
from components.drills.emulate.node_imds import answer, metadata
from components.drills.emulate.node_units import parse_unit, read_environment_file, should_restart, unit_environment
from components.drills.emulate.node_venv import unmet
from components.drills.emulate.dns import answer as answer_dns
from components.drills.emulate.network import resolver
from components.drills.emulate.nodes import user_data_script
from components.drills.emulate.plane import SECRET, ZONE
from components.ray_cluster.userdata import HEAD_RECORD_TTL, encode_user_data, render_worker
from tests.fakes.node_boots import CPU_WORKER, written

PATHS = metadata("i-0abc", "10.30.16.4", "us-west-2a", "m6i.large")


def test_imds_answers_metadata_only_with_a_session_token():
    tokens: set[str] = set()
    assert answer("GET", "/latest/meta-data/local-ipv4", {}, PATHS, tokens) == (401, "")
    status, token = answer("PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"}, PATHS, tokens)
    assert status == 200
    headers = {"x-aws-ec2-metadata-token": token}
    assert answer("GET", "/latest/meta-data/local-ipv4", headers, PATHS, tokens) == (200, "10.30.16.4")
    assert answer("GET", "/latest/meta-data/placement/region", headers, PATHS, tokens) == (200, "us-west-2")


@pytest.mark.parametrize("ttl", ["0", "21601", "", "ten"])
def test_imds_refuses_a_token_ttl_outside_1_to_21600_seconds(ttl):
    # IMDSv2: X-aws-ec2-metadata-token-ttl-seconds is 1 to 21600 (6 hours), else 400.
    assert answer("PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": ttl}, PATHS, set())[0] == 400


def test_imds_answers_404_for_a_spot_notice_until_one_is_set():
    tokens: set[str] = set()
    _, token = answer("PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"}, PATHS, tokens)
    headers = {"x-aws-ec2-metadata-token": token}
    assert answer("GET", "/latest/meta-data/spot/instance-action", headers, PATHS, tokens)[0] == 404
    notice = '{"action": "terminate", "time": "2026-11-30T14:00:00Z"}'
    paths = {**PATHS, "spot/instance-action": notice}
    assert answer("GET", "/latest/meta-data/spot/instance-action", headers, paths, tokens) == (200, notice)


def test_the_workers_ray_unit_is_read_as_systemd_reads_it():
    script = render_worker(CPU_WORKER)
    unit = parse_unit("ray.service", written(script, "/etc/systemd/system/ray.service"))
    assert unit.exec_start == ("/opt/rayfleet/bin/start-ray",)
    assert (unit.user, unit.group, unit.working_directory) == ("ray", "ray", "/opt/rayfleet/agents")
    assert unit.environment_files == ("/etc/rayfleet/ray.env",)
    assert (unit.restart, unit.restart_sec) == ("always", 10.0)


def test_a_unit_gets_its_environment_files_over_systemds_path_and_the_aws_shim_only(tmp_path):
    env_file = tmp_path / "ray.env"
    env_file.write_text('# comment\nPATH=/opt/rayfleet/venv/bin:/usr/bin\nRAY_AUTH_MODE="token"\n')
    text = f"[Service]\nExecStart=/bin/true\nUser=root\nEnvironmentFile={env_file}\nEnvironmentFile=-{tmp_path}/none\n"
    unit = parse_unit("x.service", text)
    env = unit_environment(unit, {"AWS_ENDPOINT_URL": "http://10.30.0.1:5000", "SECRET_OF_THE_CALLER": "x"})
    assert env["PATH"] == "/opt/rayfleet/venv/bin:/usr/bin"
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["AWS_ENDPOINT_URL"] == "http://10.30.0.1:5000"
    assert "SECRET_OF_THE_CALLER" not in env
    assert read_environment_file("A='b c'\n\n; x\n") == {"A": "b c"}


def test_restart_always_restarts_on_any_exit_and_on_failure_only_on_a_failure():
    always = parse_unit("a", "[Service]\nExecStart=/bin/true\nRestart=always\n")
    failure = parse_unit("b", "[Service]\nExecStart=/bin/true\nRestart=on-failure\n")
    never = parse_unit("c", "[Service]\nExecStart=/bin/true\n")
    assert (should_restart(always, 0), should_restart(failure, 0), should_restart(failure, 1)) == (True, False, True)
    assert should_restart(never, 1) is False


def test_the_node_venvs_pip_names_a_pinned_requirement_the_environment_does_not_meet():
    import ray

    assert unmet([f"ray[serve]=={ray.__version__}", "boto3>=1.34,<2"]) == []
    assert unmet(["ray[serve]==0.0.1"]) == [f"ray[serve]==0.0.1 (installed: {ray.__version__})"]
    assert unmet(["not-a-package-here==1"]) == ["not-a-package-here==1 (not installed)"]


def test_the_router_maps_the_planned_zone_id_and_secret_arn_to_motos():
    created = [
        Created(ZONE, "zone", "Z03D646E494573EE6E2DE", "/hostedzone/ABCDEF123"),
        Created(SECRET, "token", "cluster-us-west-2-dashboard-token-78d8994",
                "arn:aws:secretsmanager:us-west-2:123456789012:secret:cluster-us-west-2-dashboard-token-78d8994-XyZ123"),
    ]
    planned = "arn:aws:secretsmanager:us-west-2:123456789012:secret:cluster-us-west-2-dashboard-token-78d8994-1be94b"
    rules = id_rules(created, {"cluster-us-west-2-dashboard-token-78d8994": planned})
    body = (b'{"SecretId": "arn:aws:secretsmanager:us-west-2:123456789012:secret:'
            b'cluster-us-west-2-dashboard-token-78d8994-1be94b"}')
    assert rewrite(body, rules) == (b'{"SecretId": "arn:aws:secretsmanager:us-west-2:123456789012:secret:'
                                    b'cluster-us-west-2-dashboard-token-78d8994-XyZ123"}')
    assert rewrite(b"/2013-04-01/hostedzone/Z03D646E494573EE6E2DE/rrset", rules) == b"/2013-04-01/hostedzone/ABCDEF123/rrset"
    assert rewrite(b"unrelated Z0 bytes", rules) == b"unrelated Z0 bytes"


def test_a_node_runs_the_user_data_cloud_init_would_run_gzip_or_not():
    script = render_worker(CPU_WORKER)
    assert user_data_script(encode_user_data(script)) == script
    packed = base64.b64encode(gzip.compress(script.encode())).decode()
    assert user_data_script(packed) == script


RECORDS = {"head.rayfleet-dev-us-west-2.rayfleet.internal": "10.30.0.4"}


def _query(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", qtype, 1)


def test_the_vpc_resolver_answers_the_private_zones_a_record():
    response = answer_dns(_query("head.rayfleet-dev-us-west-2.rayfleet.internal"), RECORDS)
    ident, flags, questions, answers = struct.unpack("!HHHH", response[:8])
    assert (ident, flags & 0x8000, flags & 0xF, questions, answers) == (0x1234, 0x8000, 0, 1, 1)
    assert socket.inet_ntoa(response[-4:]) == "10.30.0.4"
    assert struct.unpack("!I", response[-10:-6])[0] == HEAD_RECORD_TTL


def test_the_vpc_resolver_answers_nxdomain_for_a_name_the_zone_lacks_and_nodata_for_aaaa():
    assert struct.unpack("!H", answer_dns(_query("example.com"), RECORDS)[2:4])[0] & 0xF == 3
    nodata = answer_dns(_query("head.rayfleet-dev-us-west-2.rayfleet.internal", qtype=28), RECORDS)
    assert struct.unpack("!HH", nodata[2:4] + nodata[6:8]) == (0x8580, 0)


def test_the_vpc_resolver_is_at_the_vpc_base_plus_two():
    assert resolver("10.30.0.0/16") == "10.30.0.2"


def test_the_boot_steps_are_read_from_the_script_in_order():
    steps = script_steps(render_worker(CPU_WORKER))
    assert steps[:3] == ["cache no negative DNS answers", "install packages", "install Ray"]
    assert steps.index("wait for the dashboard token") < steps.index("wait for the head address") < steps.index("start Ray")


class _Node:
    def __init__(self, steps, failed=None, code=None):
        self.instance_id, self.group, self.address = "i-0abc", "rayfleet-dev-us-west-2-cpu-spot", "10.30.16.4"
        self._steps, self._failed, self._code = steps, failed, code

    def steps(self):
        return self._steps

    def failed_step(self):
        return self._failed

    def boot_exit(self):
        return self._code


def test_a_stalled_boot_names_each_nodes_step():
    waiting = _Node(["install Ray", "wait for the dashboard token"])
    assert node_state(waiting) == "boot still in step 'wait for the dashboard token'"
    failed = _Node(["wait for the head address"], failed="wait for the head address", code=1)
    assert node_state(failed) == "boot FAILED in step 'wait for the head address'"
    message = stalled([waiting], "workers joined", 120)
    assert message == ("the boot did not reach workers joined within 120 s. node i-0abc "
                              "(rayfleet-dev-us-west-2-cpu-spot, 10.30.16.4): boot still in step "
                              "'wait for the dashboard token'. Fix: read each node's boot log (layers/var.up/log/"
                              "rayfleet-boot.log in its directory) and correct the user data's step that did not happen")
    assert failed_boots([waiting, failed]) == [
        "node i-0abc (rayfleet-dev-us-west-2-cpu-spot, 10.30.16.4): boot FAILED in step 'wait for the head address'"]
    assert re.search(r"No instance was launched", stalled([], "the head's Ray answering", 150))


class _Paginator:
    def __init__(self, groups):
        self.groups = groups

    def paginate(self):
        return [{"AutoScalingGroups": self.groups}]


class _Autoscaling:
    def __init__(self, count):
        self.instances = [{"InstanceId": f"i-{n}", "LifecycleState": "InService"} for n in range(count)]

    def get_paginator(self, _name):
        return _Paginator([{"AutoScalingGroupName": "rayfleet-dev-us-west-2-cpu-spot", "Instances": self.instances,
                            "Tags": [{"Key": "rayfleet:node-type", "Value": "cpu"}]}])


class _Ec2:
    def describe_instances(self, InstanceIds):
        return {"Reservations": [{"Instances": [{"InstanceId": i, "State": {"Name": "running"}} for i in InstanceIds]}]}


def test_a_region_that_runs_more_than_four_instances_is_refused_with_a_fix(tmp_path):
    from components.drills.emulate.control_plane import ControlPlane
    from components.drills.emulate.nodes import NodeRunner
    from components.errors import RayfleetError

    runner = NodeRunner(None, ControlPlane("us-west-2", "http://127.0.0.1:1"), None, tmp_path, "http://10.30.0.1:1")
    with pytest.raises(RayfleetError) as raised:
        runner.poll(_Autoscaling(5), _Ec2(), None)
    assert str(raised.value) == (
        "the emulated region runs 5 instances; this machine runs at most 4 nodes. Fix: emulate an environment "
        "whose groups' sizes add up to 4 or fewer (dev's), or lower its maxWorkers in a stack file of its own")
    assert runner.nodes == {}


def test_the_emulator_sets_and_clears_a_nodes_spot_notice_in_its_imds(tmp_path):
    import json

    from components.drills.emulate.nodes import Node

    (tmp_path / "imds.json").write_text(json.dumps(PATHS))
    node = Node("i-0abc", "rayfleet-dev-us-west-2-cpu-spot", "10.30.16.4", "rfn1-1", tmp_path, None, 0.0)
    notice = '{"action": "terminate", "time": "2026-11-30T14:02:00Z"}'
    node.set_metadata("spot/instance-action", notice)
    tokens: set[str] = set()
    _, token = answer("PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"}, PATHS, tokens)
    read = lambda: answer("GET", "/latest/meta-data/spot/instance-action", {"x-aws-ec2-metadata-token": token},
                          json.loads((tmp_path / "imds.json").read_text()), tokens)  # noqa: E731
    assert read() == (200, notice)
    node.set_metadata("spot/instance-action", None)
    assert read() == (404, "")


class _Runner:
    """What the boot scenario's checks read of the node runner."""

    def __init__(self, errors=(), failures=()):
        self.errors, self._failures, self.run_dir = list(errors), list(failures), "/run"

    def boot_failures(self):
        return self._failures


def test_a_node_runner_error_after_the_head_is_up_fails_the_scenario_with_it():
    from components.errors import RayfleetError
    from serve_apps.emulated_region import _check_boots

    with pytest.raises(RayfleetError) as raised:
        _check_boots(_Runner(errors=["the emulated region runs 5 instances; ..."]))
    assert str(raised.value) == "the node runner failed: the emulated region runs 5 instances; ..."
    _check_boots(_Runner())  # nothing failed: nothing raised


def test_the_node_runner_retries_an_aws_error_and_stops_at_once_on_a_broken_rule(tmp_path):
    from components.drills.emulate.control_plane import ControlPlane
    from components.drills.emulate.nodes import POLL_RETRIES, NodeRunner
    from components.errors import RayfleetError

    runner = NodeRunner(None, ControlPlane("us-west-2", "http://127.0.0.1:1"), None, tmp_path, "http://10.30.0.1:1")
    outcomes = [ConnectionResetError("reset by peer"), None]

    def poll(*_clients):
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    runner.poll = poll
    assert runner.poll_once((None, None, None)) is True
    assert runner.poll_once((None, None, None)) is True
    assert (runner.errors, runner.poll_failures) == ([], [])
    outcomes[:] = [OSError("moto is gone")] * POLL_RETRIES
    assert [runner.poll_once((None, None, None)) for _ in range(POLL_RETRIES)] == [True] * (POLL_RETRIES - 1) + [False]
    assert runner.errors == [f"{POLL_RETRIES} polls in a row failed, the last with OSError: moto is gone"]
    runner.errors.clear()
    outcomes[:] = [RayfleetError("a rule broken")]
    assert runner.poll_once((None, None, None)) is False
    assert runner.errors == ["a rule broken"]


class _Group:
    def __init__(self, name, min_size, desired, max_size):
        self.type, self.region = "aws:autoscaling/group:Group", re.search(r"[a-z]{2}-[a-z]+-\d", name).group()
        self.inputs = {"name": name, "minSize": min_size, "desiredCapacity": desired, "maxSize": max_size}


def test_a_region_whose_groups_launch_more_than_four_instances_is_refused_before_any_node_boots():
    from components.drills.emulate.plane import check_node_budget, launched_at_once
    from components.errors import RayfleetError

    groups = [_Group("rayfleet-prod-us-east-1-head", 1, 1, 1), _Group("rayfleet-prod-us-east-1-cpu-spot", 2, 4, 20),
              _Group("rayfleet-prod-eu-west-1-head", 1, 1, 1)]
    launched = launched_at_once(groups, "us-east-1")
    assert launched == {"rayfleet-prod-us-east-1-head": 1, "rayfleet-prod-us-east-1-cpu-spot": 4}
    with pytest.raises(RayfleetError) as raised:
        check_node_budget(launched, 4)
    assert str(raised.value) == (
        "the emulated region's groups launch 5 instances at once (rayfleet-prod-us-east-1-head 1, "
        "rayfleet-prod-us-east-1-cpu-spot 4); this machine runs at most 4 nodes. Fix: emulate an environment "
        "whose groups' minimum sizes add up to 4 or fewer (dev's), or lower its minWorkers in a stack file of its own")
    # dev: the head and workers that scale from zero, up to 4: booted (the autoscaler's growth is checked as it comes)
    check_node_budget(launched_at_once([_Group("rayfleet-dev-us-west-2-head", 1, 1, 1),
                                        _Group("rayfleet-dev-us-west-2-cpu-spot", 0, 0, 4)], "us-west-2"), 4)


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_an_emulation_as_ctrl_c_does(stop):
    import os
    import signal

    from rayfleet.commands.emulate import STOP_SIGNALS, interrupted_by

    number = getattr(signal, stop)
    before = signal.getsignal(number)
    with pytest.raises(KeyboardInterrupt) as raised, interrupted_by(STOP_SIGNALS):
        os.kill(os.getpid(), number)
    assert raised.value.args == (number,)
    assert signal.getsignal(number) is before  # the command's handlers go with the run


def test_a_node_namespace_whose_processes_survive_sigkill_is_named_not_forgotten(monkeypatch):
    from components.drills.emulate import network
    from components.errors import RayfleetError

    monkeypatch.setattr(network, "namespace_pids", lambda _ns: [4194000])  # a process SIGKILL does not end
    monkeypatch.setattr(network, "KILL_WAIT_S", 0.2)
    with pytest.raises(RayfleetError) as raised:
        network.kill_namespace("rfn1a2b-1")
    assert str(raised.value) == (
        "processes 4194000 of node namespace rfn1a2b-1 still run 0.2 s after SIGKILL. Fix: see what they wait for "
        "(`ps -o pid,stat,wchan -p 4194000`), kill them, then `ip netns delete rfn1a2b-1`")


def test_at_start_the_links_and_namespaces_of_runs_whose_process_is_dead_are_swept_and_live_ones_kept():
    from components.drills.emulate.network import dead_runs_names, run_alive

    names = ["lo", "eth0", "rfb1a2b", "rfv1a2b1", "rfn1a2b-1", "rfbbeef", "rfnbeef-2", "rfb-other"]
    assert dead_runs_names(names, alive=lambda run: run == "beef") == ["rfb1a2b", "rfv1a2b1", "rfn1a2b-1"]
    import os

    assert run_alive(f"{os.getpid() % 0xFFFF:04x}") is True


def test_a_second_run_of_one_cidr_is_refused_naming_the_first_runs_pid(tmp_path):
    import os

    from components.drills.emulate.network import cidr_lock
    from components.errors import RayfleetError

    with cidr_lock("10.30.0.0/16", tmp_path):
        with pytest.raises(RayfleetError) as raised, cidr_lock("10.30.0.0/16", tmp_path):
            pass
        with cidr_lock("10.40.0.0/16", tmp_path):
            pass  # another range: its own lock
    assert str(raised.value) == (
        f"another emulated region (pid {os.getpid()}) runs 10.30.0.0/16 on this machine; two runs of one range "
        f"would route it twice. Fix: wait for that run to end, or stop it (`kill -INT {os.getpid()}`)")
    with cidr_lock("10.30.0.0/16", tmp_path):
        pass  # released when the first run ended


def test_a_cidr_this_machine_already_routes_is_refused(monkeypatch):
    from components.drills.emulate import network
    from components.drills.emulate.network import overlapping_routes
    from components.errors import RayfleetError

    routes = ("default via 192.0.2.1 dev eth0 \n"
              "10.30.0.0/16 dev docker0 proto kernel scope link src 10.30.0.1 \n"
              "local 10.30.5.2 dev eth1 table local proto kernel scope host src 10.30.5.2 \n"
              "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2 \n"
              "10.0.0.0/8 via 192.0.2.9 dev eth0 \n")
    assert overlapping_routes(routes, "10.30.0.0/16") == [
        "10.30.0.0/16 dev docker0 proto kernel scope link src 10.30.0.1",
        "local 10.30.5.2 dev eth1 table local proto kernel scope host src 10.30.5.2",
        "10.0.0.0/8 via 192.0.2.9 dev eth0"]
    assert overlapping_routes(routes, "172.16.0.0/16") == []
    monkeypatch.setattr(network, "_ip", lambda *_args: routes.splitlines()[1])
    with pytest.raises(RayfleetError) as raised:
        network.check_unrouted("10.30.0.0/16")
    assert str(raised.value) == (
        "this machine already routes 10.30.0.0/16 or part of it (10.30.0.0/16 dev docker0 proto kernel scope link "
        "src 10.30.0.1). Fix: emulate a region whose VPC cidr this machine does not use (the region's `cidr` in a "
        "stack file of its own)")


def test_the_router_maps_only_the_exact_planned_secret_arn():
    created = [Created(SECRET, "token", "cluster-us-west-2-dashboard-token-78d8994",
                       "arn:aws:secretsmanager:us-west-2:123456789012:secret:cluster-us-west-2-dashboard-token-78d8994-XyZ123")]
    planned = "arn:aws:secretsmanager:us-west-2:123456789012:secret:cluster-us-west-2-dashboard-token-78d8994-1be94b"
    rules = id_rules(created, {"cluster-us-west-2-dashboard-token-78d8994": planned})
    others = [planned.replace("1be94b", "000000"),                      # another version of the name: not planned
              planned.replace("us-west-2:", "eu-west-1:", 1),            # another region's
              planned.replace("123456789012", "210987654321"),           # another account's
              planned + "x-abcdef"]                                      # another secret whose name starts alike
    for other in others:
        assert rewrite(other.encode(), rules) == other.encode()


def test_the_router_keeps_motos_content_length_on_answers_without_a_body():
    from components.drills.emulate.aws_routing import answer_headers

    moto = [("Content-Type", "binary/octet-stream"), ("Content-Length", "1048576"), ("ETag", '"abc"')]
    # S3 HEAD Object: the object's size, though no body follows (RFC 9110 8.6).
    assert answer_headers("HEAD", 200, moto, 0) == [("Content-Type", "binary/octet-stream"), ("ETag", '"abc"'),
                                                    ("Content-Length", "1048576")]
    assert ("Content-Length", "0") not in answer_headers("DELETE", 204, [("x-amz-id-2", "x")], 0)
    assert answer_headers("GET", 304, [("ETag", '"abc"')], 0) == [("ETag", '"abc"')]
    # A body the proxy forwards: its own length (the IDs in it may have changed nothing, or everything).
    assert answer_headers("GET", 200, moto, 12)[-1] == ("Content-Length", "12")


def test_a_nodes_metadata_is_replaced_whole_so_a_reader_sees_one_version(tmp_path):
    import json

    from components.drills.emulate.nodes import Node

    (tmp_path / "imds.json").write_text(json.dumps(PATHS))
    node = Node("i-0abc", "rayfleet-dev-us-west-2-cpu-spot", "10.30.16.4", "rfn1-1", tmp_path, None, 0.0)
    with open(tmp_path / "imds.json") as reading:  # the IMDS mid-request
        node.set_metadata("spot/instance-action", '{"action": "terminate", "time": "2026-11-30T14:02:00Z"}')
        assert json.loads(reading.read()) == PATHS  # not truncated and rewritten under it
    assert "spot/instance-action" in json.loads((tmp_path / "imds.json").read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["imds.json"]


def test_a_nodes_type_is_its_groups_node_type_tag_not_a_part_of_its_name(tmp_path):
    from components.contract import HEAD_NODE_TYPE, NODE_TYPE_KEY
    from components.drills.emulate.control_plane import ControlPlane
    from components.drills.emulate.nodes import Node, NodeRunner, wanted_instances

    def group(name, node_type, *states):
        tags = [{"Key": NODE_TYPE_KEY, "Value": node_type}] if node_type else []
        return {"AutoScalingGroupName": name, "Tags": tags,
                "Instances": [{"InstanceId": f"i-{name[-4:]}{n}", "LifecycleState": s} for n, s in enumerate(states)]}

    groups = [group("rayfleet-dev-us-west-2-head", HEAD_NODE_TYPE, "InService"),
              # a worker group named after its purpose: "head" in its name, "gpu" its node type
              group("rayfleet-dev-us-west-2-gpu-headroom", "gpu", "Pending", "Terminating"),
              group("someone-elses-head", None, "InService")]
    assert wanted_instances(groups) == {"i-head0": ("rayfleet-dev-us-west-2-head", HEAD_NODE_TYPE),
                                        "i-room0": ("rayfleet-dev-us-west-2-gpu-headroom", "gpu")}
    runner = NodeRunner(None, ControlPlane("us-west-2", "http://127.0.0.1:1"), None, tmp_path, "http://10.30.0.1:1")
    for instance_id, (name, node_type) in wanted_instances(groups).items():
        runner.nodes[instance_id] = Node(instance_id, name, "10.30.16.4", "rfn1-1", tmp_path, None, 0.0, node_type)
    assert [n.instance_id for n in runner.nodes_of(HEAD_NODE_TYPE)] == ["i-head0"]
    assert [n.instance_id for n in runner.nodes_of("gpu")] == ["i-room0"]


def test_a_unit_with_a_service_key_the_emulated_node_does_not_apply_is_refused_at_its_start(tmp_path, monkeypatch,
                                                                                             capsys):
    from components.drills.emulate import node_units

    with pytest.raises(ValueError) as raised:
        parse_unit("x.service", "[Service]\nExecStart=/bin/true\nMemoryMax=2G\nProtectSystem=strict\n")
    assert str(raised.value) == (
        "x.service: [Service] MemoryMax, ProtectSystem not applied by the emulated node's service manager (it "
        "applies EnvironmentFile, ExecStart, Group, LimitNOFILE, Restart, RestartSec, User, WorkingDirectory). "
        "Fix: implement the key in components/drills/emulate/node_units.py, or drop it from the unit")
    (tmp_path / "x.service").write_text("[Service]\nExecStart=/bin/true\nMemoryMax=2G\n")
    monkeypatch.setattr(node_units, "UNIT_DIR", tmp_path)
    assert node_units.main(["enable", "--now", "x.service"]) == 1  # the user data's step fails there, as systemd's
    assert "MemoryMax" in capsys.readouterr().err
    # The units this project writes are all applied.
    assert parse_unit("ray.service", written(render_worker(CPU_WORKER), "/etc/systemd/system/ray.service")).nofile == (
        65536, 65536)


def test_a_units_limit_nofile_is_the_open_files_limit_of_its_exec_start(tmp_path):
    import os
    import pwd
    import subprocess
    import sys

    from components.drills.emulate.node_units import nofile_limit

    assert nofile_limit("1024:4096") == (1024, 4096)
    user = pwd.getpwuid(os.getuid()).pw_name
    (tmp_path / "x.service").write_text(f"[Service]\nUser={user}\nExecStart=/bin/sh -c 'ulimit -Sn; ulimit -Hn'\n"
                                        "LimitNOFILE=512:1024\n")
    program = ("import sys; from pathlib import Path; from components.drills.emulate import node_units as u; "
               "u.UNIT_DIR = Path(sys.argv[1]); sys.exit(u.main(['run', 'x.service']))")
    done = subprocess.run([sys.executable, "-c", program, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "\n512\n1024\n" in done.stdout


def test_systemctl_poweroff_stops_the_nodes_instance():
    from components.drills.emulate.node_units import power_off

    class Imds:
        def get(self, path):
            return {"instance-id": "i-0abc", "placement/region": "us-west-2"}[path]

    class Ec2:
        stopped: list = []

        def stop_instances(self, InstanceIds):
            self.stopped.append(InstanceIds)

    ec2 = Ec2()
    assert power_off(Imds(), ec2) == "i-0abc"
    assert ec2.stopped == [["i-0abc"]]


def test_dpkg_on_a_node_answers_its_instance_types_architecture_not_the_machines():
    import subprocess

    from components.drills.emulate.nodes import SHIMS, boot_wrapper, node_environment
    from components.ray_cluster.cloudwatch_agent import debian_arch

    env = node_environment("m6i.large", "http://10.30.0.1:1")
    assert env["RAYFLEET_EMULATE_ARCH"] == debian_arch(["m6i.large"]) == "amd64"
    assert 'RAYFLEET_EMULATE_ARCH="$RAYFLEET_EMULATE_ARCH"' in boot_wrapper()  # through its `env -i` to the user data
    dpkg = lambda env: subprocess.run([str(SHIMS / "dpkg"), "--print-architecture"], env=env,  # noqa: E731
                                      capture_output=True, text=True)
    assert dpkg({"RAYFLEET_EMULATE_ARCH": "arm64"}).stdout == "arm64\n"  # a Graviton group's image
    assert dpkg({}).returncode != 0  # never a guess


def _authority_soa(response: bytes) -> tuple[int, int, int]:
    """(authority count, the SOA record's TTL, its minimum field) of a one-question response."""
    offset = 12
    while response[offset]:
        offset += 1 + response[offset]
    offset += 5
    if struct.unpack("!H", response[8:10])[0] == 0:
        return 0, 0, 0
    while response[offset]:
        offset += 1 + response[offset]
    rtype, _, ttl = struct.unpack("!HHI", response[offset + 1:offset + 9])
    assert rtype == 6
    return 1, ttl, struct.unpack("!I", response[-4:])[0]


def test_the_vpc_resolvers_negative_answers_carry_the_zones_soa_as_route_53s_do():
    from components.drills.emulate.dns import DEFAULT_SOA, negative_ttl
    from components.ray_cluster.plan import NEGATIVE_CACHE_TTL, private_zone_soa

    zone = "rayfleet-dev-us-west-2.rayfleet.internal"
    planned = (private_zone_soa("ns-1536.awsdns-00.co.uk"), NEGATIVE_CACHE_TTL)  # the plan's overwritten SOA
    missing = answer_dns(_query(f"nope.{zone}"), RECORDS, {zone: planned})
    assert struct.unpack("!H", missing[2:4])[0] & 0xF == 3
    assert _authority_soa(missing) == (1, NEGATIVE_CACHE_TTL, NEGATIVE_CACHE_TTL)
    assert negative_ttl(planned) == NEGATIVE_CACHE_TTL
    # Route 53's own SOA, as a zone has it before the overwrite: a negative answer cached 900 s (RFC 2308 5).
    assert _authority_soa(answer_dns(_query(f"nope.{zone}"), RECORDS, {zone: DEFAULT_SOA})) == (1, 900, 86400)
    assert negative_ttl(DEFAULT_SOA) == 900
    nodata = answer_dns(_query(f"head.{zone}", qtype=28), RECORDS, {zone: planned})
    assert struct.unpack("!H", nodata[2:4])[0] & 0xF == 0 and _authority_soa(nodata)[0] == 1
    assert _authority_soa(answer_dns(_query("example.com"), RECORDS, {zone: planned}))[0] == 0  # not the zone's


def test_the_boot_requests_are_the_local_smoke_test_through_the_heads_serve_proxy():
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from types import SimpleNamespace

    from serve_apps.emulated_region import REQUESTS_PER_APP, _requests
    from stacks.config import SmokeRequest

    seen = []

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            body = json.dumps({"label": "positive"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    apps = [SimpleNamespace(name="sentiment", smoke_request=SmokeRequest(body={"text": "love it"},
                                                                         expect={"label": "positive"})),
            SimpleNamespace(name="quiet", smoke_request=None)]
    config = {"applications": [{"name": "sentiment", "route_prefix": "/sentiment"},
                               {"name": "quiet", "route_prefix": "/quiet"}]}
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        sent = _requests(SimpleNamespace(serve=SimpleNamespace(applications=apps)), config, base)
    finally:
        server.shutdown()
    assert seen == [("/sentiment", {"text": "love it"})] * REQUESTS_PER_APP  # nothing sent to an app without one
    assert [(r.app, r.url, r.ok, r.detail) for r in sent] == [
        ("sentiment", f"{base}/sentiment", True, "label = 'positive'")] * REQUESTS_PER_APP


def test_an_instance_a_termination_hook_holds_keeps_its_node_and_reads_terminated_in_imds(tmp_path):
    import json

    from components.drills.emulate.nodes import Node, target_lifecycle_states, wanted_instances

    groups = [{"AutoScalingGroupName": "rayfleet-dev-us-west-2-cpu-spot", "Tags": [{"Key": "rayfleet:node-type",
                                                                                   "Value": "cpu"}],
               "Instances": [{"InstanceId": "i-draining", "LifecycleState": "Terminating:Wait"},
                             {"InstanceId": "i-gone", "LifecycleState": "Terminating:Proceed"},
                             {"InstanceId": "i-serving", "LifecycleState": "InService"}]}]
    assert set(wanted_instances(groups)) == {"i-draining", "i-serving"}  # it drains: its node runs on
    assert target_lifecycle_states(groups) == {"i-draining": "Terminated"}
    (tmp_path / "imds.json").write_text(json.dumps(PATHS))
    node = Node("i-draining", "rayfleet-dev-us-west-2-cpu-spot", "10.30.16.4", "rfn1-1", tmp_path, None, 0.0, "cpu")
    node.set_target_lifecycle_state("Terminated")
    assert json.loads((tmp_path / "imds.json").read_text())["autoscaling/target-lifecycle-state"] == "Terminated"


def test_the_scenario_reads_the_running_nodes_under_the_pollers_lock(tmp_path):
    import threading

    from components.drills.emulate.control_plane import ControlPlane
    from components.drills.emulate.nodes import Node, NodeRunner

    runner = NodeRunner(None, ControlPlane("us-west-2", "http://127.0.0.1:1"), None, tmp_path, "http://10.30.0.1:1")
    runner.nodes["i-0abc"] = Node("i-0abc", "rayfleet-dev-us-west-2-head", "10.30.16.4", "rfn1-1", tmp_path, None, 0.0,
                                  "head")
    read: list = []
    with runner._lock:  # the poller, mid-poll, adding or removing nodes
        reader = threading.Thread(target=lambda: read.append([n.instance_id for n in runner.nodes_of("head")]))
        reader.start()
        reader.join(0.3)
        assert read == []  # waits for the poll to end, rather than iterate a dict that changes size
    reader.join(5)
    assert read == [["i-0abc"]]


def test_a_zones_soa_is_read_from_motos_record_even_as_moto_wraps_its_default_one():
    from components.drills.emulate.dns import DEFAULT_SOA, zone_soa

    # moto's default SOA for a new zone, as list_resource_record_sets gives it (the repr of a dict)
    wrapped = "{'Value': 'ns-2048.awsdns-64.com. hostmaster.example.com. 1 7200 900 1209600 86400'}"
    assert zone_soa(wrapped, 900) == ("ns-2048.awsdns-64.com. hostmaster.example.com. 1 7200 900 1209600 86400", 900)
    assert zone_soa("ns-1.awsdns-00.co.uk. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 10", 10)[1] == 10
    assert zone_soa("not an SOA", 60) == DEFAULT_SOA


def test_the_vpc_resolver_keeps_answering_after_a_query_it_cannot_answer():
    import socket

    from components.drills.emulate.dns import vpc_resolver
    from serve_apps.ports import free_port

    port = free_port()
    broken = {"rayfleet.internal": ("garbage", 1)}  # an SOA that does not parse: answering raises
    with vpc_resolver("127.0.0.1", lambda: RECORDS, port=port, zones=lambda: broken):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(_query("nope.rayfleet.internal"), ("127.0.0.1", port))
            failed = client.recv(512)
            client.sendto(_query("head.rayfleet-dev-us-west-2.rayfleet.internal"), ("127.0.0.1", port))
            answered = client.recv(512)
    assert struct.unpack("!H", failed[2:4])[0] & 0xF == 2  # SERVFAIL, not silence
    assert socket.inet_ntoa(answered[-4:]) == "10.30.0.4"


def test_a_limit_nofile_above_what_this_machine_may_raise_to_is_lowered_not_fatal():
    import resource

    from components.drills.emulate.node_units import apply_nofile, within_hard_limit

    assert within_hard_limit((65536, 65536), 20000) == (20000, 20000)
    assert within_hard_limit((1024, 65536), 20000) == (1024, 20000)
    assert within_hard_limit((65536, resource.RLIM_INFINITY), 20000) == (20000, 20000)
    assert within_hard_limit((65536, 65536), resource.RLIM_INFINITY) == (65536, 65536)
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        # ray.service's 65536, where this process may not raise its hard limit (a container without
        # CAP_SYS_RESOURCE): the unit starts with the machine's limit instead of its supervisor crashing.
        got = apply_nofile((65536, 65536))
        assert got == resource.getrlimit(resource.RLIMIT_NOFILE)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (before[0], resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


@pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")
def test_a_checkout_in_tmp_stays_visible_under_the_nodes_own_tmp(tmp_path):
    # A fresh clone in /tmp (as CI makes) holds the project's Python and the shims: the node's /tmp must not hide them.
    import subprocess

    from components.drills.emulate.nodes import OVERLAID, boot_wrapper

    checkout = Path(tempfile.mkdtemp(dir="/tmp", prefix="rf-checkout-"))
    try:
        (checkout / "marker").write_text("project\n")
        node = tmp_path / "node"
        for d in OVERLAID:
            (node / "layers" / f"{d}.up").mkdir(parents=True)
            (node / "layers" / f"{d}.work").mkdir(parents=True)
        (node / "tmp").mkdir()
        mounts = boot_wrapper([str(checkout)]).split('"$RAYFLEET_EMULATE_PYTHON"')[0]
        script = mounts + f"cat {checkout}/marker\ntest ! -e {node}/tmp\n"
        run = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
                             cwd=node, capture_output=True, text=True, timeout=30)
        assert (run.returncode, run.stdout) == (0, "project\n"), run.stderr
    finally:
        shutil.rmtree(checkout)
