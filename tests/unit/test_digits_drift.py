"""The digits model's input baseline, and the drift its app publishes for shifted and unshifted images."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

import serve_apps.monitoring as monitoring
from serve_apps.digits.model import TRAIN_SIZE, build_model, held_back, load_model
from serve_apps.inputs import MAX_ITEMS
from stacks.config import DriftConfig
from tests.fakes.environments import ROOT

#: What `serve.applications[].drift.threshold` defaults to, and so what the rendered config passes down.
THRESHOLD = DriftConfig().threshold
README = " ".join((ROOT / "README.md").read_text().split())


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory) -> str:
    return build_model(tmp_path_factory.mktemp("models")).as_uri()


@pytest.fixture
def gauge(monkeypatch) -> list[tuple[str, float]]:
    """What the app sets on the Ray gauge: (application, score)."""
    published: list[tuple[str, float]] = []
    monkeypatch.setattr(monitoring, "ray_gauge", lambda app: lambda score: published.append((app, score)))
    monkeypatch.setenv(monitoring.THRESHOLD_ENV, str(THRESHOLD))
    return published


def _digits(model_uri: str, **kwargs):
    from serve_apps.digits.app import Digits

    # The deployment's class itself, outside Serve: the same __init__ and request path a replica runs, but
    # for @serve.batch, which needs a replica's context: one image per call instead.
    app = Digits.func_or_class(model_uri, **kwargs)

    async def classify_one(row):
        return app._classify([row])[0]

    app.classify_batch = classify_one
    return app


def _send(app, images: np.ndarray) -> None:
    async def send():
        for start in range(0, len(images), MAX_ITEMS):
            await app.predict({"instances": images[start:start + MAX_ITEMS].tolist()})

    asyncio.run(send())


def _shifted_right(images: np.ndarray, columns: int = 1) -> np.ndarray:
    """The same digits moved `columns` pixels to the right, as a camera or crop change would."""
    square = images.reshape(-1, 8, 8)
    out = np.zeros_like(square)
    out[:, :, columns:] = square[:, :, :-columns]
    return out.reshape(-1, 64)


def test_the_digits_artifact_carries_the_training_images_pixel_baseline(model_uri):
    model = load_model(model_uri)
    assert model.baseline["format"] == monitoring.BASELINE_FORMAT
    assert model.baseline["samples"] == TRAIN_SIZE
    assert len(model.baseline["features"]) == 64
    assert all(sum(f["shares"]) == pytest.approx(1.0) for f in model.baseline["features"])


def test_shifted_digits_drive_the_published_drift_over_the_threshold(model_uri, gauge):
    app = _digits(model_uri, drift_window=1000, drift_publish_every=100)
    pixels, _ = held_back()
    _send(app, _shifted_right(np.concatenate([pixels, pixels])))
    score = app.drift()["score"]
    assert score > THRESHOLD
    assert f"moved one pixel to the right score {score:.1f}" in README
    assert [name for name, _ in gauge] == ["digits"] * len(gauge) and len(gauge) >= 2
    assert all(score > THRESHOLD for _, score in gauge)


def test_held_back_digits_keep_the_drift_under_the_threshold(model_uri, gauge):
    pixels, _ = held_back()
    # A window as large as the held-back set: full, so it holds min_samples and drift() publishes.
    app = _digits(model_uri, drift_window=len(pixels))
    _send(app, pixels)
    drift = app.drift()
    assert drift == {"score": drift["score"], "threshold": THRESHOLD, "samples": len(pixels)}
    assert drift["score"] < THRESHOLD
    assert f"Held-back digits score {drift['score']:.2f}" in README
    assert set(gauge) == {("digits", drift["score"])}  # when the window filled, and when asked


def test_asking_for_the_drift_below_min_samples_scores_it_but_publishes_nothing(model_uri, gauge):
    app = _digits(model_uri, drift_window=1000, drift_publish_every=100)
    pixels, _ = held_back()
    pixels = np.concatenate([pixels, pixels])
    few = app._drift.min_samples - 1
    _send(app, pixels[:few])
    drift = app.drift()
    assert drift == {"score": drift["score"], "threshold": THRESHOLD, "samples": few}
    assert gauge == []  # a score over a few images is noise: the drift alarm must not read it
    _send(app, pixels[few:few + 1])
    gauge.clear()  # the window's own publish at min_samples
    drift = app.drift()
    assert drift["samples"] == app._drift.min_samples
    assert gauge == [("digits", drift["score"])]


def test_an_artifact_without_a_baseline_still_serves_and_says_how_to_measure_drift(model_uri, tmp_path):
    from serve_apps.digits.model import read_uri

    doc = json.loads(read_uri(model_uri))
    del doc["inputBaseline"]
    old = tmp_path / "digits-v1.json"
    old.write_text(json.dumps(doc))
    app = _digits(old.as_uri())
    _send(app, held_back()[0][:3])
    assert app.drift() == {"score": None, "threshold": None, "samples": 0}
