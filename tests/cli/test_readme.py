"""The README tells the truth: its set-up and test commands are the ones CI runs."""

from __future__ import annotations

import re

from tests.fakes.environments import ROOT
from tests.fakes.readme import curl_examples

README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_install_and_test_commands_are_what_ci_runs():
    blocks = _bash_blocks(README)
    install, _run, test = (b.strip() for b in blocks[:3])
    assert install == "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'"
    assert test == ".venv/bin/pytest"
    ci_lines = [line.strip() for line in CI.splitlines() if line.strip() and not line.startswith("#")]
    assert install in ci_lines
    assert test in ci_lines


def test_documented_commands_exist():
    from typer.main import get_command

    from rayfleet.app import app

    root = get_command(app)
    for command in re.findall(r"`rayfleet ([a-z]+(?: [a-z][a-z-]*)?)", README):
        words = command.split()
        group = root.commands.get(words[0])
        assert group is not None, f"README mentions 'rayfleet {command}', which does not exist"
        if len(words) == 2 and hasattr(group, "commands"):
            assert words[1] in group.commands or words[1].startswith("-"), f"no 'rayfleet {command}'"


def test_every_curl_example_sends_a_complete_request():
    # tests/serve/test_readme_examples_live.py runs them against `local up`; pasted, an elided body fails.
    examples = curl_examples(README)
    assert [e.route for e in examples if e.route] == [
        "/sentiment", "/sentiment", "/digits", "/digits", "/digits", "/reviews", "/reviews",
    ]
    assert [e.command for e in examples if "..." in e.command] == []
