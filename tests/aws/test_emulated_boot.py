"""The boot scenario catches glue bugs: a user data whose step never happens fails, naming that step."""

from __future__ import annotations

import re

import pytest

from components.errors import RayfleetError
from serve_apps.emulated_region import emulate
from stacks.loader import environment_file
from tests.fakes.emulated_nodes import left_behind, needs_root

# A region on this machine: moto, a head running Ray in namespaces, a worker its autoscaler launches.
pytestmark = [pytest.mark.slow, needs_root]


def test_a_head_that_never_publishes_its_address_fails_boot_naming_the_workers_step(monkeypatch, tmp_path):
    from components.ray_cluster import userdata

    monkeypatch.setenv("RAYFLEET_HOME", str(tmp_path))
    # The break, injected where the plan renders the head's user data: no DNS record for the head.
    monkeypatch.setattr(userdata, "_publish_head_address", lambda boot: "")
    # Workers give up on the head's address after 6 s instead of 5 minutes (the step is the same).
    monkeypatch.setattr(userdata, "HEAD_ADDRESS_WAIT", (3, 2))
    with pytest.raises(RayfleetError) as raised:
        emulate(environment_file("dev"), "boot")
    # Instance IDs and addresses are moto's; the rest of the message is asserted exactly.
    node = r"node i-[0-9a-f]{17} \(rayfleet-dev-us-west-2-cpu-(spot|on-demand), 10\.30\.\d+\.\d+\)"
    failed = node + r": boot FAILED in step 'wait for the head address'"
    assert re.fullmatch(
        f"a node's boot failed: {failed}(; {failed})*\\. Fix: correct that step of the user data; the node's boot "
        f"log \\(layers/var\\.up/log/rayfleet-boot\\.log in its directory under {re.escape(str(tmp_path))}/emulate/"
        r"dev-\d{8}T\d{6}\) says why it failed", str(raised.value)), str(raised.value)
    assert left_behind(tmp_path) == {"processes": [], "mounts": []}
