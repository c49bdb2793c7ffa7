"""The Session Manager command lines rayfleet builds: AWS's documents, parameters and CLI flags."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from components.errors import RayfleetError
from serve_apps.sessions import forward_command, require_session_tools, shell_command, token_command

HEAD = "i-0123456789abcdef0"


def _flags(argv: list[str]) -> dict[str, str]:
    """`aws ssm start-session --flag value ...` as {flag: value}."""
    assert argv[:3] == ["aws", "ssm", "start-session"]
    rest = argv[3:]
    return dict(zip(rest[::2], rest[1::2]))


def _start_session_params(argv: list[str]) -> dict:
    """The StartSession request the AWS CLI makes from `argv` (its flags are the API's members, kebab-cased)."""
    flags = _flags(argv)
    params = {"Target": flags["--target"]}
    if "--document-name" in flags:
        params["DocumentName"] = flags["--document-name"]
    if "--parameters" in flags:
        params["Parameters"] = json.loads(flags["--parameters"])
    return params


def _validate_against_aws_model(params: dict) -> None:
    model = botocore.session.get_session().get_service_model("ssm")
    report = ParamValidator().validate(params, model.operation_model("StartSession").input_shape)
    assert not report.has_errors(), report.generate_report()


def test_a_shell_uses_session_managers_default_shell_document():
    argv = shell_command(HEAD, "us-east-1")
    assert argv == ["aws", "ssm", "start-session", "--target", HEAD, "--region", "us-east-1"]
    _validate_against_aws_model(_start_session_params(argv))


def test_a_command_runs_through_aws_start_interactive_command():
    argv = shell_command(HEAD, "eu-west-1", "sudo -iu ray bash")
    assert _flags(argv) == {
        "--target": HEAD,
        "--region": "eu-west-1",
        "--document-name": "AWS-StartInteractiveCommand",
        "--parameters": '{"command":["sudo -iu ray bash"]}',
    }
    _validate_against_aws_model(_start_session_params(argv))


def test_the_dashboard_is_forwarded_with_aws_port_forwarding_document():
    argv = forward_command(HEAD, "us-east-1", remote_port=8265, local_port=18265)
    assert _flags(argv) == {
        "--target": HEAD,
        "--region": "us-east-1",
        "--document-name": "AWS-StartPortForwardingSession",
        # The document's parameters are strings, each in a list: {"portNumber": ["8265"], ...}.
        "--parameters": '{"portNumber":["8265"],"localPortNumber":["18265"]}',
    }
    _validate_against_aws_model(_start_session_params(argv))


@pytest.mark.parametrize("argv", [
    shell_command(HEAD, "us-east-1"),
    shell_command(HEAD, "us-east-1", "top"),
    forward_command(HEAD, "us-east-1", remote_port=8265, local_port=8265),
])
def test_every_flag_is_a_member_of_the_start_session_api_or_the_region(argv):
    members = botocore.session.get_session().get_service_model("ssm").operation_model("StartSession").input_shape.members
    cli_flags = {"--" + "-".join(part.lower() for part in _split_camel(name)) for name in members} | {"--region"}
    assert set(_flags(argv)) <= cli_flags


def _split_camel(name: str) -> list[str]:
    parts, current = [], ""
    for char in name:
        if char.isupper() and current:
            parts.append(current)
            current = ""
        current += char
    return parts + [current]


def test_without_the_plugin_the_error_says_how_to_install_it():
    with pytest.raises(RayfleetError) as err:
        require_session_tools(which=lambda name: None if name == "session-manager-plugin" else f"/usr/bin/{name}")
    assert str(err.value) == (
        "AWS's session-manager-plugin is not on PATH: 'aws ssm start-session' needs it for interactive sessions. "
        "Fix: install it (https://docs.aws.amazon.com/systems-manager/latest/userguide/"
        "session-manager-working-with-install-plugin.html), e.g. on Ubuntu: curl -fsSLo /tmp/smp.deb "
        "https://s3.amazonaws.com/session-manager-downloads/plugin/latest/ubuntu_64bit/session-manager-plugin.deb "
        "&& sudo dpkg -i /tmp/smp.deb"
    )


def test_without_the_aws_cli_the_error_says_to_install_it_first():
    with pytest.raises(RayfleetError, match=r"^the AWS CLI \('aws'\) is not on PATH.*Fix: install AWS CLI v2"):
        require_session_tools(which=lambda name: None)


def test_with_both_tools_sessions_may_start():
    require_session_tools(which=lambda name: f"/usr/local/bin/{name}")


def test_the_token_command_prints_only_the_secret_string():
    assert token_command("arn:aws:secretsmanager:us-east-1:123456789012:secret:token-AbC", "us-east-1") == (
        "aws secretsmanager get-secret-value --secret-id arn:aws:secretsmanager:us-east-1:123456789012:secret:token-AbC "
        "--region us-east-1 --query SecretString --output text"
    )
