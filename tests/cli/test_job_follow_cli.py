"""`rayfleet job submit` when the way to the job API breaks while it follows the job (a job API double on loopback)."""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fakes.cli import run_cli

JOB = "raysubmit_AbCdEf123456"
TOKEN = "t0k"


@contextlib.contextmanager
def job_api(dropped: tuple[str, ...]):
    """Answers Ray's job API like a dashboard whose job is RUNNING; a request to a `dropped` path has its
    connection closed unanswered, as a Session Manager forwarding that dropped or a restarting dashboard do."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: dict) -> None:
            path = self.path.split("?")[0].rstrip("/")
            if any(path.endswith(end) for end in dropped):
                self.close_connection = True
                return
            data = json.dumps(body).encode()
            self.send_response(200 if self.headers.get("Authorization") == f"Bearer {TOKEN}" else 403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - the handler's method name
            if self.path.startswith("/api/version"):
                self._answer({"version": "4", "ray_version": "2.60.0", "ray_commit": "0" * 40})
            else:
                self._answer({"type": "SUBMISSION", "submission_id": JOB, "status": "RUNNING",
                              "entrypoint": "python run.py"})

        def do_POST(self):  # noqa: N802 - the handler's method name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._answer({"job_id": JOB, "submission_id": JOB})

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("dropped", [("/logs", "/logs/tail"), ("/logs", "/logs/tail", JOB)],
                         ids=["output", "output-and-status"])
def test_losing_the_job_api_while_following_says_the_job_keeps_running_and_where_to_see_it(dropped):
    with job_api(dropped) as url:
        run = run_cli("job", "submit", "--address", url, "--token", TOKEN, "--", "python", "run.py")
    assert run.code == 1, run.err
    submitted, error = run.err.splitlines()
    assert submitted == f"✓ submitted {JOB} to {url}"
    assert error.startswith(f"error: lost the job API at {url} while following job {JOB} (")
    assert error.endswith(
        f"); the job keeps running on the cluster. Fix: see its status and output with 'ray job status {JOB}' and "
        f"'ray job logs --follow {JOB}' against the same dashboard (on a cloud cluster: 'rayfleet exec --env ENV -- "
        f"ray job logs {JOB}'), or on the dashboard's Jobs page")
