"""`rayfleet job submit` when the way to the job API breaks while it follows the job (a job API double on loopback)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fakes.cli import run_cli

JOB = "raysubmit_AbCdEf123456"
TOKEN = "t0k"


#: RFC 6455's GUID, from which a server derives Sec-WebSocket-Accept.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@contextlib.contextmanager
def job_api(dropped: tuple[str, ...]):
    """Answers Ray's job API like a dashboard whose job is RUNNING, behind the token; a request to a `dropped`
    path has its connection closed unanswered, as a Session Manager forwarding that dropped or a restarting
    dashboard do. Otherwise the log tail sends one piece of output, then closes normally."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: dict) -> None:
            path = self.path.split("?")[0].rstrip("/")
            if any(path.endswith(end) for end in dropped):
                self.close_connection = True
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_error(401 if self.headers.get("Authorization") is None else 403)
                return
            if path.endswith("/logs/tail"):
                self._tail(b"step 1 of 3\n")
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - the handler's method name
            if self.path.startswith("/api/version"):
                self._answer({"version": "4", "ray_version": "2.60.0", "ray_commit": "0" * 40})
            elif self.path.split("?")[0].endswith("/logs"):
                self._answer({"logs": ""})
            else:
                self._answer({"type": "SUBMISSION", "submission_id": JOB, "status": "RUNNING",
                              "entrypoint": "python run.py"})

        def _tail(self, text: bytes) -> None:
            key = self.headers["Sec-WebSocket-Key"] + WEBSOCKET_GUID
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
            self.end_headers()
            # One text frame, then a close frame with code 1000 (normal closure); unmasked, as a server sends.
            self.wfile.write(bytes([0x81, len(text)]) + text + bytes([0x88, 2]) + (1000).to_bytes(2, "big"))
            self.close_connection = True

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


def test_a_log_stream_that_ends_before_the_job_does_says_the_job_keeps_running():
    with job_api(dropped=()) as url:
        run = run_cli("job", "submit", "--address", url, "--token", TOKEN, "--", "python", "run.py", timeout=60)
    assert (run.code, run.out) == (1, "step 1 of 3\n")
    assert run.err.splitlines()[-1].startswith(
        f"error: lost the job API at {url} while following job {JOB} (the log stream ended while the job is "
        "RUNNING); the job keeps running on the cluster. Fix: ")
