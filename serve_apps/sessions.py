"""Session Manager command lines: a shell on a node, or the head's dashboard forwarded to this machine.

    require_session_tools()                                   # the AWS CLI and session-manager-plugin, or a Fix
    shell_command("i-0abc", "us-east-1")
    # ['aws', 'ssm', 'start-session', '--target', 'i-0abc', '--region', 'us-east-1']
    forward_command("i-0abc", "us-east-1", remote_port=8265, local_port=8265)
    # [..., '--document-name', 'AWS-StartPortForwardingSession',
    #  '--parameters', '{"portNumber":["8265"],"localPortNumber":["8265"]}']

Interactive sessions go through `aws ssm start-session`, which hands the
session to AWS's session-manager-plugin: the nodes open no port and hold no
SSH key. The documents are AWS's own: the default shell document
(SSM-SessionManagerRunShell) without a command, `AWS-StartInteractiveCommand`
(parameter `command`) with one, and `AWS-StartPortForwardingSession`
(parameters `portNumber`, `localPortNumber`) for the dashboard. Document
parameters are lists of strings, as `aws ssm start-session --parameters`
takes them in JSON. Pure: nothing here starts a process.
"""

from __future__ import annotations

import json
import shutil
from typing import Callable

from components.errors import RayfleetError

PLUGIN = "session-manager-plugin"
INTERACTIVE_COMMAND_DOCUMENT = "AWS-StartInteractiveCommand"
PORT_FORWARDING_DOCUMENT = "AWS-StartPortForwardingSession"
#: AWS's install page for the plugin (per OS: a .deb, .rpm, .pkg or Windows installer).
PLUGIN_INSTALL_URL = "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html"


def require_session_tools(which: Callable[[str], str | None] = shutil.which) -> None:
    """Fail with one line and a Fix unless the AWS CLI and the session-manager-plugin are on PATH."""
    if which("aws") is None:
        raise RayfleetError(
            "the AWS CLI ('aws') is not on PATH: Session Manager sessions start through it. "
            "Fix: install AWS CLI v2 (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)"
        )
    if which(PLUGIN) is None:
        raise RayfleetError(
            f"AWS's {PLUGIN} is not on PATH: 'aws ssm start-session' needs it for interactive sessions. "
            f"Fix: install it ({PLUGIN_INSTALL_URL}), e.g. on Ubuntu: curl -fsSLo /tmp/smp.deb "
            "https://s3.amazonaws.com/session-manager-downloads/plugin/latest/ubuntu_64bit/session-manager-plugin.deb "
            "&& sudo dpkg -i /tmp/smp.deb"
        )


def shell_command(instance_id: str, region: str, command: str | None = None) -> list[str]:
    """`aws ssm start-session` for a shell on `instance_id`, or for `command` run interactively there."""
    argv = ["aws", "ssm", "start-session", "--target", instance_id, "--region", region]
    if command is None:
        return argv
    return argv + ["--document-name", INTERACTIVE_COMMAND_DOCUMENT, "--parameters", _parameters(command=command)]


def forward_command(instance_id: str, region: str, *, remote_port: int, local_port: int) -> list[str]:
    """`aws ssm start-session` forwarding `local_port` on this machine to `remote_port` on the instance."""
    return [
        "aws", "ssm", "start-session", "--target", instance_id, "--region", region,
        "--document-name", PORT_FORWARDING_DOCUMENT,
        "--parameters", _parameters(portNumber=str(remote_port), localPortNumber=str(local_port)),
    ]


def token_command(secret_arn: str, region: str) -> str:
    """The shell command that prints the dashboard token from its Secrets Manager secret."""
    return (f"aws secretsmanager get-secret-value --secret-id {secret_arn} --region {region} "
            "--query SecretString --output text")


def _parameters(**values: str) -> str:
    return json.dumps({key: [value] for key, value in values.items()}, separators=(",", ":"))
