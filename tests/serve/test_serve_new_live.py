"""Applications of the user's own, from folders outside the project, deploy with `local up --file` and
answer over HTTP; `local down` leaves nothing: the `serve new` output, and a hand-written package.

Both run on one head of their own (own RAYFLEET_HOME and ports; one stack file naming both), so that
the session cluster is untouched: it would take the stack's applications in place of dev's.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import yaml

from tests.fakes.cli import run_cli
from tests.fakes.environments import ROOT
from tests.fakes.own_app import own_app_entry, write_own_app
from tests.fakes.ports import free_ports
from tests.fakes.readme import curl_examples


@pytest.fixture(scope="module")
def own_head(tmp_path_factory):
    """`serve new reviews` and the hand-written package, deployed by one `local up --file` on free ports
    of its own; `local down` after the module, which must leave no process of the head."""
    from serve_apps.local import read_state
    from serve_apps.processes import session_processes

    tmp = tmp_path_factory.mktemp("own-apps")
    folder = tmp / "apps" / "reviews"
    new = run_cli("serve", "new", "reviews", "--dir", str(folder))
    stack = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    stack["config"]["rayfleet:serve"]["applications"] = [
        *yaml.safe_load((folder / "stack-snippet.yaml").read_text()), own_app_entry(write_own_app(tmp / "outside"))]
    path = tmp / "Pulumi.mine.yaml"
    path.write_text(yaml.safe_dump(stack, sort_keys=False))
    gcs, dashboard, serve = free_ports(3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAYFLEET_HOME", str(tmp / "home"))  # this process's read_state, and the CLI's
        up = run_cli("local", "up", "--file", str(path), "--ray-port", str(gcs), "--dashboard-port", str(dashboard),
                     "--port", str(serve), "--json", timeout=400)
        try:
            yield new, up, serve, path
        finally:
            state = read_state()
            down = run_cli("local", "down", timeout=120)
        assert down.code == 0, down.err
        assert state is not None and session_processes(state.pgid, state.temp_dir) == []


def _post(url: str, doc: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_new_application_deploys_with_local_up_and_answers(own_head):
    new, up, serve_port, _ = own_head
    assert new.code == 0, new.err
    assert up.code == 0, up.err
    url = f"http://127.0.0.1:{serve_port}/reviews"
    assert _post(url, {"text": "a great day"}) == (200, {"score": 2.0, "label": "positive", "modelVersion": "lookup-v1"})
    assert _post(url, {"txt": "a great day"}) == (400, {"error": "the body needs a 'text' string (got keys: txt)"})
    readme = [e for e in curl_examples((ROOT / "README.md").read_text()) if e.route == "/reviews"]
    assert len(readme) == 2
    assert {e.command: e.shows(e.run(serve_port)) for e in readme} == {e.command: True for e in readme}


def test_an_application_outside_the_project_validates_renders_deploys_and_answers(own_head):
    _, up, serve_port, path = own_head
    assert run_cli("config", "validate", "--file", str(path)).code == 0
    rendered = run_cli("render", "serve", "--file", str(path), "--json")
    assert rendered.code == 0, rendered.err
    assert up.code == 0, up.err
    url = f"http://127.0.0.1:{serve_port}/fraud"
    assert _post(url, {"amount": 900}) == (200, {"fraud": True, "amount": 900.0})
    assert _post(url, {"amount": 20}) == (200, {"fraud": False, "amount": 20.0})
