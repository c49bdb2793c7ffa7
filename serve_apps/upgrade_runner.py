"""The upgrade's `StackRunner` on the Pulumi Automation API: the stack's config, its outputs, `pulumi up`.

    runner = AutomationRunner("prod", environment_file("prod"))
    runner.up({**runner.config(), "rayfleet:upgrade": {"cluster": {"rayVersion": "2.60.1"}, "weight": 0}})

The stack file is the config; the runner changes only the keys that differ
(`pulumi config set --path` leaf by leaf, `config rm` for the rest), so the
rest of the file is left as its owner wrote it, then runs the program in
stacks/ as `pulumi up` does. Needs the Pulumi CLI on PATH.
"""

from __future__ import annotations

import json

from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.errors import RayfleetError
from stacks.loader import read_stack_file
from stacks.outputs_model import StackOutputs
from stacks.upgrade_plan import config_paths

#: The project root: where Pulumi.yaml names the program (`main: stacks/`).
PROJECT_DIR = Path(__file__).resolve().parents[1]


class AutomationRunner:
    def __init__(self, env: str, stack_file: Path, on_output: Callable[[str], None] = print):
        self.env = env
        self.stack_file = stack_file
        self.on_output = on_output

    def _stack(self):
        from pulumi import automation as auto

        try:
            return auto.select_stack(stack_name=self.env, work_dir=str(PROJECT_DIR))
        except Exception as err:  # noqa: BLE001 - the CLI's own message says why (not installed, not logged in)
            raise RayfleetError(
                f"cannot select the Pulumi stack {self.env} ({err}). Fix: install the Pulumi CLI and log in to the "
                f"backend that holds the stack"
            ) from None

    def config(self) -> dict[str, Any]:
        return dict(read_stack_file(self.stack_file))

    def outputs(self) -> StackOutputs:
        outputs = self._stack().outputs()
        return StackOutputs.model_validate({key: item.value for key, item in outputs.items()})

    def up(self, config: dict[str, Any]) -> StackOutputs:
        from pulumi import automation as auto

        stack = self._stack()
        sets, removed = config_paths(self.config(), config)
        if removed:
            stack.remove_all_config(removed, path=True)
        if sets:
            stack.set_all_config({path: auto.ConfigValue(value=_text(value)) for path, value in sets.items()}, path=True)
        result = stack.up(on_output=self.on_output)
        return StackOutputs.model_validate({key: item.value for key, item in result.outputs.items()})


def _text(value: Any) -> str:
    """A leaf as `pulumi config set` takes it: strings as they are, numbers and booleans as JSON writes them."""
    return value if isinstance(value, str) else json.dumps(value)


class ReadOnlyStack:
    """The stack as the dry run sees it: its file's config and its outputs (`--outputs FILE` or the CLI's); no `up`."""

    def __init__(self, env: str, stack_file: Path, outputs_file: Path | None = None):
        self.env, self.stack_file, self.outputs_file = env, stack_file, outputs_file

    def config(self) -> dict[str, Any]:
        return dict(read_stack_file(self.stack_file))

    def outputs(self) -> StackOutputs:
        from stacks.outputs import read_stack_outputs

        return read_stack_outputs(self.env, self.outputs_file)

    def up(self, config: dict[str, Any]) -> StackOutputs:
        raise RayfleetError("a dry run changes nothing: it does not run `pulumi up`")
