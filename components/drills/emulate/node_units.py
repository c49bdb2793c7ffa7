"""The service manager of an emulated node: `systemctl` as the user data calls it, running the units' ExecStart.

    systemctl daemon-reload                           # nothing to load: a unit file is read when it starts
    systemctl enable --now ray.service x.service      # each unit under a supervisor of its own, detached
    systemctl poweroff                                # the instance stopped in moto; the runner stops the node
    systemctl reload dbus                             # anything else: logged, nothing done

A unit runs as systemd would run it for this project's unit files: ExecStart (no shell) as its
User and Group, in its WorkingDirectory, with the variables of its EnvironmentFile(s) over
systemd's default PATH, and again RestartSec after it exits when Restart=always (or on a failure,
with Restart=on-failure), with LimitNOFILE applied. A [Service] key it does not apply fails the
unit's start, rather than running it without. When its main process exits, every process it left is stopped first, as
systemd's KillMode=control-group does (the supervisor is their subreaper, in place of a cgroup). Its output goes to /var/log/<unit>.log, in the node's own /var (the
journal's stand-in). The one addition is the node's way to AWS (AWS_ENDPOINT_URL and fake
credentials), which a real node gets from its instance profile instead.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

UNIT_DIR = Path("/etc/systemd/system")
LOG_DIR = Path("/var/log")
#: systemd's PATH for services (systemd.exec(5), "Environment variables in spawned processes").
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: What an emulated node has in place of an instance profile: passed on to every unit.
AWS_SHIM_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
#: Seconds a unit's left processes get between SIGTERM and SIGKILL (systemd's TimeoutStopSec is 90 s by default).
STOP_GRACE_S = 5.0


#: The [Service] keys this service manager applies; a unit with any other is refused, not run without it.
SERVICE_KEYS = frozenset({"ExecStart", "User", "Group", "EnvironmentFile", "WorkingDirectory", "Restart",
                          "RestartSec", "LimitNOFILE"})


@dataclass(frozen=True)
class Unit:
    name: str
    exec_start: tuple[str, ...]
    user: str = "root"
    group: str | None = None
    environment_files: tuple[str, ...] = ()
    working_directory: str | None = None
    restart: str = "no"
    restart_sec: float = 0.1
    #: LimitNOFILE as (soft, hard), None when the unit does not set it (the supervisor's own limits apply).
    nofile: tuple[int, int] | None = None


def parse_unit(name: str, text: str) -> Unit:
    """The [Service] settings this project's units use (a key given twice, like EnvironmentFile, keeps all)."""
    values: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        if section == "Service":
            values.setdefault(key.strip(), []).append(value.strip())
    if not values.get("ExecStart"):
        raise ValueError(f"{name}: no ExecStart in [Service]")
    unknown = sorted(set(values) - SERVICE_KEYS)
    if unknown:
        raise ValueError(f"{name}: [Service] {', '.join(unknown)} not applied by the emulated node's service manager "
                         f"(it applies {', '.join(sorted(SERVICE_KEYS))}). Fix: implement the key in "
                         "components/drills/emulate/node_units.py, or drop it from the unit")
    last = {k: v[-1] for k, v in values.items()}
    return Unit(
        name=name,
        exec_start=tuple(shlex.split(last["ExecStart"])),
        user=last.get("User", "root"),
        group=last.get("Group"),
        environment_files=tuple(values.get("EnvironmentFile", ())),
        working_directory=last.get("WorkingDirectory"),
        restart=last.get("Restart", "no"),
        restart_sec=float(last.get("RestartSec", "0.1").rstrip("s")),
        nofile=nofile_limit(last["LimitNOFILE"]) if "LimitNOFILE" in last else None,
    )


def nofile_limit(value: str) -> tuple[int, int]:
    """LimitNOFILE= as setrlimit takes it: `N` sets soft and hard, `SOFT:HARD` each; `infinity` (systemd.exec(5))."""
    import resource

    def one(part: str) -> int:
        return resource.RLIM_INFINITY if part == "infinity" else int(part)

    soft, _, hard = value.partition(":")
    return one(soft), one(hard or soft)


def read_environment_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines, comments and blank lines skipped, one level of quotes removed (systemd.exec(5))."""
    env = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def unit_environment(unit: Unit, inherited: dict[str, str]) -> dict[str, str]:
    """systemd's environment for the unit: PATH, the user's identity, the AWS shim, then its EnvironmentFile(s)."""
    env = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"}
    env.update({k: inherited[k] for k in AWS_SHIM_VARIABLES if k in inherited})
    if unit.user:
        entry = pwd.getpwnam(unit.user)
        env.update({"USER": unit.user, "LOGNAME": unit.user, "HOME": entry.pw_dir, "SHELL": entry.pw_shell})
    for name in unit.environment_files:
        optional = name.startswith("-")
        path = Path(name.lstrip("-"))
        if optional and not path.exists():
            continue
        env.update(read_environment_file(path.read_text()))
    return env


def should_restart(unit: Unit, returncode: int) -> bool:
    return unit.restart == "always" or (unit.restart == "on-failure" and returncode != 0)


def _become_subreaper() -> None:
    """Orphans of the unit's processes become this supervisor's children, as a unit's stay in its cgroup."""
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36  # prctl(2)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def stop_remaining(grace_s: float = STOP_GRACE_S) -> None:
    """systemd's KillMode=control-group: every process the unit left is sent SIGTERM, then SIGKILL."""
    import psutil

    left = psutil.Process().children(recursive=True)
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(left, timeout=grace_s)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=grace_s)


