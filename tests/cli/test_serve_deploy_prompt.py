"""The removal question of `serve deploy` / `local up` is shown, not drawn over by the progress spinner."""

from __future__ import annotations

import io

from rich.console import Console
from rich.live import Live
from rich.text import Text

from rayfleet.commands import serve


def test_removal_prompt_pauses_the_progress_spinner_and_resumes_it(monkeypatch):
    seen = []

    def answer(question, default, err):
        seen.append((question, live.is_started, out.getvalue()))
        return True

    monkeypatch.setattr(serve.sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(serve.typer, "confirm", answer)
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=100)
    with Live(Text("deploying: sentiment UPDATING"), console=terminal, transient=True, auto_refresh=False) as live:
        live.refresh()
        assert serve.confirmer(False, live)(["old-app"]) is True
        resumed = live.is_started
    [(question, spinning, drawn)] = seen
    assert (question, spinning, resumed) == ("Remove them?", False, True)
    # Stopping a transient Live erases its line, so the question starts on a clean line.
    assert drawn.endswith("\x1b[2K")
