"""Rendered user data, run for real in a sandbox: a failed boot says why and has its ASG replace the node.

The script runs under bash in a temp dir: its root paths (/opt/rayfleet, /etc/rayfleet, /etc/systemd,
/etc/fstab, /etc/dbus-1, the boot log) are moved into the sandbox, and every command that would touch the machine, the network,
IMDS or AWS is a shim on a PATH that holds nothing else but a few harmless tools. Shims record their
calls; `curl` answers IMDS with a fixed instance id, `sleep` returns at once. Nothing leaves the machine.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.ray_cluster.plan import head_record_name
from components.ray_cluster.userdata import render_head, render_worker
from tests.fakes.node_boots import CLUSTER, CPU_WORKER, DEV_HEAD, GPU_WORKER, HEAD

INSTANCE_ID = "i-0123456789abcdef0"
#: The only real tools on the sandbox's PATH besides the shims.
REAL_TOOLS = ("bash", "cat", "tee", "date", "grep", "seq", "mkdir", "chmod", "sed", "head")
#: What `nvidia-smi -L` prints on a g5.xlarge.
ONE_GPU = "echo 'GPU 0: NVIDIA A10G (UUID: GPU-5c3e2f1a-0b7d-4e21-9a8c-3f6d1e2b4a90)'"
OK = "exit 0"

# Shims: name -> bash body; each records "<name> <args>" in calls.log first.
BASE_SHIMS = {
    "apt-get": OK,
    "ubuntu-drivers": OK,
    # What `ubuntu-drivers install --gpgpu` leaves installed on a g6 (an L4 takes the open modules).
    "dpkg-query": "echo 'install ok installed nvidia-headless-no-dkms-580-server-open'",
    "modprobe": OK,
    "mount": OK,
    "useradd": OK,
    "id": OK,
    "chown": OK,
    "systemctl": OK,
    "resolvectl": OK,
    "getent": OK,
    "sleep": OK,
    "aws": OK,
    # install -d [-m M] [-o O] [-g G] DIR...: make the directories, ignore modes and owners.
    "install": 'dirs=(); while [ $# -gt 0 ]; do case "$1" in -d) ;; -m|-o|-g) shift ;; *) dirs+=("$1") ;; esac; '
    'shift; done; mkdir -p "${dirs[@]}"',
    "curl": f'case "$*" in *api/token*) echo token ;; *meta-data/instance-id*) echo {INSTANCE_ID} ;; '
    # AWS's buckets answer where it documents them: the regional packages, the global signing key.
    "*amazoncloudwatch-agent-*.s3.*.amazonaws.com/*|*amazoncloudwatch-agent.s3.amazonaws.com/assets/*) exit 0 ;; "
    "*) exit 22 ;; esac",
    "dpkg": 'case "$*" in --print-architecture) echo amd64 ;; esac',
    # The agent's signing key as `gpg --with-colons --fingerprint` lists it, a good signature otherwise.
    "gpg": 'case "$*" in *--fingerprint*) echo "pub:-:4096:1:D58167303B789C72:::::::scESC:"; '
    'echo "fpr:::::::::937616F3450B7D806CBD9725D58167303B789C72:" ;; esac',
    "amazon-cloudwatch-agent-ctl": OK,
}


@dataclass
class Boot:
    status: int
    output: str
    log: str
    calls: list[str]
    unhealthy: list[dict]

    def called(self, name: str) -> list[str]:
        return [c for c in self.calls if c.split(" ", 1)[0] == name]


def _shim(path: Path, calls: Path, body: str) -> None:
    path.write_text(f'#!/bin/bash\necho "{path.name} $*" >> {calls}\n{body}\n')
    path.chmod(0o755)


def _venv_python(root: Path, unhealthy: Path) -> str:
    """The venv's python: runs the rendered SetInstanceHealth snippet for real against a recording boto3;
    every other step (agents, token, DNS) succeeds without doing anything."""
    fake_boto3 = root / "fake_boto3"
    (fake_boto3 / "boto3").mkdir(parents=True)
    (fake_boto3 / "boto3" / "__init__.py").write_text(
        "import json\n"
        "class _Client:\n"
        "    def __init__(self, service): self.service = service\n"
        "    def set_instance_health(self, **kwargs):\n"
        f"        with open({str(unhealthy)!r}, 'a') as f: f.write(json.dumps(dict(kwargs, service=self.service)) + '\\n')\n"
        "    put_metric_data = set_instance_health\n"
        "def client(service): return _Client(service)\n"
    )
    return (
        f'case "$*" in *set_instance_health*) PYTHONPATH={fake_boto3} exec {sys.executable} "$@" ;; esac\n'
        "[ \"$1\" = - ] && cat >/dev/null\nexit 0"
    )


def run_boot(tmp_path: Path, script: str, **shims: str) -> Boot:
    """Run `script` in the sandbox with the base shims, overridden or removed (None) by `shims`."""
    root, bin_dir = tmp_path / "root", tmp_path / "bin"
    for directory in ("var/log", "etc/systemd/system", "etc/dbus-1/system.d"):  # as on any Ubuntu host
        (root / directory).mkdir(parents=True)
    bin_dir.mkdir()
    calls, unhealthy = tmp_path / "calls.log", tmp_path / "unhealthy.jsonl"
    calls.touch()
    unhealthy.touch()
    venv_python = _venv_python(root, unhealthy)
    # python3 -m venv DIR: a venv whose pip succeeds and whose python is the double above.
    make_venv = f'mkdir -p "$3/bin"; printf "#!/bin/bash\\nexit 0\\n" > "$3/bin/pip"; chmod +x "$3/bin/pip"\n'
    make_venv += f"cat > \"$3/bin/python\" <<'SHIM'\n#!/bin/bash\n{venv_python}\nSHIM\nchmod +x \"$3/bin/python\""
    bodies = {**BASE_SHIMS, "python3": make_venv, "nvidia-smi": ONE_GPU, **shims}
    for name, body in bodies.items():
        if body is not None:
            _shim(bin_dir / name, calls, body)
    for tool in REAL_TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for path in ("/opt/rayfleet", "/etc/rayfleet", "/etc/systemd", "/etc/fstab", "/etc/dbus-1", "/var/log/rayfleet-boot.log"):
        script = script.replace(path, f"{root}{path}")
    result = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path), "LANG": "C.UTF-8"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Boot(
        status=result.returncode,
        output=result.stdout + result.stderr,
        log=(root / "var/log/rayfleet-boot.log").read_text(),
        calls=calls.read_text().splitlines(),
        unhealthy=[json.loads(line) for line in unhealthy.read_text().splitlines()],
    )


#: Before the venv exists, the AWS CLI counts the failed boot, then marks the instance Unhealthy.
AWS_CLI_UNHEALTHY = [
    "aws cloudwatch put-metric-data --namespace Rayfleet/prod --metric-name NodeBootFailed "
    "--dimensions Cluster=rayfleet-prod-us-east-1 --value 1 --unit Count",
    f"aws autoscaling set-instance-health --instance-id {INSTANCE_ID} --health-status Unhealthy "
    "--no-should-respect-grace-period",
]
BOOT_FAILED_METRIC_DATA = {
    "Namespace": "Rayfleet/prod",
    "MetricData": [
        {"MetricName": "NodeBootFailed", "Value": 1, "Unit": "Count",
         "Dimensions": [{"Name": "Cluster", "Value": "rayfleet-prod-us-east-1"}]}
    ],
    "service": "cloudwatch",
}
NO_DRIVER = 'echo "dpkg-query: no packages found matching nvidia-headless-no-dkms-*" >&2; exit 1'
APT_LOCKED = 'echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234 (unattended-upgr)" >&2; exit 100'


# --- a failed boot: the step, the reason, and SetInstanceHealth ----------------------------


def test_boot_that_cannot_get_apt_retries_with_backoff_then_logs_the_step_and_marks_itself_unhealthy(tmp_path):
    boot = run_boot(tmp_path, render_worker(CPU_WORKER), **{"apt-get": APT_LOCKED})

    assert boot.status == 1
    update = "apt-get -q -o DPkg::Lock::Timeout=600 update"
    assert boot.called("apt-get") == [update] * 5
    assert boot.called("sleep") == ["sleep 10", "sleep 20", "sleep 40", "sleep 80"]
    failure = f"rayfleet boot FAILED in step 'install packages' (exit 1): gave up after 5 attempts: {update}"
    assert failure in boot.log
    assert "Could not get lock" in boot.log
    # Before the venv exists, the AWS CLI is the way to Auto Scaling.
    assert boot.called("aws") == AWS_CLI_UNHEALTHY
    assert f"marking {INSTANCE_ID} Unhealthy" in boot.log
    assert not any("ray.service" in call for call in boot.called("systemctl"))  # Ray never started


def test_failure_after_the_venv_marks_the_instance_unhealthy_through_boto3_ignoring_the_grace_period(tmp_path):
    boot = run_boot(tmp_path, render_worker(CPU_WORKER), getent="exit 2")

    head = head_record_name(CLUSTER)
    assert f"rayfleet boot FAILED in step 'wait for the head address' (exit 1): {head} does not resolve after 300 s" in boot.log
    assert boot.unhealthy == [
        BOOT_FAILED_METRIC_DATA,
        {"InstanceId": INSTANCE_ID, "HealthStatus": "Unhealthy", "ShouldRespectGracePeriod": False, "service": "autoscaling"},
    ]
    assert not boot.called("aws")
    # Every retry looks again without a cached negative answer.
    assert len(boot.called("resolvectl")) == 30 and set(boot.called("resolvectl")) == {"resolvectl flush-caches"}


def test_a_failing_command_is_named_in_the_boot_log(tmp_path):
    boot = run_boot(tmp_path, render_worker(GPU_WORKER), modprobe="exit 1", **{"nvidia-smi": None})

    assert "rayfleet boot FAILED in step 'install the NVIDIA driver' (exit 1): `modprobe nvidia` exited with 1" in boot.log
    assert boot.called("aws") == AWS_CLI_UNHEALTHY


def test_without_auto_scaling_a_failed_node_powers_off(tmp_path):
    boot = run_boot(tmp_path, render_worker(CPU_WORKER), **{"apt-get": APT_LOCKED, "aws": "exit 255"})

    assert "cannot reach Auto Scaling; powering off" in boot.log
    assert boot.called("systemctl")[-1] == "systemctl poweroff"


@pytest.mark.parametrize("script", [render_head(HEAD), render_head(DEV_HEAD), render_worker(CPU_WORKER), render_worker(GPU_WORKER)])
def test_a_successful_boot_starts_ray_and_marks_nothing_unhealthy(tmp_path, script):
    boot = run_boot(tmp_path, script)

    assert boot.status == 0, boot.output
    assert "FAILED" not in boot.log
    assert boot.unhealthy == [] and not boot.called("aws") and not boot.called("sleep")
    assert boot.called("systemctl")[-1].startswith("systemctl enable --now ray.service")
    assert all("DPkg::Lock::Timeout=600" in call for call in boot.called("apt-get"))


# --- GPU nodes: the driver must see the GPUs before Ray starts -----------------------------


@pytest.mark.parametrize(
    "nvidia_smi, reason",
    [
        (None, "nvidia-smi failed, the NVIDIA driver does not work: bash: line "),
        (
            "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"; exit 9",
            "nvidia-smi failed, the NVIDIA driver does not work: NVIDIA-SMI has failed because it couldn't",
        ),
        ("echo 'No devices were found'; exit 6", "nvidia-smi failed, the NVIDIA driver does not work: No devices were found"),
        ("exit 0", "nvidia-smi lists 0 GPUs; this node type has 1"),
    ],
    ids=["absent", "driver-not-loaded", "no-devices", "lists-none"],
)
def test_gpu_node_whose_driver_does_not_work_fails_its_boot_before_ray_starts(tmp_path, nvidia_smi, reason):
    boot = run_boot(tmp_path, render_worker(GPU_WORKER), **{"nvidia-smi": nvidia_smi})

    assert boot.status == 1
    assert f"rayfleet boot FAILED in step 'check the NVIDIA driver' (exit 1): {reason}" in boot.log
    assert boot.called("aws") == AWS_CLI_UNHEALTHY
    assert not any("enable" in call for call in boot.called("systemctl"))


def test_gpu_node_without_a_driver_installs_the_server_driver_and_its_nvidia_smi(tmp_path):
    boot = run_boot(tmp_path, render_worker(GPU_WORKER), **{"nvidia-smi": None})

    assert boot.called("ubuntu-drivers") == ["ubuntu-drivers install --gpgpu"]
    assert "apt-get -q -o DPkg::Lock::Timeout=600 install -y nvidia-utils-580-server" in boot.called("apt-get")
    assert boot.called("modprobe") == ["modprobe nvidia"]


def test_gpu_node_where_ubuntu_drivers_installed_no_server_driver_fails_its_boot(tmp_path):
    boot = run_boot(tmp_path, render_worker(GPU_WORKER), **{"nvidia-smi": None, "dpkg-query": NO_DRIVER})

    assert (
        "rayfleet boot FAILED in step 'install the NVIDIA driver' (exit 1): ubuntu-drivers installed no NVIDIA server driver"
        in boot.log
    )
    assert boot.called("aws") == AWS_CLI_UNHEALTHY


def test_gpu_node_with_fewer_gpus_than_its_type_has_fails_its_boot(tmp_path):
    boot = run_boot(tmp_path, render_worker(dataclasses.replace(GPU_WORKER, gpus=4)))

    assert "rayfleet boot FAILED in step 'check the NVIDIA driver' (exit 1): nvidia-smi lists 1 GPUs; this node type has 4" in boot.log


def test_gpu_node_whose_driver_lists_its_gpus_boots(tmp_path):
    boot = run_boot(tmp_path, render_worker(GPU_WORKER))

    assert boot.status == 0, boot.output
    assert boot.called("nvidia-smi") == ["nvidia-smi -L"]
    assert not boot.called("ubuntu-drivers")  # the image has a driver



# --- the CloudWatch agent: AWS's signed package for the group's architecture -----------------


def test_a_boot_installs_awss_signed_cloudwatch_agent_from_the_region_and_starts_it(tmp_path):
    boot = run_boot(tmp_path, render_worker(CPU_WORKER))

    assert boot.status == 0, boot.output
    bucket = "https://amazoncloudwatch-agent-us-east-1.s3.us-east-1.amazonaws.com"
    fetched = [call.rsplit(" ", 1)[1] for call in boot.called("curl") if "amazoncloudwatch-agent" in call]
    assert fetched == [
        f"{bucket}/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb",
        f"{bucket}/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb.sig",
        "https://amazoncloudwatch-agent.s3.amazonaws.com/assets/amazon-cloudwatch-agent.gpg",  # where AWS documents it
    ]
    verify = [call for call in boot.called("gpg") if "--verify" in call]
    assert len(verify) == 1 and verify[0].endswith("agent.deb.sig " + str(tmp_path / "root/opt/rayfleet/cloudwatch-agent/agent.deb"))
    install = boot.calls.index(f"dpkg -i -E {tmp_path}/root/opt/rayfleet/cloudwatch-agent/agent.deb")
    assert boot.calls.index(verify[0]) < install  # never install before the signature checks out
    assert boot.called("amazon-cloudwatch-agent-ctl") == [
        f"amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:{tmp_path}/root/etc/rayfleet/cloudwatch-agent.json"
    ]
    config = json.loads((tmp_path / "root/etc/rayfleet/cloudwatch-agent.json").read_text())
    assert config["metrics"]["namespace"] == "Rayfleet/prod"


@pytest.mark.parametrize(
    "shim, reason",
    [
        (BASE_SHIMS["gpg"].replace("esac", '*--verify*) echo "gpg: BAD signature" >&2; exit 1 ;; esac'),
         "the CloudWatch agent package's signature does not verify"),
        ('case "$*" in *--fingerprint*) echo "fpr:::::::::0123456789ABCDEF0123456789ABCDEF01234567:" ;; esac',
         "the CloudWatch agent's signing key is '0123456789ABCDEF0123456789ABCDEF01234567', "
         "not AWS's 937616F3450B7D806CBD9725D58167303B789C72"),
    ],
    ids=["bad-signature", "other-key"],
)
def test_an_agent_package_aws_did_not_sign_fails_the_boot_uninstalled(tmp_path, shim, reason):
    boot = run_boot(tmp_path, render_worker(CPU_WORKER), gpg=shim)

    assert f"rayfleet boot FAILED in step 'install the CloudWatch agent' (exit 1): {reason}" in boot.log
    assert not [call for call in boot.called("dpkg") if " -i " in call]
    assert boot.unhealthy[0] == BOOT_FAILED_METRIC_DATA


def test_an_image_of_another_architecture_than_the_groups_types_fails_the_boot(tmp_path):
    boot = run_boot(tmp_path, render_worker(CPU_WORKER), dpkg="echo arm64")

    assert ("rayfleet boot FAILED in step 'install the CloudWatch agent' (exit 1): "
            "the image is arm64 but this node group's instance types are amd64") in boot.log
    assert not boot.called("curl")[2:]  # only IMDS for mark_unhealthy: no package fetched
