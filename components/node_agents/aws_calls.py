"""AWS calls made by the node agents: clients with botocore's standard retries, plus our own backoff.

botocore retries throttling inside one call (`retries={"mode": "standard"}`); when it gives up, or
when a response is throttled outside botocore's retry loop, `with_backoff` tries the whole
operation again with exponential backoff and jitter, so one busy minute of the EC2 API does not
fail an autoscaler update.

    >>> calls = []
    >>> with_backoff(lambda: calls.append(1) or "ok", sleep=lambda s: None)
    'ok'
"""

from __future__ import annotations

import logging
import random
import time
from typing import Callable, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Error codes AWS uses for "slow down"; retrying them later is correct.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        # EC2 Auto Scaling refuses changes while an activity is running; it clears in seconds.
        "ScalingActivityInProgress",
        "ResourceContention",
    }
)

#: botocore's own retry policy for every agent client.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)


def error_code(err: Exception) -> str:
    if isinstance(err, ClientError):
        return err.response.get("Error", {}).get("Code", "")
    return ""


def is_throttling(err: Exception) -> bool:
    return error_code(err) in THROTTLING_CODES


def with_backoff(
    operation: Callable[[], T],
    *,
    attempts: int = 5,
    base_seconds: float = 0.5,
    cap_seconds: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
    what: str = "AWS call",
) -> T:
    """Run `operation`, retrying throttling errors with capped exponential backoff and full jitter."""
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except ClientError as err:
            if not is_throttling(err) or attempt == attempts:
                raise
            delay = random.uniform(0, min(cap_seconds, base_seconds * 2 ** (attempt - 1)))
            log.warning("%s throttled (%s), attempt %d/%d; retrying in %.2fs", what, error_code(err), attempt, attempts, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def client(service: str, region: str, session: boto3.session.Session | None = None):
    """A client of `service` in `region`, with botocore's standard retry mode."""
    return (session or boto3.session.Session()).client(service, region_name=region, config=CLIENT_CONFIG)


def clients(region: str, session: boto3.session.Session | None = None) -> tuple:
    """The (autoscaling, ec2) clients of a region."""
    return client("autoscaling", region, session), client("ec2", region, session)
