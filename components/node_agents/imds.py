"""A minimal IMDSv2 client (stdlib only): session token, then token-authenticated metadata reads.

    imds = Imds("http://169.254.169.254")
    imds.get("spot/instance-action")   # None when the path does not exist (404): no notice

Every read carries `X-aws-ec2-metadata-token`; the token is refreshed before it expires and once
more if IMDS answers 401. Network failures and 5xx answers raise `ImdsError`.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Callable

DEFAULT_URL = "http://169.254.169.254"
TOKEN_TTL_SECONDS = 21600


class ImdsError(RuntimeError):
    """IMDS could not be read (unreachable, timed out, or an error status)."""


class Imds:
    def __init__(self, base_url: str = DEFAULT_URL, *, timeout: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.clock = clock
        self._token: str | None = None
        self._token_expires = 0.0

    def _request(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(f"{self.base_url}{path}", method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            raise ImdsError(f"IMDS {method} {path}: {err}") from err

    def token(self) -> str:
        if self._token is None or self.clock() >= self._token_expires:
            status, body = self._request(
                "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)}
            )
            if status != 200:
                raise ImdsError(f"IMDS token request answered {status}")
            # Renew a minute early so a read never carries an expired token.
            self._token, self._token_expires = body.strip(), self.clock() + TOKEN_TTL_SECONDS - 60
        return self._token

    def get(self, path: str) -> str | None:
        """The text at `/latest/meta-data/<path>`, or None if IMDS has no such path (404)."""
        for attempt in (1, 2):
            status, body = self._request("GET", f"/latest/meta-data/{path}", {"X-aws-ec2-metadata-token": self.token()})
            if status == 200:
                return body
            if status == 404:
                return None
            if status == 401 and attempt == 1:
                self._token = None  # expired or revoked: fetch a new one and read again
                continue
            raise ImdsError(f"IMDS GET {path} answered {status}")
        raise AssertionError("unreachable")  # pragma: no cover
