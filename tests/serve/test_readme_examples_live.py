"""The README's `curl` examples, pasted as written (Serve's port aside), answer what the README shows.

The session cluster runs on a free port, not local up's 8000: the examples' `localhost:8000`
is the one thing changed. /reviews is `serve new`'s application, run in test_serve_new_live.py.
"""

from __future__ import annotations

from tests.fakes.environments import ROOT
from tests.fakes.readme import curl_examples

README = (ROOT / "README.md").read_text()


def test_readme_curl_examples_of_the_dev_apps_answer_as_shown(local_cluster):
    examples = [e for e in curl_examples(README) if e.route in ("/sentiment", "/digits")]
    assert len(examples) == 5
    port = local_cluster["state"].serve_port
    answers = {e.command: e.run(port) for e in examples}
    wrong = {e.command: answers[e.command] for e in examples if not e.shows(answers[e.command])}
    assert wrong == {}
