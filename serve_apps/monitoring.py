"""Input drift of a served model: a baseline of its training inputs, and a monitor its replicas feed.

    baseline = baseline_from(training_rows, bins=10)       # rows of numbers, one per input
    save_baseline(baseline, Path("model.baseline.json"))    # beside the model, shipped with it
    monitor = DriftMonitor(load_baseline(Path("model.baseline.json")), application="reviews")
    monitor.record([len(text), text.count(" ")])           # per request: O(features)
    monitor.score()                                         # largest per-feature PSI over the window

The drift score is the population stability index (PSI) of each feature over
the last `window` inputs against the baseline, summarised as the largest of
them: PSI = sum over bins of (a - e) * ln(a / e), with e the baseline's and a
the window's share of inputs in a bin. The bins are the baseline's quantiles
(`bins` of them, fewer where the feature repeats values), open at both ends;
an empty bin counts as EPSILON so the logarithm stays finite. The usual
reading: under 0.1 no shift, 0.1 to 0.2 a small one, over 0.2 a significant one.

Every `publish_every` inputs the monitor computes the score and hands it to
`publish`; by default that sets the Ray gauge DRIFT_GAUGE, tagged with the
application, which Ray's Prometheus export names DRIFT_METRIC. Recording costs
one binary search per feature and keeps the window's bin counts, so computing
the score never walks the window; the window holds one byte per feature per
input, so its memory is bounded by `window` * features bytes.

Only the standard library is imported here (Ray lazily, to publish): an
application folder made by `rayfleet serve new` carries a copy of this file.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any, Callable, Sequence

from components.contract import APPLICATION_LABEL, DRIFT_GAUGE

#: The share an empty bin counts as, so that ln(a / e) stays finite.
EPSILON = 1e-4
BASELINE_FORMAT = "rayfleet-drift-baseline/1"
#: At most this many bins per feature, so that a bin index fits in one byte of the window.
MAX_BINS = 255
#: The environment variable through which a deployed application learns the drift its alarm tolerates
#: (the rendered Serve config sets it from `serve.applications[].drift.threshold`).
THRESHOLD_ENV = "RAYFLEET_DRIFT_THRESHOLD"
#: Inputs a window needs before its score is published: a sample of n inputs drawn from the baseline itself
#: scores about (bins - 1) / n per feature by chance alone (0.018 at 10 bins), and the largest of many
#: features more; with fewer, a quiet application would raise false alarms.
MIN_SAMPLES = 500

logger = logging.getLogger("ray.serve")


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolated linearly between neighbours (numpy's default)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _bin_of(edges: Sequence[float], value: float) -> int:
    """Bin i holds values in (edges[i-1], edges[i]]; the first and the last are open-ended."""
    return bisect.bisect_left(edges, value)


def baseline_from(samples: Sequence[Sequence[float]], bins: int = 10, names: Sequence[str] | None = None) -> dict:
    """The baseline of `samples` (rows of equal length, one number per feature): per feature, the edges of
    `bins` quantile bins and the share of samples in each. A JSON-able dict (save_baseline writes it)."""
    if not 2 <= bins <= MAX_BINS:
        raise ValueError(f"bins = {bins}: must be between 2 and {MAX_BINS}")
    rows = [[float(x) for x in row] for row in samples]
    if not rows or not rows[0]:
        raise ValueError("samples is empty: a baseline needs at least one row of at least one feature")
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError(f"samples have different lengths: every row must have {width} features, like the first")
    if names is not None and len(names) != width:
        raise ValueError(f"names has {len(names)} entries for {width} features")
    features = []
    for index in range(width):
        column = sorted(row[index] for row in rows)
        edges = sorted({_quantile(column, step / bins) for step in range(1, bins)})
        counts = [0] * (len(edges) + 1)
        for value in column:
            counts[_bin_of(edges, value)] += 1
        features.append({
            "name": str(names[index]) if names is not None else str(index),
            "edges": edges,
            "shares": [count / len(rows) for count in counts],
        })
    return {"format": BASELINE_FORMAT, "samples": len(rows), "features": features}


def save_baseline(baseline: dict, path: Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(baseline, sort_keys=True, indent=1) + "\n")
    return path


def check_baseline(baseline: Any, source: str = "baseline") -> dict:
    """`baseline` if it is one baseline_from wrote; ValueError naming what is wrong otherwise."""
    if not isinstance(baseline, dict) or baseline.get("format") != BASELINE_FORMAT:
        found = baseline.get("format") if isinstance(baseline, dict) else type(baseline).__name__
        raise ValueError(f"{source}: format is {found!r}, expected {BASELINE_FORMAT!r} (write it with baseline_from)")
    for feature in baseline.get("features") or [None]:
        if not isinstance(feature, dict) or len(feature.get("shares", ())) != len(feature.get("edges", ())) + 1:
            raise ValueError(f"{source}: every feature needs 'edges' and one more 'shares' than edges")
        if len(feature["shares"]) > MAX_BINS:
            raise ValueError(f"{source}: feature {feature.get('name')} has {len(feature['shares'])} bins, "
                             f"at most {MAX_BINS}")
    return baseline


def load_baseline(path: Path) -> dict:
    return check_baseline(json.loads(Path(path).read_text()), str(path))


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """The population stability index of the shares `actual` against `expected` (same bins)."""
    if len(expected) != len(actual):
        raise ValueError(f"expected has {len(expected)} bins, actual {len(actual)}: they must share the bins")
    total = 0.0
    for e, a in zip(expected, actual):
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def ray_gauge(application: str) -> Callable[[float], None]:
    """A publisher that sets the Ray gauge DRIFT_GAUGE for `application` (in a process Ray runs)."""
    from ray.util.metrics import Gauge

    gauge = Gauge(
        DRIFT_GAUGE,
        description="Largest per-feature population stability index of recent inputs against the model's baseline.",
        tag_keys=(APPLICATION_LABEL,),
    )
    return lambda score: gauge.set(score, tags={APPLICATION_LABEL: application})


def threshold_from_env() -> float | None:
    """The threshold the deployment was given (THRESHOLD_ENV), or None outside a rendered deployment."""
    raw = os.environ.get(THRESHOLD_ENV)
    try:
        return float(raw) if raw else None
    except ValueError:
        logger.warning("%s = %r is not a number; drift is scored without a threshold", THRESHOLD_ENV, raw)
        return None


class DriftMonitor:
    """The last `window` inputs' bins against a baseline; publishes the score every `publish_every` inputs
    once the window holds `min_samples` (default MIN_SAMPLES, or the window if smaller).

    `publish` receives the score; by default the Ray gauge for `application`. Thread-safe.
    """

    def __init__(
        self,
        baseline: dict,
        *,
        application: str | None = None,
        window: int = 1000,
        publish_every: int = 100,
        min_samples: int | None = None,
        publish: Callable[[float], None] | None = None,
        threshold: float | None = None,
    ):
        min_samples = min(MIN_SAMPLES, window) if min_samples is None else min_samples
        if window < 1 or publish_every < 1 or not 1 <= min_samples <= window:
            raise ValueError(f"window ({window}) and publish_every ({publish_every}) must be at least 1, and "
                             f"min_samples ({min_samples}) between 1 and window")
        if publish is None and application is None:
            raise ValueError("give the application's name (it tags the gauge), or a publish function")
        features = check_baseline(baseline)["features"]
        self._edges = [feature["edges"] for feature in features]
        self._expected = [feature["shares"] for feature in features]
        self.names = [feature["name"] for feature in features]
        self._window: deque[bytes] = deque(maxlen=window)
        self._counts = [[0] * len(shares) for shares in self._expected]
        self._since_publish = 0
        self._publish = publish
        self._application = application
        self._lock = threading.Lock()
        self.publish_every = publish_every
        self.min_samples = min_samples
        self.threshold = threshold_from_env() if threshold is None else threshold
        self.last_score: float | None = None

    def __len__(self) -> int:
        return len(self._window)

    def record(self, features: Sequence[float]) -> None:
        """Add one input (one number per baseline feature); every publish_every inputs, publish the score."""
        if len(features) != len(self._edges):
            raise ValueError(f"got {len(features)} features, the baseline has {len(self._edges)}")
        row = bytes(_bin_of(edges, float(value)) for edges, value in zip(self._edges, features))
        with self._lock:
            if len(self._window) == self._window.maxlen:
                for counts, old in zip(self._counts, self._window[0]):
                    counts[old] -= 1
            self._window.append(row)
            for counts, new in zip(self._counts, row):
                counts[new] += 1
            self._since_publish += 1
            due = self._since_publish >= self.publish_every and len(self._window) >= self.min_samples
            if due:
                self._since_publish = 0
        if due:
            self.publish()

    def scores(self) -> dict[str, float]:
        """Each feature's PSI over the window (an empty window has drifted nowhere: all 0)."""
        with self._lock:
            size = len(self._window)
            counts = [list(c) for c in self._counts]
        if not size:
            return {name: 0.0 for name in self.names}
        return {
            name: psi(expected, [count / size for count in feature_counts])
            for name, expected, feature_counts in zip(self.names, self._expected, counts)
        }

    def score(self) -> float:
        """The application's drift: the largest per-feature PSI."""
        return max(self.scores().values())

    def publish(self) -> float:
        score = self.score()
        if self._publish is None:
            self._publish = ray_gauge(self._application)
        self._publish(score)
        crossed = self.threshold is not None and score > self.threshold
        if crossed and (self.last_score is None or self.last_score <= self.threshold):
            worst = max(self.scores().items(), key=lambda item: item[1])
            logger.warning(
                "input drift %.3f is over the threshold %.3g (feature %s drifted most)", score, self.threshold, worst[0]
            )
        self.last_score = score
        return score
