"""An emulated node's instance metadata service: IMDSv2 on 169.254.169.254:80 inside the node's network namespace.

    python -m components.drills.emulate.node_imds imds.json      # started by the node's boot, before its user data

It answers what EC2's IMDS answers a node of this project: a session token (PUT
/latest/api/token), then, with the token only (the launch templates require IMDSv2),
`/latest/meta-data/<path>` from the node's metadata file. The file is read at each request, so
the emulator sets a spot notice (`spot/instance-action`), a rebalance recommendation
(`events/recommendations/rebalance`) or a lifecycle state (`autoscaling/target-lifecycle-state`)
by rewriting it; a path the file does not hold answers 404, as IMDS does when there is no notice.
"""

from __future__ import annotations

import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ADDRESS = "169.254.169.254"
PORT = 80
TOKEN_PATH = "/latest/api/token"
META_PREFIX = "/latest/meta-data/"
#: IMDS's limits on a token's lifetime, in seconds (PUT /latest/api/token answers 400 outside them).
TOKEN_TTL_RANGE = (1, 21600)


def metadata(instance_id: str, private_ip: str, zone: str, instance_type: str, *, lifecycle: str = "InService") -> dict:
    """A node's metadata file: the paths its boot and agents read, as IMDS names them."""
    return {
        "instance-id": instance_id,
        "local-ipv4": private_ip,
        "placement/availability-zone": zone,
        "placement/region": zone[:-1],
        "instance-type": instance_type,
        "autoscaling/target-lifecycle-state": lifecycle,
    }


def answer(method: str, path: str, headers: dict[str, str], paths: dict[str, str], tokens: set[str]) -> tuple[int, str]:
    """IMDSv2's answer to one request: (status, body). Pure, so the rules are tested without a socket."""
    if method == "PUT" and path == TOKEN_PATH:
        ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not TOKEN_TTL_RANGE[0] <= int(ttl) <= TOKEN_TTL_RANGE[1]:
            return 400, "the token TTL must be 1-21600 seconds"
        token = secrets.token_urlsafe(32)
        tokens.add(token)
        return 200, token
    if method != "GET":
        return 405, ""
    if headers.get("x-aws-ec2-metadata-token") not in tokens:
        return 401, ""  # IMDSv2 required: no token, no metadata
    if not path.startswith(META_PREFIX):
        return 404, ""
    key = path[len(META_PREFIX):].strip("/")
    if key in paths:
        return 200, paths[key]
    return 404, ""


def serve(metadata_file: Path, address: str = ADDRESS, port: int = PORT) -> None:
    tokens: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            paths = json.loads(metadata_file.read_text())
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = answer(self.command, self.path, headers, paths, tokens)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = _reply

        def log_message(self, format: str, *args) -> None:
            sys.stderr.write("imds: " + format % args + "\n")

    ThreadingHTTPServer((address, port), Handler).serve_forever()


if __name__ == "__main__":
    # Kept relative: the node's boot starts this from the node's directory, which a bind mount over /tmp
    # may hide by its path, but never as this process's working directory.
    serve(Path(sys.argv[1]))