def within_hard_limit(wanted: tuple[int, int], hard: int) -> tuple[int, int]:
    """`wanted` (soft, hard) lowered to a hard limit this process may not raise (RLIM_INFINITY is the largest)."""
    import resource

    def lowered(value: int) -> int:
        if hard == resource.RLIM_INFINITY:
            return value
        return hard if value == resource.RLIM_INFINITY else min(value, hard)

    return lowered(wanted[0]), lowered(wanted[1])


def apply_nofile(wanted: tuple[int, int]) -> tuple[int, int]:
    """Set the open-files limit ExecStart inherits, as systemd sets LimitNOFILE. systemd may raise the hard limit;
    this supervisor, in a container without CAP_SYS_RESOURCE, may not: it then keeps the machine's hard limit and
    says so in the unit's log, rather than not starting the unit at all."""
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, wanted)
        return wanted
    except (ValueError, OSError):
        lowered = within_hard_limit(wanted, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        resource.setrlimit(resource.RLIMIT_NOFILE, lowered)
        print(f"systemd (emulated): LimitNOFILE {wanted[0]}:{wanted[1]} lowered to {lowered[0]}:{lowered[1]}, "
              "this machine's hard limit (raising it needs CAP_SYS_RESOURCE)", flush=True)
        return lowered


def supervise(unit: Unit, inherited: dict[str, str]) -> int:
    """Run the unit until it stops for good (Restart= says so) or this supervisor is told to stop."""
    _become_subreaper()
    if unit.nofile is not None:
        apply_nofile(unit.nofile)

    def stop(_signum, _frame) -> None:
        stop_remaining()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        print(f"systemd: starting {unit.name}: {shlex.join(unit.exec_start)}", flush=True)
        child = subprocess.Popen(list(unit.exec_start), env=unit_environment(unit, inherited),
                                 cwd=unit.working_directory, user=unit.user, group=unit.group or None,
                                 extra_groups=[], stdin=subprocess.DEVNULL)
        code = child.wait()
        print(f"systemd: {unit.name} exited with {code}", flush=True)
        stop_remaining()
        if not should_restart(unit, code):
            return code
        time.sleep(unit.restart_sec)


def start_detached(name: str) -> None:
    """`enable --now NAME`: a supervisor of its own for the unit, which outlives the user data script. The unit
    is read first, so that one this service manager cannot run fails the `systemctl` call, as systemd's would."""
    unit = name if name.endswith(".service") else f"{name}.service"
    parse_unit(unit, (UNIT_DIR / unit).read_text())
    log = open(LOG_DIR / f"{unit.removesuffix('.service')}.log", "ab")
    subprocess.Popen([sys.executable, "-m", "components.drills.emulate.node_units", "run", unit],
                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    print(f"systemctl (emulated): started {unit}")


def power_off(imds, ec2=None) -> str:
    """`systemctl poweroff`: the instance stops, as EC2 does with the default InstanceInitiatedShutdownBehavior
    (stop) that this project's launch templates keep; the node runner then stops the node. Returns its ID."""
    instance_id = imds.get("instance-id")
    if ec2 is None:
        import boto3

        ec2 = boto3.client("ec2", region_name=imds.get("placement/region"))
    ec2.stop_instances(InstanceIds=[instance_id])
    return instance_id


def main(argv: list[str]) -> int:
    if argv[:1] == ["run"]:
        unit = parse_unit(argv[1], (UNIT_DIR / argv[1]).read_text())
        return supervise(unit, dict(os.environ))
    if argv[:2] == ["enable", "--now"]:
        try:
            for name in argv[2:]:
                start_detached(name)
        except (ValueError, OSError) as err:
            print(f"systemctl (emulated): {err}", file=sys.stderr)
            return 1
        return 0
    if argv[:1] == ["poweroff"]:
        from components.node_agents.imds import Imds

        print(f"systemctl (emulated): powering off: instance {power_off(Imds())} stopped", flush=True)
        return 0
    # daemon-reload (unit files are read at start), reload dbus, try-restart systemd-resolved ...
    print(f"systemctl (emulated): nothing to do for: systemctl {shlex.join(argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
