"""The emulated nodes' way to AWS: an HTTP proxy to the moto server that maps the plan's IDs to the emulated ones.

    rules = id_rules(plane.created, arns)  # planned zone ID -> moto's; each planned secret ARN -> moto's
    with aws_router(("10.30.0.1", 0), server.endpoint, rules) as endpoint:
        ...                                # nodes get AWS_ENDPOINT_URL=endpoint

A node's user data, byte-equal to the plan's, names the plan's mock IDs: the private zone's
`Z…` and the secrets' ARNs, which moto picks itself (zone IDs, the ARN's random suffix). Each
request's path and body get those IDs replaced, and nothing else: answers go back as moto gives
them. moto does not check SigV4 signatures, so rewriting a signed body is harmless here (and only
here). The proxy listens on the region network's gateway address, which nodes reach and the
machine's other interfaces do not.

A scenario may answer some requests itself while it runs (`intercepting`): an exchange sees each
request's body (IDs already replaced) and either lets it through (None) or answers, forwarding to moto
what it chooses (a spot group that cannot launch: shortage.py).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from components.drills.emulate.plane import SECRET, ZONE

#: Headers the proxy sets itself (the body's length changes with the IDs; each request is one connection).
_HOP_HEADERS = {"content-length", "connection", "transfer-encoding", "keep-alive"}

#: Sends a request body to moto as the node sent it otherwise: (status, answer body).
Forward = Callable[[bytes], tuple[int, bytes]]
#: A scenario's own answer to a request body (status, XML body), or None to let moto answer.
Exchange = Callable[[bytes, Forward], "tuple[int, bytes] | None"]
#: The exchanges of each running router, by its endpoint URL.
_EXCHANGES: dict[str, list[Exchange]] = {}


@contextlib.contextmanager
def intercepting(endpoint: str, exchange: Exchange) -> Iterator[None]:
    """Let `exchange` answer requests to the router at `endpoint` while the block runs."""
    if endpoint not in _EXCHANGES:
        raise KeyError(f"no AWS router runs at {endpoint}")
    _EXCHANGES[endpoint].append(exchange)
    try:
        yield
    finally:
        _EXCHANGES[endpoint].remove(exchange)


def id_rules(created: Iterable, secret_arns: Mapping[str, str]) -> list[tuple[re.Pattern[bytes], bytes]]:
    """(planned ID pattern, emulated ID) for the zones and secrets of a created control plane (`Created`s);
    `secret_arns` gives each planned secret's ARN (by its planned ID). Only that exact ARN is mapped: another
    secret's, or one of another region or account, goes to moto as the node sent it."""
    rules = []
    for item in created:
        if item.type == ZONE:
            short = item.emulated_id.rsplit("/", 1)[-1]
            rules.append((re.compile(re.escape(item.planned_id.encode())), short.encode()))
        elif item.type == SECRET:
            planned = re.escape(secret_arns[item.planned_id].encode())
            # Not followed by a name character: `...-AbC123` is not the start of `...-AbC123x`.
            rules.append((re.compile(planned + rb"(?![A-Za-z0-9/_+=.@-])"), item.emulated_id.encode()))
    return rules


def rewrite(data: bytes, rules: list[tuple[re.Pattern[bytes], bytes]]) -> bytes:
    for pattern, replacement in rules:
        data = pattern.sub(lambda _m, r=replacement: r, data)
    return data


def answer_headers(method: str, status: int, headers: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    """The headers the proxy sends back: moto's, and the length of the body it forwards. An answer without a
    body (HEAD, 204, 304: RFC 9110 8.6) keeps moto's Content-Length, which is the size of what a GET would get
    (S3's HEAD Object) or absent, never the 0 bytes forwarded."""
    kept = [(k, v) for k, v in headers if k.lower() not in _HOP_HEADERS]
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return kept + [(k, v) for k, v in headers if k.lower() == "content-length"]
    return kept + [("Content-Length", str(length))]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A node killed mid-request (a stopped node, a Ray process restarting) closes its connection: not an error.
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def aws_router(listen: tuple[str, int], upstream: str, rules: list[tuple[re.Pattern[bytes], bytes]]) -> Iterator[str]:
    """Serve the proxy on `listen` (port 0: any free one) while the block runs; yields its endpoint URL."""
    target = urlsplit(upstream)
    exchanges: list[Exchange] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _upstream(self, path: str, body: bytes, headers: dict[str, str]):
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                connection.request(self.command, path, body=body, headers=headers)
                answer = connection.getresponse()
                return answer.status, answer.getheaders(), answer.read()
            finally:
                connection.close()

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = rewrite(self.rfile.read(length), rules) if length else b""
            path = rewrite(self.path.encode(), rules).decode()
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            for exchange in list(exchanges):
                answered = exchange(body, lambda b: self._upstream(path, b, headers)[::2])
                if answered is not None:
                    status, data = answered
                    self._answer(status, [("Content-Type", "text/xml")], data)
                    return
            self._answer(*self._upstream(path, body, headers))

        def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for key, value in answer_headers(self.command, status, headers, len(data)):
                self.send_header(key, value)
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward

        def log_message(self, format: str, *args) -> None:
            pass  # moto's own log has every request

    server = _Server(listen, Handler)
    thread = threading.Thread(target=server.serve_forever, name="aws-router", daemon=True)
    thread.start()
    endpoint = f"http://{listen[0]}:{server.server_address[1]}"
    _EXCHANGES[endpoint] = exchanges
    try:
        yield endpoint
    finally:
        _EXCHANGES.pop(endpoint, None)
        server.shutdown()
        server.server_close()
