"""Pure decisions of the Serve ingress: which listeners, which ports open, how targets are checked and drained.

    >>> [(l.port, l.protocol, l.action) for l in listeners("issued")]
    [(443, 'HTTPS', 'forward'), (80, 'HTTP', 'redirect')]
    >>> deregistration_delay_seconds()
    60

No pulumi, boto3 or ray imports: the component turns these into resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Where a region's HTTPS certificate comes from: config, issued for failover.domain, or nowhere (HTTP only).
TlsSource = Literal["configured", "issued", "none"]

#: AWS caps ALB and target-group names at 32 characters and `name_prefix` at 6;
#: AWS completes the name with a unique suffix, which also lets a replacement
#: be created before the old one is deleted.
ALB_NAME_PREFIX = "rfalb-"
TARGET_GROUP_NAME_PREFIX = "rfsrv-"
#: A worker's Serve proxy answers 200 here while it takes traffic, 503 while it drains: the
#: per-node signal the load balancer needs. It does not say whether the region can serve its
#: applications (a proxy is ready once any application runs a replica); Route 53 checks
#: REGION_HEALTH_ROUTE for that, through this load balancer.
HEALTH_PATH = "/-/healthz"
#: Ray Serve keeps a draining proxy answering for at least this long
#: (RAY_SERVE_PROXY_MIN_DRAINING_PERIOD_S in ray/serve/_private/constants.py).
SERVE_PROXY_MIN_DRAIN_SECONDS = 30

#: Target-group health check: a proxy is out after UNHEALTHY_THRESHOLD x INTERVAL of 503s.
HEALTH_INTERVAL_SECONDS = 10
HEALTH_TIMEOUT_SECONDS = 5
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 2
#: Slack for a request that arrived just before the load balancer noticed the drain.
DRAIN_SLACK_SECONDS = 10

#: Serve's proxy keeps idle client connections this long (DEFAULT_UVICORN_KEEP_ALIVE_TIMEOUT_S).
SERVE_KEEP_ALIVE_SECONDS = 90
#: The load balancer closes idle connections first: were Serve's side to close a pooled
#: connection while the ALB still reuses it, the client would get a 502.
ALB_IDLE_TIMEOUT_SECONDS = 60

#: TLS 1.2 and 1.3 only, forward-secret ciphers.
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
WORLD_V4 = "0.0.0.0/0"


@dataclass(frozen=True)
class ListenerPlan:
    port: int
    protocol: Literal["HTTP", "HTTPS"]
    #: `forward` to the Serve target group, or `redirect` to HTTPS on 443.
    action: Literal["forward", "redirect"]


def listeners(tls: TlsSource) -> list[ListenerPlan]:
    """HTTPS on 443 plus a redirect on 80 when there is a certificate; else plain HTTP on 80."""
    if tls == "none":
        return [ListenerPlan(80, "HTTP", "forward")]
    return [ListenerPlan(443, "HTTPS", "forward"), ListenerPlan(80, "HTTP", "redirect")]


def public_ports(tls: TlsSource) -> list[int]:
    """The ports the load balancer's security group opens to the internet: exactly its listeners'."""
    return sorted(listener.port for listener in listeners(tls))


def deregistration_delay_seconds() -> int:
    """How long the load balancer lets a leaving node finish its in-flight requests.

    A node that is drained (spot interruption, scale-in) first has its Serve
    proxy answer 503 on /-/healthz for at least 30 s while it keeps serving the
    requests it holds. The load balancer only stops sending new requests once
    its health check has seen UNHEALTHY_THRESHOLD failures, INTERVAL seconds
    apart (20 s); a request sent just before that may still run to the end of
    the proxy's drain. Deregistering for less than drain + detection (+ slack)
    would cut those requests off mid-response: 30 + 20 + 10 = 60 s.
    """
    detection = UNHEALTHY_THRESHOLD * HEALTH_INTERVAL_SECONDS
    return SERVE_PROXY_MIN_DRAIN_SECONDS + detection + DRAIN_SLACK_SECONDS


def attachment_key(role: str) -> str:
    """A stable, name-safe key for an ASG attachment: 'cpu/onDemand' -> 'cpu-ondemand'."""
    return "".join(c if c.isalnum() else "-" for c in role.lower()).strip("-")


#: The cluster slot whose resources keep the names they had before slots existed.
FIRST_SLOT = "blue"
#: An ALB forward action weighs at most 5 target groups, each 0-999 (ELBv2 TargetGroupTuple.Weight).
MAX_FORWARD_WEIGHT = 999


def slot_suffix(slot: str) -> str:
    """What a slot adds to its resources' logical names: nothing for the first, so they never change."""
    return "" if slot == FIRST_SLOT else f"-{slot}"


def check_weights(weights: dict[str, int]) -> dict[str, int]:
    """Weights an ALB forward action accepts: 0-999 each, at least one above 0 (else it forwards nowhere)."""
    if not weights or any(not 0 <= w <= MAX_FORWARD_WEIGHT for w in weights.values()) or not any(weights.values()):
        raise ValueError(f"forward weights must be 0-{MAX_FORWARD_WEIGHT} with one above 0 (got {weights})")
    return weights
