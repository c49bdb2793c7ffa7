"""A fake EC2 instance metadata service (IMDSv2) on loopback, for drills and tests of the spot watcher.

    with FakeImds() as imds:                       # binds 127.0.0.1 on a free port
        imds.set("instance-id", "i-0abc")
        imds.spot_notice(deadline_seconds=120)     # what AWS posts two minutes before reclaiming
        ...  # point the watcher at imds.url

Paths answer 404 until set; `fail(path, status)` makes a path answer an error; `down()` refuses
every request (IMDS unreachable). Reads without a valid token answer 401, as IMDSv2 does.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeImds:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.paths: dict[str, str] = {}
        self.failures: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self.tokens: set[str] = set()
        self.unavailable = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test and drill output clean
                pass

            def _send(self, status: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                fake.requests.append(("PUT", self.path))
                if fake.unavailable:
                    return self._send(503)
                if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self._send(400)
                token = secrets.token_urlsafe(16)
                fake.tokens.add(token)
                self._send(200, token)

            def do_GET(self):
                fake.requests.append(("GET", self.path))
                if fake.unavailable:
                    return self._send(503)
                if self.headers.get("X-aws-ec2-metadata-token") not in fake.tokens:
                    return self._send(401)
                path = self.path.removeprefix("/latest/meta-data/")
                if path in fake.failures:
                    return self._send(fake.failures[path])
                if path not in fake.paths:
                    return self._send(404)
                self._send(200, fake.paths[path])

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-imds", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeImds":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeImds":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set(self, path: str, value: str) -> None:
        self.paths[path] = value

    def fail(self, path: str, status: int) -> None:
        self.failures[path] = status

    def down(self, unavailable: bool = True) -> None:
        self.unavailable = unavailable

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def spot_notice(self, deadline_seconds: float = 120, action: str = "terminate") -> dt.datetime:
        """Post a spot interruption notice, as AWS does two minutes ahead; returns its deadline."""
        at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=deadline_seconds)
        self.set("spot/instance-action", json.dumps({"action": action, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}))
        return at

    def rebalance_recommendation(self) -> None:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.set("events/recommendations/rebalance", json.dumps({"noticeTime": now}))

    def asg_terminating(self) -> None:
        """The instance's ASG moves it to Terminating:Wait (the `rayfleet-drain` hook holds it)."""
        self.set("autoscaling/target-lifecycle-state", "Terminated")
