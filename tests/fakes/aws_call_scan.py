"""Find the AWS calls code makes by reading it: client methods, paginators, waiters and CLI lines,
mapped to IAM actions through botocore's service models.

    >>> calls_in('asg.set_desired_capacity(AutoScalingGroupName="a", DesiredCapacity=1)', {"autoscaling"})
    {'autoscaling:SetDesiredCapacity'}

A `getattr(client, "operation")` dispatch is found through the string that names the operation.
"""

from __future__ import annotations

import ast
import pkgutil
import re
from functools import lru_cache
from pathlib import Path

import botocore.session
from botocore import xform_name

import components.node_agents
from components.ray_cluster.permissions import declared_by

#: Operations whose IAM action is not `<service>:<operation>` (Service Authorization Reference).
IAM_ACTION_OF = {("s3", "HeadObject"): "s3:GetObject", ("s3", "ListObjectsV2"): "s3:ListBucket"}
#: Services whose IAM prefix is not their signing name (CloudWatch signs as `monitoring`, acts as `cloudwatch:`).
IAM_PREFIX_OF = {"monitoring": "cloudwatch"}
AGENT_MODULES = sorted(m.name for m in pkgutil.iter_modules(components.node_agents.__path__, "components.node_agents."))

_BOTOCORE = botocore.session.get_session()


@lru_cache(maxsize=None)
def operations(service: str) -> dict[str, str]:
    """Client method, paginator and waiter names of `service` -> its IAM action."""
    model = _BOTOCORE.get_service_model(service)
    prefix = IAM_PREFIX_OF.get(model.signing_name, model.signing_name)

    def action(operation: str) -> str:
        return IAM_ACTION_OF.get((prefix, operation), f"{prefix}:{operation}")

    names = {xform_name(op): action(op) for op in model.operation_names}
    try:
        waiters = _BOTOCORE.get_waiter_model(service)
    except Exception:  # noqa: BLE001 - services without waiters
        return names
    for waiter in waiters.waiter_names:
        names.setdefault(xform_name(waiter), action(waiters.get_waiter(waiter).operation))
    return names


def _services(tree: ast.AST) -> set[str]:
    """Services a client is made for: the literal first argument of every `client("svc", ...)` call."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "client" and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def calls_in(source: str, services: set[str]) -> set[str]:
    """IAM actions of every `x.<operation>(...)`, and of every string naming an operation
    (`get_paginator("describe_instances")`, `get_waiter(...)`, `getattr(client, "op")`)."""
    known: dict[str, set[str]] = {}
    for service in services:
        for name, action in operations(service).items():
            known.setdefault(name, set()).add(action)
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            found |= known.get(node.func.attr, set())
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= known.get(node.value, set())
    return found


@lru_cache(maxsize=None)
def agent_services() -> frozenset[str]:
    """Every service the agents make clients for (the helpers in aws_calls make them for the rest)."""
    package = Path(components.node_agents.__path__[0])
    return frozenset().union(*(_services(ast.parse(f.read_text())) for f in package.glob("*.py")))


def agent_source(module: str) -> str:
    return Path(components.node_agents.__path__[0], module.rsplit(".", 1)[1] + ".py").read_text()


def declared_actions(module: str) -> set[str]:
    try:
        return {action for action, _ in declared_by(module)}
    except ValueError:
        return set()


def _python_in(script: str) -> list[str]:
    """The Python in user data: every heredoc (`python - <<'PY'`, or a file the boot writes) that parses as
    Python and uses boto3."""
    snippets = []
    for _, body in re.findall(r"<<'?(\w+)'?\n(.*?)\n\1\n", script, flags=re.S):
        try:
            ast.parse(body)
        except SyntaxError:
            continue
        if "boto3" in body:
            snippets.append(body)
    return snippets


_CLI = re.compile(r"\baws ([a-z0-9-]+) ([a-z0-9-]+)")


def user_data_calls(script: str) -> set[str]:
    """IAM actions of the boto3 calls in the user data's Python and of any `aws <service> <command>` line."""
    found: set[str] = set()
    for snippet in _python_in(script):
        found |= calls_in(snippet, _services(ast.parse(snippet)))
    for service, command in _CLI.findall(script):
        if service in _BOTOCORE.get_available_services():
            # A high-level command (`aws s3 cp`) is no API operation: it shows up unmapped, so it fails loudly.
            found.add(operations(service).get(xform_name(command.replace("-", "_")), f"{service}:unmapped-{command}"))
    return found


def granted(policy) -> set[str]:
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def actions(declared) -> set[str]:
    return {action for action, _ in declared}
