"""`--address` pointed at a server that is not a Ray dashboard: one line saying what answered, and a Fix."""

from __future__ import annotations

import pytest

from tests.fakes.dashboard import web_server

PAGE = b"<html>\n<head><title>404 Not Found</title></head>\n<body>\n<center><h1>404 Not Found</h1></center>\n" * 20


@pytest.mark.parametrize(
    ("status", "content_type", "body", "answered"),
    [
        (404, "text/html", PAGE, "404 Not Found (nginx/1.25.3, text/html)"),
        (200, "text/html; charset=utf-8", PAGE, "200 OK (nginx/1.25.3, text/html)"),
        (404, "text/plain", b"Path '/api/serve/applications/' not found. Ping http://127.0.0.1:8000/-/routes for routes.",
         "404 Not Found (nginx/1.25.3, text/plain)"),
    ],
)
def test_serve_status_at_a_server_that_is_not_a_dashboard_says_what_answered(cli, status, content_type, body, answered):
    with web_server(status, content_type, body) as address:
        run = cli("serve", "status", "--address", address, "--token", "t")
    assert run.code == 1
    assert run.err == (
        f"error: the server at {address} is not a Ray dashboard: GET /api/serve/applications/ answered {answered}. "
        "Fix: pass the Ray dashboard's address, port 8265 of the head (e.g. http://127.0.0.1:8265), not Serve's HTTP port\n"
    )


def test_a_dashboard_error_is_one_line_of_its_reply(cli):
    traceback = b"Traceback (most recent call last):\n  File \"serve_head.py\", line 80\nRuntimeError: controller is gone\n"
    with web_server(500, "text/plain", traceback, version=b'{"version": "4", "ray_version": "2.60.0"}') as address:
        run = cli("serve", "status", "--address", address, "--token", "t")
    assert run.code == 1
    assert run.err == (
        f"error: the Ray dashboard at {address} answered GET /api/serve/applications/ with 500: Traceback (most recent "
        'call last): File "serve_head.py", line 80 RuntimeError: controller is gone\n'
    )
