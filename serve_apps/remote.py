"""A deployed cluster's nodes, found by the tags the program writes, and commands run on them through SSM.

    ref = cluster_ref(cfg, region=None)                      # the primary region's cluster, from the stack outputs
    nodes = cluster_nodes(ref)
    head = select_nodes(nodes, "head")                       # or "all", or an instance id
    results = run_command(head, "ray status", "us-east-1", on_progress=print)
    [(r.node.instance_id, r.status, r.exit_code, r.stdout) for r in results]

Nodes are the running instances tagged `rayfleet:env` = ENV and
`rayfleet:cluster` = the region's cluster (the `cluster` stack output); the
`rayfleet:node-type` tag says which is the head. Commands go through Run
Command's `AWS-RunShellScript` (SendCommand, then GetCommandInvocation per
node): nothing listens on the nodes for them. AWS's rules this code keeps:
SendCommand takes at most 50 instance ids; an invocation does not exist for a
moment after SendCommand (`InvocationDoesNotExist`); the output kept in the
invocation is the first 24,000 characters of stdout and 8,000 of stderr.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from components.contract import CLUSTER_KEY, ENV_KEY, HEAD_NODE_TYPE, MARKET_KEY, NODE_TYPE_KEY
from components.errors import RayfleetError
from components.ray_cluster.userdata import RAY_ENV_PATH, VENV
from stacks.config import EnvironmentConfig

#: IAM actions the operator's credentials need for these commands, next to the code that calls them.
PERMISSIONS = ("ec2:DescribeInstances", "ssm:SendCommand", "ssm:GetCommandInvocation", "ssm:StartSession",
               "logs:FilterLogEvents")

RUN_SHELL_DOCUMENT = "AWS-RunShellScript"
#: SendCommand's limit on InstanceIds per call.
MAX_INSTANCES_PER_COMMAND = 50
#: The largest executionTimeout AWS-RunShellScript accepts: 48 hours.
MAX_EXECUTION_TIMEOUT_S = 172800
#: Invocation statuses after which nothing changes (GetCommandInvocation's Status).
FINAL_STATUSES = frozenset({"Success", "Failed", "Cancelled", "TimedOut"})
#: The nodes' Ray and agents live in this venv; commands find `ray` and `python` there first.
NODE_PATH = f"{VENV}/bin"


@dataclass(frozen=True)
class ClusterRef:
    """One region's cluster as the operations commands reach it (from the stack outputs)."""

    env: str
    region: str
    #: The `rayfleet:cluster` tag of its instances.
    cluster: str
    log_group_name: str | None = None
    dashboard_token_secret_arn: str | None = None


def cluster_ref(cfg: EnvironmentConfig, region: str | None, outputs_file=None, *, needs: Sequence[str] = ()) -> ClusterRef:
    """The cluster of `region` (default: the primary region), with the outputs `needs` names present."""
    from serve_apps.targets import check_regions
    from stacks.outputs import read_stack_outputs, stack_region

    (name,) = check_regions(cfg, region or cfg.primary_region.name)
    found = stack_region(read_stack_outputs(cfg.env, outputs_file), cfg.env, name, needs=("cluster", *needs))
    return ClusterRef(cfg.env, name, found.cluster, found.log_group_name, found.dashboard_token_secret_arn)


@dataclass(frozen=True)
class Node:
    instance_id: str
    node_type: str
    market: str
    private_ip: str

    @property
    def is_head(self) -> bool:
        return self.node_type == HEAD_NODE_TYPE

    @property
    def label(self) -> str:
        return f"{self.instance_id} ({self.node_type}{'' if self.is_head else ', ' + self.market})"


@dataclass(frozen=True)
class NodeResult:
    node: Node
    #: GetCommandInvocation's Status: Success, Failed, Cancelled, TimedOut (or the last seen, on our timeout).
    status: str
    #: The command's exit code; -1 when it did not finish.
    exit_code: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "Success" and self.exit_code == 0


def _clients(service: str, region: str):
    import boto3

    from components.node_agents.aws_calls import CLIENT_CONFIG

    return boto3.client(service, region_name=region, config=CLIENT_CONFIG)


