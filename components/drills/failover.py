"""The failover drill: make Route 53 treat the primary region as down, time the move, put everything back.

    target = drill_target(read_stack_outputs("prod"), "prod")   # stacks.drill_target, stacks.outputs
    result = run_failover_drill(target, boto3.client("route53"), timeout=300)
    result.failover_seconds   # from inverting the primary's health check to Route 53 answering the secondary

The drill inverts the primary region's Route 53 health check (`Inverted=True`:
a healthy load balancer now counts as down), polls the check's status and
Route 53's own answer for the domain (`TestDNSAnswer`, straight from Route 53's
servers, no resolver cache in between) until the answer is another region's
load balancer, then sets `Inverted=False` again. The restore runs on success,
timeout, error, Ctrl-C and SIGTERM alike.

Imports only the standard library here; boto3 is the caller's (the CLI builds the client).
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from components.drills.failover_targets import DrillError, DrillTarget, RegionTarget

#: What the drill's caller must be allowed to do.
PERMISSIONS = (
    "route53:GetHealthCheck",
    "route53:ListResourceRecordSets",
    "route53:UpdateHealthCheck",
    "route53:GetHealthCheckStatus",
    "route53:TestDNSAnswer",
)
#: Route 53 calls a health check healthy while more than 18% of its checkers report success.
HEALTHY_FRACTION = 0.18
DEFAULT_TIMEOUT_SECONDS = 300.0
DEFAULT_POLL_SECONDS = 5.0
RESTORE_ATTEMPTS = 3


# --- the steps, as the dry run prints them ------------------------------------


@dataclass(frozen=True)
class DrillStep:
    title: str
    detail: str


def drill_steps(target: DrillTarget, *, timeout: float, poll: float) -> list[DrillStep]:
    primary = target.primary
    others = ", ".join(f"{o.region} ({o.load_balancer_dns_name})" for o in target.others)
    return [
        DrillStep(
            "check",
            f"read the health check {primary.health_check_id} of {primary.region} (it must not be inverted "
            f"already) and the {target.mode} records of {target.domain} in hosted zone {target.hosted_zone_id} "
            f"(the {primary.region} record must use that health check)",
        ),
        DrillStep(
            "invert",
            f"route53 update-health-check --health-check-id {primary.health_check_id} --inverted: "
            f"Route 53 now counts {primary.region}'s load balancer as down",
        ),
        DrillStep(
            "poll",
            f"every {poll:g} s for at most {timeout:g} s: route53 get-health-check-status --health-check-id "
            f"{primary.health_check_id}, and route53 test-dns-answer --hosted-zone-id {target.hosted_zone_id} "
            f"--record-name {target.domain} --record-type A, until the answer is another region's load "
            f"balancer: {others}",
        ),
        DrillStep(
            "restore",
            f"route53 update-health-check --health-check-id {primary.health_check_id} --no-inverted; always, "
            "also after a timeout, an error, Ctrl-C or SIGTERM",
        ),
        DrillStep("report", "the seconds from the inversion until Route 53 answered with another region"),
    ]


# --- observing Route 53 -------------------------------------------------------


@dataclass(frozen=True)
class HealthObservation:
    failing: int
    total: int

    @property
    def healthy(self) -> bool:
        """Route 53's rule: healthy while more than 18% of the checkers report success."""
        return self.total == 0 or (self.total - self.failing) / self.total > HEALTHY_FRACTION


class Probe(Protocol):
    """What the drill observes: a health check's status and Route 53's answer for a name."""

    def health(self, health_check_id: str) -> HealthObservation: ...

    def dns_answer(self, hosted_zone_id: str, domain: str) -> list[str]: ...


class Route53Probe:
    """The real probe: Route 53's GetHealthCheckStatus and TestDNSAnswer."""

    def __init__(self, client: Any):
        self.client = client

    def health(self, health_check_id: str) -> HealthObservation:
        reply = self.client.get_health_check_status(HealthCheckId=health_check_id)
        observations = reply.get("HealthCheckObservations", [])
        failing = sum(
            1 for o in observations if not o.get("StatusReport", {}).get("Status", "").startswith("Success")
        )
        return HealthObservation(failing, len(observations))

    def dns_answer(self, hosted_zone_id: str, domain: str) -> list[str]:
        reply = self.client.test_dns_answer(HostedZoneId=hosted_zone_id, RecordName=domain, RecordType="A")
        return list(reply.get("RecordData", []))


def resolve_addresses(dns_name: str) -> set[str]:
    """The IPv4 addresses a load balancer's DNS name has now (an alias answer carries these)."""
    try:
        return {info[4][0] for info in socket.getaddrinfo(dns_name, 443, socket.AF_INET, socket.SOCK_STREAM)}
    except socket.gaierror:
        return set()


def answer_region(answer: list[str], regions: list[RegionTarget], resolve: Callable[[str], set[str]]) -> str | None:
    """Which region's load balancer an answer points at: by its addresses, or its name. None if unknown."""
    values = {value.rstrip(".").lower() for value in answer}
    if not values:
        return None
    for region in regions:
        name = region.load_balancer_dns_name.rstrip(".").lower()
        if name in values or values & resolve(region.load_balancer_dns_name):
            return region.region
    return None


# --- the drill ------------------------------------------------------------------


@dataclass(frozen=True)
class Poll:
    seconds: float
    health: HealthObservation | None
    answer: list[str]
    answer_region: str | None


