"""Ray Jobs on a cluster, through its dashboard and the cluster's token: submit, then follow to the end.

    jobs = JobRunner("http://127.0.0.1:8265", token)
    job_id = jobs.submit("python script.py", working_dir=Path("pipeline"))
    status = jobs.wait(job_id, on_output=print)              # 'SUCCEEDED', 'FAILED' or 'STOPPED'

Ray's own JobSubmissionClient does the work (it zips and uploads a local
`working_dir` through the dashboard's package API); the token goes in the
`Authorization: Bearer` header every request carries, which Ray's client
leaves alone when the caller sets it (ray/_private/authentication/
http_token_authentication.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from components.errors import RayfleetError

#: Job statuses after which nothing changes (ray.job_submission.JobStatus).
FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})


class JobRunner:
    def __init__(self, address: str, token: str | None):
        self.address = address
        self._client = self._connect(address, token)

    @staticmethod
    def _connect(address: str, token: str | None):
        from ray.exceptions import AuthenticationError
        from ray.job_submission import JobSubmissionClient

        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            return JobSubmissionClient(address, headers=headers)
        except AuthenticationError:
            # Ray answers 401 without a token and 403 with a wrong one (dashboard token auth).
            raise RayfleetError(
                f"the Ray dashboard at {address} {'rejected the token' if token else 'requires a token'}. Fix: pass "
                "the cluster's current token (--token-file/--token; in the cloud, the dashboardTokenSecretArn secret)"
            ) from None
        except Exception as err:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError or AuthenticationError
            raise RayfleetError(f"cannot reach Ray's job API at {address} ({_first_line(err)}). Fix: check the "
                                "address and token, and that the cluster's dashboard is up") from None

    def submit(self, entrypoint: str, working_dir: Path | None = None) -> str:
        runtime_env = None
        if working_dir is not None:
            if not working_dir.is_dir():
                raise RayfleetError(f"--working-dir {working_dir}: no such folder. Fix: give the folder your "
                                    "entrypoint runs in (it is uploaded to the cluster)")
            runtime_env = {"working_dir": str(working_dir.resolve())}
        try:
            return self._client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)
        except Exception as err:  # noqa: BLE001 - Ray's client raises RuntimeError for every HTTP error
            raise RayfleetError(f"the cluster at {self.address} refused the job ({_first_line(err)}). "
                                "Fix: check the entrypoint and working directory") from None

    def wait(
        self,
        job_id: str,
        *,
        on_output: Callable[[str], None] = lambda text: None,
        on_status: Callable[[str, float], None] = lambda status, elapsed: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> str:
        """Follow `job_id` until its status is final; hand each new piece of its output to `on_output`.

        Ray's tail_job_logs streams the output over a websocket opened with the client's headers (the
        token too) and closes it once the job is final: no output is fetched twice. A connection lost on
        the way (forwarding dropped, dashboard restarted) does not stop the job; the error says so.
        """
        started = clock()
        try:
            asyncio.run(self._tail(job_id, on_output))
            status = str(self._client.get_job_status(job_id).value)
        except Exception as err:  # noqa: BLE001 - requests', aiohttp's and Ray's (RuntimeError) errors alike
            raise RayfleetError(self._lost(job_id, _first_line(err))) from None
        on_status(status, clock() - started)
        if status not in FINAL_STATUSES:
            raise RayfleetError(self._lost(job_id, f"the log stream ended while the job is {status}"))
        return status

    async def _tail(self, job_id: str, on_output: Callable[[str], None]) -> None:
        async for text in self._client.tail_job_logs(job_id):
            on_output(text)

    def _lost(self, job_id: str, why: str) -> str:
        return (f"lost the job API at {self.address} while following job {job_id} ({why}); the job keeps running "
                f"on the cluster. Fix: see its status and output with 'ray job status {job_id}' and 'ray job logs "
                f"--follow {job_id}' against the same dashboard (on a cloud cluster: 'rayfleet exec --env ENV -- "
                f"ray job logs {job_id}'), or on the dashboard's Jobs page")


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
