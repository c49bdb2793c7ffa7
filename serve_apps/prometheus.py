"""Prometheus text, as Ray's metrics endpoints serve it, read into samples; and quantiles from histogram buckets.

    >>> samples = parse_prometheus('# TYPE x_total counter\\nx_total{app="a b",le="+Inf"} 3\\n')
    >>> samples[0].name, samples[0].labels, samples[0].value
    ('x_total', {'app': 'a b', 'le': '+Inf'}, 3.0)
    >>> histogram_quantile(0.5, [(10.0, 2.0), (100.0, 4.0), (float("inf"), 4.0)])
    10.0

Pure: the scraping lives with its callers. The format is Prometheus's text
exposition format 0.0.4 (`name{label="value",...} value [timestamp]`, label
values escaping `\\`, `"` and newlines; `# HELP` / `# TYPE` comments).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass(frozen=True)
class Sample:
    """One line of a metrics page: a series' name, its labels and its value."""

    name: str
    labels: dict[str, str] = field(hash=False)
    value: float


def parse_prometheus(text: str) -> list[Sample]:
    """Every sample line of `text`; comments, blank lines and lines that are not samples are skipped."""
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sample = _parse_line(line)
        if sample is not None:
            samples.append(sample)
    return samples


def _parse_line(line: str) -> Sample | None:
    name = _NAME.match(line)
    if name is None:
        return None
    rest = line[name.end():]
    labels: dict[str, str] = {}
    if rest.startswith("{"):
        end = _labels_end(rest)
        if end is None:
            return None
        body, rest = rest[1:end], rest[end + 1:]
        position = 0
        while position < len(body.rstrip()):
            match = _LABEL.match(body, position)
            if match is None:
                return None
            labels[match[1]] = re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m[0]], match[2])
            position = match.end()
    fields = rest.split()
    if not fields:
        return None
    try:
        value = float(fields[0])  # float() reads Prometheus's +Inf, -Inf and NaN too
    except ValueError:
        return None
    return Sample(name[0], labels, value)


def _labels_end(rest: str) -> int | None:
    """The index of the `}` closing the label set, skipping quoted values (which may hold `}`)."""
    quoted = escaped = False
    for index, char in enumerate(rest):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "}" and not quoted:
            return index
    return None


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The q-quantile of a histogram given as (upper bound `le`, cumulative count) pairs, as Prometheus's
    `histogram_quantile` estimates it: linear within the bucket the rank falls in; the highest finite
    bound when it falls in the +Inf bucket; None when the histogram counted nothing.

    >>> histogram_quantile(0.99, [(5.0, 0.0), (10.0, 100.0), (float("inf"), 100.0)])
    9.95
    """
    ordered: Sequence[tuple[float, float]] = sorted(buckets)
    if not ordered or not ordered[-1][1] > 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound
