"""The operations commands declare exactly the AWS calls they make with the operator's credentials."""

from __future__ import annotations

import inspect
import shlex

import serve_apps.node_logs
import serve_apps.remote
from serve_apps.remote import PERMISSIONS
from serve_apps.sessions import forward_command, shell_command
from tests.fakes.aws_call_scan import calls_in, user_data_calls


def test_the_operations_commands_declare_exactly_the_aws_calls_they_make():
    source = inspect.getsource(serve_apps.remote) + inspect.getsource(serve_apps.node_logs)
    sessions = "\n".join(shlex.join(argv) for argv in (
        shell_command("i-0abc", "us-east-1"), forward_command("i-0abc", "us-east-1", remote_port=8265, local_port=8265)))
    assert calls_in(source, {"ec2", "ssm", "logs"}) | user_data_calls(sessions) == set(PERMISSIONS)
