"""A small client of the Ray dashboard's Serve REST API, with Ray's token auth.

    client = Dashboard("http://127.0.0.1:8265", token="...")
    client.get_applications()["applications"]          # GET /api/serve/applications/
    client.put_applications(config)                     # PUT: declarative, apps not listed are deleted

Ray >= 2.59 puts the dashboard behind a token (`Authorization: Bearer <token>`):
no token -> 401, a wrong one -> 403. Every failure becomes a RayfleetError
that says which address, what happened and what to do.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

from components.errors import RayfleetError

SERVE_PATH = "/api/serve/applications/"
NODES_PATH = "/api/v0/nodes?limit=10000"


class DashboardError(RayfleetError):
    """The dashboard could not be reached, refused us, or answered with an error."""


class Dashboard:
    def __init__(self, address: str, token: str | None, timeout_s: float = 15.0):
        self.address = normalize_address(address)
        self.token = token
        self.timeout_s = timeout_s

    def get_applications(self) -> dict[str, Any]:
        return self._request("GET", SERVE_PATH) or {}

    def get_nodes(self) -> list[dict[str, Any]]:
        """Ray's nodes, dead ones too (`state`: ALIVE or DEAD), from the state API (GET /api/v0/nodes)."""
        answer = self._request("GET", NODES_PATH) or {}
        return answer.get("data", {}).get("result", {}).get("result", [])

    def put_applications(self, config: dict[str, Any]) -> None:
        self._request("PUT", SERVE_PATH, config)

    def delete_applications(self) -> None:
        """Shut Serve down on the cluster (every application, the controller and proxies)."""
        self._request("DELETE", SERVE_PATH)

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        url = self.address + path
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise self._http_error(method, url, err) from None
        except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError) as err:
            reason = getattr(err, "reason", err)
            raise DashboardError(
                f"cannot reach the Ray dashboard at {self.address} ({method} {path}: {reason}). "
                "Fix: check the address and that the cluster is up (rayfleet local up, or the stack's "
                "dashboardUrl), and that this machine may reach it (operatorCidrs)"
            ) from None
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise DashboardError(
                f"the Ray dashboard at {self.address} answered {method} {path} with something that is not JSON "
                f"({raw[:80]!r}). Fix: check that the address is a Ray dashboard (port 8265)"
            ) from None

    def _http_error(self, method: str, url: str, err: urllib.error.HTTPError) -> DashboardError:
        detail = err.read().decode(errors="replace").strip()[:500]
        if err.code == 401:
            return DashboardError(
                f"the Ray dashboard at {self.address} requires a token (401 Unauthorized). "
                "Fix: pass --token-file or --token (for the cloud, the stack's dashboardTokenSecretArn holds it)"
            )
        if err.code == 403:
            return DashboardError(
                f"the Ray dashboard at {self.address} rejected the token (403 Forbidden). "
                "Fix: use the cluster's current token (--token-file/--token, or the dashboardTokenSecretArn secret)"
            )
        return DashboardError(f"the Ray dashboard at {self.address} answered {method} {url} with {err.code}: {detail}")


def normalize_address(address: str) -> str:
    """`127.0.0.1:8265` -> `http://127.0.0.1:8265` (no trailing slash)."""
    address = address.strip().rstrip("/")
    if "://" not in address:
        address = "http://" + address
    if not address.startswith(("http://", "https://")):
        raise RayfleetError(f"dashboard address {address!r} must be http:// or https://. Fix: write it like http://127.0.0.1:8265")
    return address
