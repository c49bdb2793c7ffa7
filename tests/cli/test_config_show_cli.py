"""`rayfleet config show` writes YAML (or JSON) that parses back to the same environment, whatever the terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest
import yaml

from stacks.loader import load_environment, parse_stack_config
from tests.fakes.environments import ENVIRONMENTS, ROOT

NARROW = {"COLUMNS": "40"}


def same_environment(env: str, document: dict) -> bool:
    return parse_stack_config(env, document["config"], source="config show") == load_environment(env)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_show_piped_to_a_file_is_yaml_of_the_same_environment_on_a_narrow_terminal(cli, env):
    run = cli("config", "show", "--env", env, env=NARROW)
    assert run.code == 0, run.err
    assert run.out.startswith(f"# environment '{env}', with defaults\nconfig:\n")
    assert same_environment(env, yaml.safe_load(run.out))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_show_json_is_json_of_the_same_environment_on_a_narrow_terminal(cli, env):
    run = cli("config", "show", "--env", env, "--json", env=NARROW)
    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert document["env"] == env
    assert same_environment(env, document)


def test_show_on_a_40_column_terminal_does_not_wrap_long_values():
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    env = {**os.environ, **NARROW, "TERM": "xterm", "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rayfleet", "config", "show", "--env", "dev"],
                            cwd=ROOT, env=env, stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the command exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    assert same_environment("dev", yaml.safe_load(text))
