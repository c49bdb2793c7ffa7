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

from components.contract import DASHBOARD_PORT
from components.errors import RayfleetError

SERVE_PATH = "/api/serve/applications/"
#: Served by every Ray dashboard (ray/dashboard/modules/job/job_head.py): how a dashboard is told from other servers.
VERSION_PATH = "/api/version"
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
        data = None
        headers = self._headers()
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise self._http_error(method, path, err) from None
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
            raise self._not_json(method, path, response) from None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _http_error(self, method: str, path: str, err: urllib.error.HTTPError) -> DashboardError:
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
        if self.ray_version() is None:
            return self._stranger(method, path, err)
        # Ray's handlers answer failures as text (often a traceback): one line of it says enough.
        detail = " ".join(err.read().decode(errors="replace").split())[:300]
        return DashboardError(f"the Ray dashboard at {self.address} answered {method} {path} with {err.code}: {detail}")

    def _not_json(self, method: str, path: str, response) -> DashboardError:
        if self.ray_version() is None:
            return self._stranger(method, path, response)
        return DashboardError(f"the Ray dashboard at {self.address} answered {method} {path} with something that is not "
                              "JSON. Fix: check that the dashboard and rayfleet's Ray versions match")

    def _stranger(self, method: str, path: str, response) -> DashboardError:
        """Whatever answered instead of a dashboard, on one line: its status, its Server header, its content type."""
        server = (response.headers.get("Server") or "").strip() or "no Server header"
        kind = (response.headers.get("Content-Type") or "no content type").split(";")[0]
        return DashboardError(
            f"the server at {self.address} is not a Ray dashboard: {method} {path} answered "
            f"{response.status} {response.reason} ({server}, {kind}). Fix: pass the Ray dashboard's address, "
            f"port {DASHBOARD_PORT} of the head (e.g. http://127.0.0.1:{DASHBOARD_PORT}), not Serve's HTTP port"
        )

    def ray_version(self) -> str | None:
        """The Ray version the dashboard reports (`GET /api/version`), or None if what answers is no Ray dashboard."""
        request = urllib.request.Request(self.address + VERSION_PATH, headers=self._headers())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None
        version = answer.get("ray_version") if isinstance(answer, dict) else None
        return version if isinstance(version, str) else None


def normalize_address(address: str) -> str:
    """`127.0.0.1:8265` -> `http://127.0.0.1:8265` (no trailing slash)."""
    address = address.strip().rstrip("/")
    if "://" not in address:
        address = "http://" + address
    if not address.startswith(("http://", "https://")):
        raise RayfleetError(f"dashboard address {address!r} must be http:// or https://. Fix: write it like http://127.0.0.1:8265")
    return address