def cluster_nodes(ref: ClusterRef) -> list[Node]:
    """The running instances of the cluster, the head first, then by node type and instance id."""
    from botocore.exceptions import BotoCoreError, ClientError

    filters = [
        {"Name": f"tag:{ENV_KEY}", "Values": [ref.env]},
        {"Name": f"tag:{CLUSTER_KEY}", "Values": [ref.cluster]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]
    nodes = []
    try:
        for page in _clients("ec2", ref.region).get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                nodes += [_node(instance) for instance in reservation["Instances"]]
    except (BotoCoreError, ClientError) as err:
        raise RayfleetError(f"cannot list the nodes of {ref.cluster} in {ref.region} ({err}). "
                            "Fix: use AWS credentials allowed ec2:DescribeInstances in that region") from None
    return sorted(nodes, key=lambda n: (not n.is_head, n.node_type, n.instance_id))


def _node(instance: dict) -> Node:
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    return Node(instance["InstanceId"], tags.get(NODE_TYPE_KEY, "?"), tags.get(MARKET_KEY, "?"),
                instance.get("PrivateIpAddress", ""))


def select_nodes(nodes: Sequence[Node], which: str, *, where: str = "the cluster") -> list[Node]:
    """`head`, `all`, or one instance id among `nodes`; an error naming what exists otherwise."""
    if not nodes:
        raise RayfleetError(f"{where} has no running nodes. Fix: check that the stack is up "
                            "('pulumi up' finished) and that the head's ASG has launched its instance")
    if which == "all":
        return list(nodes)
    if which == HEAD_NODE_TYPE:
        heads = [n for n in nodes if n.is_head]
        if not heads:
            raise RayfleetError(f"{where} has no running head (nodes: {_listing(nodes)}). "
                                "Fix: wait for the head's ASG to replace it, or pick a node with --node INSTANCE_ID")
        return heads[:1]
    chosen = [n for n in nodes if n.instance_id == which]
    if not chosen:
        raise RayfleetError(f"--node {which} is not a running node of {where} (nodes: {_listing(nodes)}). "
                            "Fix: pass --node head, --node all or one of those instance ids")
    return chosen


def _listing(nodes: Sequence[Node]) -> str:
    return ", ".join(n.label for n in nodes)


def node_script(command: str) -> str:
    """What AWS-RunShellScript runs (as root, in /bin/sh): `command` in the Ray units' environment, the venv first on PATH.

    Root has no ~/.ray/auth_token: Ray's CLI (`ray status`, `ray job ...`) finds the cluster's token only
    through RAY_AUTH_MODE and RAY_AUTH_TOKEN_PATH, which the units' environment file holds; `set -a`
    exports what it sets to the command's processes.
    """
    return f"set -a; . {shlex.quote(RAY_ENV_PATH)}; set +a\nexport PATH={shlex.quote(NODE_PATH)}:\"$PATH\"\n{command}"


def batches(items: Sequence[str], size: int = MAX_INSTANCES_PER_COMMAND) -> list[list[str]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def run_command(
    nodes: Sequence[Node],
    command: str,
    region: str,
    *,
    timeout_s: float = 600.0,
    on_progress: Callable[[dict[str, str], float], None] = lambda statuses, elapsed: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[NodeResult]:
    """Run `command` on every node through Run Command; wait until each node's invocation is final."""
    ssm = _clients("ssm", region)
    by_id = {n.instance_id: n for n in nodes}
    command_of = {}
    for ids in batches(list(by_id)):
        command_id = _send(ssm, ids, command, timeout_s)
        command_of.update({i: command_id for i in ids})
    started = clock()
    seen: dict[str, dict] = {}
    while True:
        for instance_id, command_id in command_of.items():
            if seen.get(instance_id, {}).get("Status") not in FINAL_STATUSES:
                seen[instance_id] = _invocation(ssm, command_id, instance_id) or seen.get(instance_id, {})
        statuses = {i: seen[i].get("Status", "Pending") for i in command_of}
        elapsed = clock() - started
        on_progress(statuses, elapsed)
        if all(s in FINAL_STATUSES for s in statuses.values()) or elapsed >= timeout_s:
            break
        sleep(1.0)
    return [_result(by_id[i], seen[i]) for i in command_of]


def _send(ssm, instance_ids: list[str], command: str, timeout_s: float) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = ssm.send_command(
            InstanceIds=instance_ids,
            DocumentName=RUN_SHELL_DOCUMENT,
            Comment="rayfleet exec",
            Parameters={"commands": [node_script(command)], "executionTimeout": [str(_execution_timeout(timeout_s))]},
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "InvalidInstanceId":
            raise RayfleetError(
                f"Systems Manager cannot reach node(s) {', '.join(instance_ids)} (InvalidInstanceId): their SSM "
                "agent is not online yet, or the instance is gone. Fix: wait a minute after boot and retry, "
                "or check the node in the Systems Manager console (Fleet Manager)"
            ) from None
        raise RayfleetError(f"cannot send the command ({err}). Fix: use AWS credentials allowed ssm:SendCommand "
                            f"with the {RUN_SHELL_DOCUMENT} document on the cluster's instances") from None
    except BotoCoreError as err:
        raise RayfleetError(f"cannot send the command ({err}). Fix: check your network and AWS credentials") from None
    return response["Command"]["CommandId"]


def _execution_timeout(timeout_s: float) -> int:
    # AWS-RunShellScript's executionTimeout: whole seconds, 1 to 172800 (its document's allowedPattern).
    return max(1, min(MAX_EXECUTION_TIMEOUT_S, int(timeout_s)))


def _invocation(ssm, command_id: str, instance_id: str) -> dict | None:
    """The node's invocation, or None while it does not exist yet (right after SendCommand)."""
    from botocore.exceptions import ClientError

    try:
        return ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "InvocationDoesNotExist":
            return None
        raise RayfleetError(f"cannot read the result of command {command_id} on {instance_id} ({err}). "
                            "Fix: use AWS credentials allowed ssm:GetCommandInvocation") from None


def _result(node: Node, invocation: dict) -> NodeResult:
    return NodeResult(
        node,
        invocation.get("Status", "Pending"),
        int(invocation.get("ResponseCode", -1)),
        invocation.get("StandardOutputContent", ""),
        invocation.get("StandardErrorContent", ""),
    )
