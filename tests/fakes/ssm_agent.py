"""The SSM agent of each node, for moto: Run Command invocations go InProgress, then report what the node did.

    with fake_ssm_agent(monkeypatch, {"i-0abc": (0, "ok\\n", ""), "i-0def": (1, "", "boom\\n")}) as agent:
        run_command(nodes, "ray status", "us-west-2")
    agent.scripts        # the scripts the nodes were sent

moto answers every invocation `Success` with no output at once; a real agent
reports `InProgress` until the command ends, then `Success` (exit 0) or
`Failed` with the exit code as ResponseCode and the output it captured.
Works for moto in this process, in-process `mock_aws` or a ThreadedMotoServer
alike: both keep their state in moto's backends here.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field


@dataclass
class FakeAgent:
    results: dict[str, tuple[int, str, str]]
    delay_s: float
    scripts: list[str] = field(default_factory=list)
    finished: set[tuple[str, str]] = field(default_factory=set)

    def finish_due(self) -> None:
        from moto.ssm.models import ssm_backends

        for regions in list(ssm_backends.values()):
            for backend in list(regions.values()):
                for command in list(backend._commands):
                    self._finish(command)

    def _finish(self, command) -> None:
        from moto.core.utils import utcnow

        if (utcnow() - command.requested_date_time).total_seconds() < self.delay_s:
            return
        for invocation in command.invocations:
            key = (command.command_id, invocation["InstanceId"])
            if key in self.finished:
                continue
            self.finished.add(key)
            self.scripts.extend(command.parameters.get("commands", []))
            code, out, err = self.results.get(invocation["InstanceId"], (0, "", ""))
            status = "Success" if code == 0 else "Failed"
            invocation.update(Status=status, StatusDetails=status, ResponseCode=code,
                              StandardOutputContent=out, StandardErrorContent=err)


@contextlib.contextmanager
def fake_ssm_agent(monkeypatch, results: dict[str, tuple[int, str, str]], delay_s: float = 1.0):
    from moto.ssm.models import Command

    original = Command.invocation_response

    def pending(self, instance_id, plugin_name):
        response = original(self, instance_id, plugin_name)
        response.update(Status="InProgress", StatusDetails="InProgress", ResponseCode=-1)
        return response

    monkeypatch.setattr(Command, "invocation_response", pending)
    agent = FakeAgent(results, delay_s)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.1):
            agent.finish_due()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        stop.set()
        thread.join()
