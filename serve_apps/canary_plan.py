"""The canary's decisions: which traffic steps, and at each step whether to promote, roll back or keep watching.

    policy = CanaryPolicy.from_options(percent=10, steps="10,50,100", watch_s=30)
    policy.steps                                   # (10, 50, 100)
    verdict = judge(stable, canary, policy, final=True)
    verdict.action, verdict.reason                 # ('promote', 'errors 0.0% vs 0.0%, p99 18 ms vs 16 ms ...')

Pure: no Ray, no HTTP; `stable` and `canary` are `serve_apps.traffic.Latency`
(what the canary router counted of each version during the step: the client's
view), so every rule is tested with numbers alone.

The rules, for one step's window:

- the canary fails a larger share of requests than the current version, by
  more than `max_error_rate_increase` (absolute, 1 percentage point by
  default) → roll back. Decided as soon as `min_errors` (5) canary errors are
  in: a version that fails every request is stopped within one metrics report
  (Ray reports every 10 s), not at the end of the window;
- the canary's p99 is over `p99_ratio` (2×) the current version's, and over it
  by more than `p99_slack_ms` (Serve's latency histogram has buckets 1, 2, 5,
  10, 20, 50, 100 ms ...: at 15 ms a bucket is 10 ms wide), in two stretches
  of the step in a row → roll back. A stretch ends at the first read at which
  the canary has `p99_min_requests` (100) more requests (over fewer, the p99
  is the slowest request, and a new replica's first requests are its slowest:
  a good version was rolled back on 87 ms against 39 ms over its first 41),
  and each is compared with the current version's p99 in the same stretch,
  which shares the machine's noise. A slow version is slow in every stretch;
  a burst of noise (a loaded machine once rolled a good version back) lands in
  one. With fewer than two stretches by the end of the window, the whole
  window's p99 is judged as one, over 100 requests or more;
- at the end of the window, any canary error rate over the current one's by
  more than `max_error_rate_increase` → roll back, however few requests;
- the canary answered fewer than `min_requests` requests at the end of the
  window → the window is extended (up to `max_windows` windows in all), then
  rolled back: too little traffic is never promoted.

The current version's numbers come from the same window; at a 100 % step it
gets no traffic, so the last window in which it had enough is the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from components.errors import RayfleetError
from serve_apps.traffic import Counters, Latency

Action = Literal["promote", "rollback", "wait"]

#: What the canary router counts, per version (VERSION_TAG: CURRENT or NEW) — the client's view: a request
#: is an error when forwarding it raised (a dead replica too) or its answer's status is 500 or more.
ROUTER_REQUESTS_METRIC = "canary_router_requests"
ROUTER_LATENCY_METRIC = "canary_router_latency_ms"
#: Set by every router replica: its series shows that the router's metrics reach the canary.
ROUTER_SHARE_METRIC = "canary_router_percent"
VERSION_TAG = "version"
OUTCOME_TAG = "outcome"
CURRENT, NEW = "current", "new"
OK, ERROR = "ok", "error"

DEFAULT_WATCH_S = 30.0
#: Ray's processes report metrics every 10 s (`metrics_report_interval_ms`): a shorter window sees nothing.
MIN_WATCH_S = 10.0


class CanaryInputError(RayfleetError):
    """Bad --canary / --steps / --watch: names the option, the value and the rule."""


@dataclass(frozen=True)
class CanaryPolicy:
    #: Percent of the route's traffic the new version gets at each step; increasing, ending at 100.
    steps: tuple[int, ...]
    #: Seconds each step is watched before it is judged.
    watch_s: float = DEFAULT_WATCH_S
    max_error_rate_increase: float = 0.01
    min_errors: int = 5
    p99_ratio: float = 2.0
    p99_slack_ms: float = 10.0
    p99_min_requests: int = 100
    min_requests: int = 20
    #: How many windows a step may last when too few requests reached the new version.
    max_windows: int = 3

    @classmethod
    def from_options(cls, percent: int, steps: str | None = None, watch_s: float = DEFAULT_WATCH_S) -> CanaryPolicy:
        """The policy for `--canary PERCENT [--steps A,B,...] [--watch S]`; CanaryInputError naming the bad one."""
        if not 1 <= percent <= 100:
            raise CanaryInputError(
                f"--canary {percent}: the new version's share of traffic must be a percent from 1 to 100. "
                "Fix: pass e.g. --canary 10"
            )
        parsed = parse_steps(steps) if steps else tuple(dict.fromkeys((percent, 100)))
        if parsed[0] != percent:
            raise CanaryInputError(
                f"--steps {steps}: the first step must be the --canary share ({percent}). "
                f"Fix: pass --steps {','.join(str(s) for s in (percent, *[s for s in parsed if s > percent]))}"
            )
        if watch_s < MIN_WATCH_S:
            raise CanaryInputError(
                f"--watch {watch_s:g}: each step must be watched for at least {MIN_WATCH_S:g} s (Ray reports "
                f"Serve's metrics every {MIN_WATCH_S:g} s, so a shorter window sees no requests). Fix: pass --watch 30"
            )
        return cls(parsed, watch_s)


def parse_steps(text: str) -> tuple[int, ...]:
    """`"10,50,100"` → (10, 50, 100): whole percents, strictly increasing, each 1-100, the last 100."""
    try:
        steps = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise CanaryInputError(
            f"--steps {text}: steps are whole percents separated by commas. Fix: pass e.g. --steps 10,50,100"
        ) from None
    if any(not 1 <= s <= 100 for s in steps):
        raise CanaryInputError(f"--steps {text}: every step must be a percent from 1 to 100. Fix: pass e.g. --steps 10,50,100")
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise CanaryInputError(f"--steps {text}: steps must increase. Fix: pass e.g. --steps 10,50,100")
    if steps[-1] != 100:
        raise CanaryInputError(
            f"--steps {text}: the last step must be 100 (the new version takes all traffic before it replaces "
            f"the current one). Fix: pass --steps {text},100"
        )
    return steps


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str


@dataclass(frozen=True)
class Stretch:
    """What each version counted over one stretch of a step (see `stretches`)."""

    stable: Latency
    canary: Latency


def stretches(reads: Sequence[tuple[Counters, Counters]], policy: CanaryPolicy) -> list[Stretch]:
    """A step's reads in order (each version's counts since the step began: current, new) cut into consecutive
    stretches, each ending at the first read at which the new version has `p99_min_requests` more requests."""
    cut: list[Stretch] = []
    start = (Counters(), Counters())
    for stable, canary in reads:
        if canary.requests - start[1].requests >= policy.p99_min_requests:
            cut.append(Stretch(Latency.of(stable.since(start[0])), Latency.of(canary.since(start[1]))))
            start = (stable, canary)
    return cut


def judge(stable: Latency | None, canary: Latency, policy: CanaryPolicy, *, final: bool, can_extend: bool = False,
          parts: Sequence[Stretch] = (), previous: Latency | None = None) -> Verdict:
    """One step's decision from what each version counted in it; `final` at the end of the watch window,
    `can_extend` while the window may still be extended for want of requests; `parts`: the step's stretches.

    `stable` is the current version's baseline (None when it never had enough traffic to compare with);
    `previous` the baseline the earlier steps left (see `_reference`).
    Before the window ends only a failure is decided; a good canary waits for the whole window.
    """
    baseline_rate = stable.error_rate if stable is not None and stable.requests else 0.0
    rate = canary.error_rate or 0.0
    errors = f"errors {_pct(rate)} vs {_pct(baseline_rate)}"
    if canary.errors >= policy.min_errors and rate > (baseline_rate or 0.0) + policy.max_error_rate_increase:
        return Verdict("rollback", f"{errors} over {canary.requests} requests "
                                   f"(more than {_pct(policy.max_error_rate_increase)} above the current version)")
    slow = _slow_in_a_row(_reference(stable, previous), parts, policy)
    if slow is not None:
        return Verdict("rollback", f"{errors}; {slow}")
    latency = _latency(stable, canary)
    # The whole window as one: side by side when the current version had a p99 of its own in it, else (the
    # 100 % step: its few requests from the step's first seconds) the reference the stretches use.
    whole = stable if stable is not None and stable.requests >= policy.p99_min_requests else _reference(stable, previous)
    if final and len(parts) < 2 and _over_limit(whole, canary, policy):
        return Verdict("rollback", f"{errors}; {_latency(whole, canary)} ({_limit_text(_p99_limit(whole, policy), policy)})")
    if not final:
        return Verdict("wait", f"{errors}; {latency} over {canary.requests} requests")
    if canary.errors and rate > baseline_rate + policy.max_error_rate_increase:
        return Verdict("rollback", f"{errors} over {canary.requests} requests")
    if canary.requests < policy.min_requests:
        few = f"only {canary.requests} requests reached the new version (fewer than {policy.min_requests})"
        if can_extend:
            return Verdict("wait", f"{few}: watching longer; {errors}")
        return Verdict("rollback", f"{few} in {policy.max_windows} windows: too little traffic to judge, "
                                   f"so it is not promoted; {errors}")
    return Verdict("promote", f"{errors}; {latency} over {canary.requests} requests")


def next_baseline(previous: Latency | None, stable: Latency, policy: CanaryPolicy) -> Latency | None:
    """The current version's numbers to compare with: this window's when it had enough traffic, else the last."""
    return stable if stable.requests >= policy.min_requests else previous


def _over_limit(stable: Latency | None, canary: Latency, policy: CanaryPolicy) -> bool:
    """The canary's p99 over the limit the current version's sets, judged over `p99_min_requests` or more."""
    limit = _p99_limit(stable, policy)
    return canary.requests >= policy.p99_min_requests and limit is not None and canary.p99_ms is not None \
        and canary.p99_ms > limit


def _reference(stable: Latency | None, previous: Latency | None) -> Latency | None:
    """What a stretch with too few of the current version's requests (the 100 % step) is compared with: of the step's
    baseline and the earlier steps', the one with the higher p99. With no current-version traffic beside it, a
    busier machine cannot be told from a slower version, and the new version was already compared with the
    current one side by side at the earlier steps: the current version's p99 under the most recent noise it was
    measured in is the fair limit (a loaded run once rolled a good version back at 100 %, on the current
    version's quieter few requests from the step's first seconds)."""
    known = [b for b in (stable, previous) if b is not None and b.p99_ms is not None]
    return max(known, key=lambda b: b.p99_ms or 0.0) if known else stable


def _slow_in_a_row(baseline: Latency | None, parts: Sequence[Stretch], policy: CanaryPolicy) -> str | None:
    """Why the canary is slow when its p99 is over the limit in two stretches in a row, each against the current
    version's p99 of the same stretch (the baseline's where the current version had too few requests in it)."""
    compared = [(part.stable if part.stable.requests >= policy.min_requests else baseline, part.canary)
                for part in parts]
    for (stable_a, canary_a), (stable_b, canary_b) in zip(compared, compared[1:]):
        if _over_limit(stable_a, canary_a, policy) and _over_limit(stable_b, canary_b, policy):
            seen = "; ".join(_latency(s, c) for s, c in ((stable_a, canary_a), (stable_b, canary_b)))
            return (f"{seen} in two stretches in a row ({_limit_text(_p99_limit(stable_b, policy), policy)}, "
                    f"each over {policy.p99_min_requests} requests or more)")
    return None


def _limit_text(limit: float | None, policy: CanaryPolicy) -> str:
    return f"limit {limit or 0:.0f} ms: {policy.p99_ratio:g}x the current, at least +{policy.p99_slack_ms:g} ms"


def _p99_limit(stable: Latency | None, policy: CanaryPolicy) -> float | None:
    if stable is None or stable.p99_ms is None or stable.requests < policy.min_requests:
        return None
    return max(stable.p99_ms * policy.p99_ratio, stable.p99_ms + policy.p99_slack_ms)


def _latency(stable: Latency | None, canary: Latency) -> str:
    return f"p99 {_ms(canary.p99_ms)} vs {_ms(stable.p99_ms if stable else None)}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _pct(rate: float | None) -> str:
    return f"{(rate or 0.0) * 100:.1f}%"