@dataclass
class DrillResult:
    env: str
    domain: str
    primary_region: str
    #: The region Route 53 answered with in the end (None: it never moved before the timeout).
    failover_region: str | None
    #: Seconds from the inversion until Route 53 answered another region.
    failover_seconds: float | None
    #: Seconds until the primary's checkers first reported it down (None if they never did while polling).
    unhealthy_seconds: float | None
    timeout_seconds: float
    restored: bool = False
    polls: list[Poll] = field(default_factory=list)

    @property
    def timed_out(self) -> bool:
        return self.failover_seconds is None

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "domain": self.domain,
            "primaryRegion": self.primary_region,
            "failoverRegion": self.failover_region,
            "failoverSeconds": self.failover_seconds,
            "unhealthySeconds": self.unhealthy_seconds,
            "timedOut": self.timed_out,
            "timeoutSeconds": self.timeout_seconds,
            "restored": self.restored,
            "polls": len(self.polls),
        }


class DrillInterrupted(BaseException):
    """SIGTERM/SIGHUP during the drill: unwinds like Ctrl-C, so the restore runs."""


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception for the duration (Ctrl-C already is one)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; the caller's own handling applies
        return

    def interrupt(signum, _frame):
        raise DrillInterrupted(signal.Signals(signum).name)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def preflight(target: DrillTarget, client: Any) -> None:
    """Refuse to start when the health check is already inverted or the records do not use it."""
    primary = target.primary
    check = client.get_health_check(HealthCheckId=primary.health_check_id)["HealthCheck"]
    if check.get("HealthCheckConfig", {}).get("Inverted"):
        raise DrillError(
            f"health check {primary.health_check_id} of {primary.region} is already inverted: another drill "
            "may be running, or one was cut off before it could restore it. Fix: wait for the other drill, or "
            f"restore it with 'aws route53 update-health-check --health-check-id {primary.health_check_id} "
            "--no-inverted'"
        )
    name = target.domain.rstrip(".") + "."
    reply = client.list_resource_record_sets(
        HostedZoneId=target.hosted_zone_id, StartRecordName=name, StartRecordType="A"
    )
    records = [r for r in reply.get("ResourceRecordSets", []) if r["Name"] == name and r["Type"] == "A"]
    checks = {r.get("HealthCheckId") for r in records}
    if primary.health_check_id not in checks:
        raise DrillError(
            f"no A record of {target.domain} in hosted zone {target.hosted_zone_id} uses health check "
            f"{primary.health_check_id} ({len(records)} A records found): inverting it would prove nothing. "
            f"Fix: run 'pulumi up --stack {target.env}' so the records match the stack's outputs"
        )


def run_failover_drill(
    target: DrillTarget,
    client: Any,
    *,
    probe: Probe | None = None,
    resolve: Callable[[str], set[str]] = resolve_addresses,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    poll: float = DEFAULT_POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_poll: Callable[[Poll], None] | None = None,
) -> DrillResult:
    """Invert the primary's health check, wait for Route 53 to answer another region, restore; see the module doc."""
    probe = probe or Route53Probe(client)
    primary = target.primary
    regions = [primary, *target.others]
    result = DrillResult(target.env, target.domain, primary.region, None, None, None, timeout)
    preflight(target, client)
    with _signals_interrupt():
        try:
            client.update_health_check(HealthCheckId=primary.health_check_id, Inverted=True)
            started = clock()
            while True:
                elapsed = clock() - started
                health, answer = _observe(probe, target)
                region = answer_region(answer, regions, resolve)
                observed = Poll(round(elapsed, 1), health, answer, region)
                result.polls.append(observed)
                if on_poll:
                    on_poll(observed)
                if result.unhealthy_seconds is None and not health.healthy:
                    result.unhealthy_seconds = observed.seconds
                if region is not None and region != primary.region:
                    result.failover_region = region
                    result.failover_seconds = observed.seconds
                    break
                if elapsed + poll > timeout:
                    break
                sleep(poll)
        finally:
            result.restored = _restore(client, primary.health_check_id)
    return result


def _observe(probe: Probe, target: DrillTarget) -> tuple[HealthObservation, list[str]]:
    try:
        return probe.health(target.primary.health_check_id), probe.dns_answer(target.hosted_zone_id, target.domain)
    except Exception as err:  # noqa: BLE001 - any API failure ends the drill; the restore still runs
        raise DrillError(
            f"polling Route 53 failed ({type(err).__name__}: {err}); the drill stopped and restores health check "
            f"{target.primary.health_check_id}. Fix: check that your credentials may call "
            "route53:GetHealthCheckStatus and route53:TestDNSAnswer, then drill again"
        ) from err


def _restore(client: Any, health_check_id: str) -> bool:
    last: Exception | None = None
    for attempt in range(RESTORE_ATTEMPTS):
        try:
            client.update_health_check(HealthCheckId=health_check_id, Inverted=False)
            return True
        except Exception as err:  # noqa: BLE001 - any failure here leaves the primary out of DNS: retry
            last = err
            time.sleep(min(2**attempt, 4))
    raise DrillError(
        f"could not restore health check {health_check_id} ({type(last).__name__}: {last}); the primary region "
        f"stays out of DNS until it is. Fix: run 'aws route53 update-health-check --health-check-id "
        f"{health_check_id} --no-inverted' now"
    )
