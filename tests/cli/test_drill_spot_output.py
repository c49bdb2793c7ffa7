"""`rayfleet drill spot --local` piped: Ray's own logs go to a file it names; stderr stays plain, the table readable."""

from __future__ import annotations

import re

import pytest

from tests.fakes.ports import free_ports


@pytest.mark.slow  # a real local Ray cluster loses a worker (about a minute)
def test_drill_spot_sends_rays_logs_to_a_file_and_keeps_piped_stderr_plain(cli, tmp_path):
    gcs, dashboard, serve = map(str, free_ports(3))
    run = cli("drill", "spot", "--local", "--variant", "abrupt", "--warmup", "1", "--after", "1", "--gcs-port", gcs,
              "--dashboard-port", dashboard, "--serve-port", serve, env={"RAYFLEET_HOME": str(tmp_path)}, timeout=300)
    assert run.code == 0, run.err[-2000:]
    assert "\x1b[" not in run.err
    *steps, last = run.err.splitlines()
    assert steps[0] == "spot drill: abrupt: starting a head and two workers"
    assert all(line.startswith("spot drill: abrupt: ") for line in steps), steps
    (log,) = (tmp_path / "logs").glob("drill-spot-*.log")
    assert last == f"Ray's logs of the drill: {log}"
    assert "(raylet)" in log.read_text()  # Ray's own chatter, which used to land on the terminal
    rows = [line for line in run.out.splitlines() if line.startswith("│")]
    assert re.fullmatch(r"│ abrupt +│ +\d+ │ +\d+ │ .* │ no +│", rows[0]), run.out
