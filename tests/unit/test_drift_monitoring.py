"""The drift helper: PSI against quantile bins of a baseline, a bounded window, publication every N inputs."""

from __future__ import annotations

import logging
import math
import tracemalloc

import pytest

from serve_apps.monitoring import (
    EPSILON, THRESHOLD_ENV, DriftMonitor, baseline_from, load_baseline, psi, save_baseline
)

#: One feature, 0..99: two bins split at the median 49.5, half the baseline in each.
HUNDRED = [[float(x)] for x in range(100)]


def _monitor(baseline, **kwargs) -> tuple[DriftMonitor, list[float]]:
    published: list[float] = []
    kwargs.setdefault("min_samples", 1)
    return DriftMonitor(baseline, publish=published.append, **kwargs), published


def test_psi_of_known_shares():
    # (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5) = 0.25 ln 3
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(3))
    assert psi([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]) == 0


def test_psi_counts_an_empty_bin_as_epsilon():
    expected = 0.5 * math.log(2) + (EPSILON - 0.5) * math.log(EPSILON / 0.5)
    assert psi([0.5, 0.5], [1.0, 0.0]) == pytest.approx(expected)
    assert math.isfinite(psi([0.0, 1.0], [1.0, 0.0]))


def test_baseline_bins_are_the_samples_quantiles():
    baseline = baseline_from(HUNDRED, bins=4)
    (feature,) = baseline["features"]
    assert feature["edges"] == [24.75, 49.5, 74.25]
    assert feature["shares"] == [0.25, 0.25, 0.25, 0.25]
    assert baseline["samples"] == 100


def test_a_feature_that_repeats_values_gets_fewer_bins_whose_shares_still_add_up():
    # 60 % zeros: the lower quantiles all fall on 0, which is one bin.
    baseline = baseline_from([[0.0]] * 60 + [[float(x)] for x in range(1, 41)], bins=10)
    (feature,) = baseline["features"]
    assert feature["edges"][0] == 0.0 and len(feature["edges"]) == len(set(feature["edges"])) < 9
    assert feature["shares"][0] == pytest.approx(0.6)
    assert sum(feature["shares"]) == pytest.approx(1.0)


def test_baseline_round_trips_through_its_json_file(tmp_path):
    baseline = baseline_from([[x, 100 - x] for x in range(100)], bins=5, names=["length", "words"])
    assert load_baseline(save_baseline(baseline, tmp_path / "model.baseline.json")) == baseline


def test_baseline_refuses_rows_of_different_widths():
    with pytest.raises(ValueError) as caught:
        baseline_from([[1.0, 2.0], [3.0]])
    assert str(caught.value) == "samples have different lengths: every row must have 2 features, like the first"


def test_score_is_the_largest_feature_psi_over_the_window():
    baseline = baseline_from([[x, x] for x in range(100)], bins=2, names=["steady", "shifted"])
    monitor, _ = _monitor(baseline)
    for x in range(100):
        # 'shifted': a quarter below the median, three quarters above; 'steady' keeps the baseline's halves.
        monitor.record([x, x * 0.5 if x % 4 == 0 else 50 + x * 0.49])
    scores = monitor.scores()
    assert scores["steady"] == 0
    assert scores["shifted"] == pytest.approx(0.25 * math.log(3))
    assert monitor.score() == scores["shifted"]


def test_the_window_keeps_only_the_latest_inputs_in_bounded_memory():
    monitor, _ = _monitor(baseline_from(HUNDRED, bins=2), window=100, publish_every=10_000)
    for _ in range(50):
        monitor.record([99.0])
    tracemalloc.start()
    for _ in range(200):
        monitor.record([99.0])
    before, _ = tracemalloc.get_traced_memory()
    for _ in range(20_000):
        monitor.record([99.0])
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(monitor) == 100
    assert after - before < 4_000
    for row in HUNDRED:
        monitor.record(row)
    # The 20,250 inputs above the median have all left the window: it matches the baseline again.
    assert monitor.score() == 0


def test_the_score_is_published_every_n_inputs_once_the_window_holds_min_samples():
    monitor, published = _monitor(baseline_from(HUNDRED, bins=2), window=50, publish_every=10, min_samples=30)
    for x in range(60):
        monitor.record([float(x)])
    # Due at 10, 20 (too few inputs), then 30, 40, 50, 60.
    assert len(published) == 4
    assert published[-1] == monitor.score()


def test_record_refuses_an_input_of_the_wrong_width():
    monitor, _ = _monitor(baseline_from(HUNDRED, bins=2))
    with pytest.raises(ValueError) as caught:
        monitor.record([1.0, 2.0])
    assert str(caught.value) == "got 2 features, the baseline has 1"


def test_the_threshold_comes_from_the_deployments_environment_and_crossing_it_is_logged(monkeypatch, caplog):
    monkeypatch.setenv(THRESHOLD_ENV, "0.2")
    monitor, published = _monitor(baseline_from(HUNDRED, bins=2), window=10, publish_every=10)
    assert monitor.threshold == 0.2
    with caplog.at_level(logging.WARNING, logger="ray.serve"):
        for _ in range(10):
            monitor.record([99.0])
    assert published == [pytest.approx(0.5 * math.log(2) + (EPSILON - 0.5) * math.log(EPSILON / 0.5))]
    assert caplog.messages == ["input drift 4.604 is over the threshold 0.2 (feature 0 drifted most)"]


def test_a_monitor_without_a_publisher_needs_the_application_name():
    with pytest.raises(ValueError) as caught:
        DriftMonitor(baseline_from(HUNDRED, bins=2))
    assert str(caught.value) == "give the application's name (it tags the gauge), or a publish function"


def test_the_readme_states_the_helpers_names_and_defaults():
    import inspect

    from components.contract import APPLICATION_LABEL, DRIFT_GAUGE, DRIFT_METRIC
    from serve_apps.monitoring import MIN_SAMPLES
    from stacks.config import DriftConfig
    from tests.fakes.environments import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Model monitoring\n", 1)[1].split("\n## ", 1)[0]
    defaults = inspect.signature(DriftMonitor).parameters
    window, every = defaults["window"].default, defaults["publish_every"].default
    assert f"last {window:,} inputs" in section and f"window={window}" in section
    assert f"every {every} inputs once the window holds {MIN_SAMPLES}" in section
    assert f"min_samples={MIN_SAMPLES}" in section and f"publish_every={every}" in section
    assert f"empty bin counts as {EPSILON:.4f}" in section
    assert f"`{DRIFT_GAUGE}` with the tag `{APPLICATION_LABEL}`" in section and f"`{DRIFT_METRIC}`" in section
    assert f"(default {DriftConfig().threshold:g}" in section and f"`{THRESHOLD_ENV}`" in section
