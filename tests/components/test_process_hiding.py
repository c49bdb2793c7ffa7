"""Over every planned node's user data: other local users cannot read Ray's command lines.

Ray 2.60 starts gcs_server with `--redis_password=<AUTH token>` on its command line; /proc/<pid>/cmdline
is world-readable unless /proc is mounted with `hidepid`. systemd's `ProtectProc=` would not help:
it sets hidepid on the unit's own private /proc, hiding other processes from the unit, not the
unit's processes from others (systemd.exec(5)).
"""

from __future__ import annotations

import re

import pytest

from tests.fakes.environments import ENVIRONMENTS
from tests.fakes.node_boots import template_script

TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
REMOUNT = "mount -o remount,hidepid=invisible /proc"
FSTAB = "proc /proc proc defaults,hidepid=invisible 0 0"


def _scripts(plan):
    return {t.name: template_script(t) for t in plan.of_type(TEMPLATE)}


def _units(script: str) -> dict[str, str]:
    return dict(re.findall(r"cat > /etc/systemd/system/(\S+)\.service <<'RAYFLEET_EOF'\n(.*?)RAYFLEET_EOF", script, re.S))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_node_hides_other_users_processes_before_ray_or_a_secret(plans, env):
    for name, script in _scripts(plans(env)).items():
        assert script.count(REMOUNT) == 1, name
        first_secret = script.index("get_secret_value")
        ray_starts = script.index("systemctl enable --now ray.service")
        assert script.index(REMOUNT) < min(first_secret, ray_starts), name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_proc_mount_option_survives_a_reboot_and_is_written_once(plans, env):
    for name, script in _scripts(plans(env)).items():
        assert f"grep -q '^proc /proc proc .*hidepid=invisible' /etc/fstab || echo '{FSTAB}' >> /etc/fstab" in script, name
        assert script.index("/etc/fstab") < script.index(REMOUNT), name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ray_runs_as_its_own_unprivileged_user_so_hidepid_applies_to_everyone_else(plans, env):
    """hidepid hides a process from users other than its owner and root: Ray must run neither as root
    nor as a login user, and its units must not rely on ProtectProc, which hides nothing from others."""
    for name, script in _scripts(plans(env)).items():
        units = _units(script)
        assert units, name
        for unit, body in units.items():
            assert "\nUser=ray\n" in body and "\nGroup=ray\n" in body, (name, unit)
            assert "ProtectProc" not in body, (name, unit)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_root_may_ask_systemd_for_a_units_command_lines(plans, env):
    """`systemctl status` gets command lines from systemd (root) over D-Bus, around hidepid."""
    policy_path = "/etc/dbus-1/system.d/rayfleet-unit-processes.conf"
    for name, script in _scripts(plans(env)).items():
        body = script.split(f"cat > {policy_path} <<'RAYFLEET_EOF'\n", 1)[1].split("RAYFLEET_EOF", 1)[0]
        default, root = body.split('<policy user="root">')
        assert '<policy context="default">' in default and "<deny" in default and 'send_member="GetUnitProcesses"' in default
        assert "<allow" in root and 'send_member="GetUnitProcesses"' in root
        assert script.index("systemctl reload dbus") < script.index("systemctl enable --now ray.service"), name
