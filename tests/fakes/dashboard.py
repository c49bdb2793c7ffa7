"""A Ray dashboard double on loopback: recorded answers of the Serve REST API and the state API, behind a token;
a node's metrics endpoint; and a web server that is not a dashboard.

    with fake_dashboard(snapshot["serve"], snapshot["nodes"], token="t0k") as url:
        Dashboard(url, "t0k").get_applications()      # the recorded answer; no token -> 401, wrong -> 403

The answers are recordings of a real cluster (tests/unit/fixtures/ray_*.json),
so what the double says is what Ray says.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def fake_dashboard(serve: dict, nodes: list[dict], token: str):
    answers = {"/api/serve/applications/": serve, "/api/v0/nodes": {"data": {"result": {"result": nodes}}}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the handler's method name
            given = self.headers.get("Authorization")
            code = 401 if given is None else 403 if given != f"Bearer {token}" else 200
            body = answers.get(self.path.split("?")[0])
            if code == 200 and body is None:
                code = 404
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body if code == 200 else {"error": code}).encode())

        log_message = _quiet

    with _serving(Handler) as address:
        yield f"http://{address}"


@contextlib.contextmanager
def metrics_endpoint(pages: list[str]):
    """A node's metrics export port: `/metrics` answers each page in turn (the last one from then on), no token.

        with metrics_endpoint([before, after]) as target:     # "127.0.0.1:PORT", as Ray lists it
            ...
    """
    served = list(pages)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the handler's method name
            page = served.pop(0) if len(served) > 1 else served[0]
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(page.encode())

        log_message = _quiet

    with _serving(Handler) as address:
        yield address


@contextlib.contextmanager
def recording_dashboard(token: str):
    """A dashboard that answers every DELETE with 200 and records (method, path, Authorization); yields (url, calls)."""
    calls: list[tuple[str, str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_DELETE(self):  # noqa: N802 - the handler's method name
            calls.append(("DELETE", self.path, self.headers.get("Authorization")))
            code = 200 if self.headers.get("Authorization") == f"Bearer {token}" else 403
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        log_message = _quiet

    with _serving(Handler) as address:
        yield f"http://{address}", calls


@contextlib.contextmanager
def web_server(status: int, content_type: str, body: bytes, version: bytes | None = None):
    """A web server that is not a Ray dashboard: it answers every GET and PUT alike, as nginx would.

    With `version`, it answers `GET /api/version` with it, as a Ray dashboard does.

        with web_server(404, "text/html", page) as url:      # "http://127.0.0.1:PORT"
    """

    class Page(BaseHTTPRequestHandler):
        server_version = "nginx/1.25.3"
        sys_version = ""

        def answer(self):
            is_version = version is not None and self.path == "/api/version"
            reply = version if is_version else body
            self.send_response(200 if is_version else status)
            self.send_header("Content-Type", "application/json" if is_version else content_type)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_PUT = answer  # noqa: N815 - the handler's method names
        log_message = _quiet

    with _serving(Page) as address:
        yield f"http://{address}"


def _quiet(*args) -> None:
    """A handler's request log: silent, to keep the test's output clean."""


@contextlib.contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]):
    """`handler` on a free loopback port in a daemon thread; yields `127.0.0.1:PORT`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
