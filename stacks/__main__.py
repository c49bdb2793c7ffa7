"""Pulumi's entry point (`main: stacks/` in Pulumi.yaml): `pulumi up --stack prod` runs this.

The environment is the selected stack's whole config (`stacks/Pulumi.<stack>.yaml`),
validated by the same loader path as `rayfleet config validate`: every `rayfleet:`
key is checked, so a misspelled one fails with the same did-you-mean, e.g.

    error: stack 'prod' config: 1 problem
      - rayfleet:failovr = {...}: is not a known key. Fix: did you mean 'rayfleet:failover'?
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime import config as pulumi_config

from components.errors import RayfleetError
from stacks.loader import parse_stack_config
from stacks.program import build


def stack_config() -> dict[str, Any]:
    """Every key of the stack's config (`rayfleet:cluster`, `aws:region`, ...) with its value decoded.

    `pulumi.Config` only answers for keys asked by name, so an unknown key would go unseen.
    Pulumi's language host hands the program the whole config as a JSON object in the
    PULUMI_CONFIG environment variable, and its entry script copies it into the runtime's
    config map (`pulumi.runtime.set_all_config`, which tests call too); `get_config` reads
    the map first, the variable second, and so does this. Values arrive as strings:
    structured ones JSON-encoded, plain strings as they are.
    """
    raw = {**pulumi.runtime.get_config_env(), **pulumi_config.CONFIG.get()}
    return {key: _decoded(value) for key, value in raw.items()}


def _decoded(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # a plain string (`aws:region: us-east-1`)


def _load():
    stack = pulumi.get_stack()
    try:
        return parse_stack_config(stack, stack_config(), source=f"stack '{stack}' config")
    except RayfleetError as err:
        # RunError is reported by the engine as a message, without a Python traceback.
        raise pulumi.RunError(str(err)) from None


def _build(cfg) -> None:
    try:
        build(cfg)
    except RayfleetError as err:
        # A change the program refuses (a new Ray version on a running stack): one line, no traceback.
        raise pulumi.RunError(str(err)) from None


_build(_load())
