"""The model apps through DeploymentHandles, from a driver joined to the shared local cluster."""

from __future__ import annotations

import pytest

from serve_apps.digits.model import ZERO_IMAGE


@pytest.fixture(scope="module")
def handles(ray_driver):
    from ray import serve

    handles = {name: serve.get_app_handle(name) for name in ("sentiment", "digits")}
    yield handles
    # Before the driver leaves: a router left running pushes its metrics every few seconds, and logs an
    # error each time once Ray is gone, for the rest of the session.
    for handle in handles.values():
        handle.shutdown()


def test_sentiment_handle_scores_one_and_many(handles):
    one = handles["sentiment"].predict.remote({"text": "what a great day"}).result(timeout_s=30)
    many = handles["sentiment"].predict.remote({"texts": ["great", "horrible"]}).result(timeout_s=30)
    assert one["label"] == "positive"
    assert [r["label"] for r in many["results"]] == ["positive", "negative"]


def test_digits_handle_held_back_accuracy_is_at_least_0_9(handles):
    from serve_apps.digits.model import held_back

    pixels, labels = held_back()
    # Separate calls, concurrently: they meet in the replica's @serve.batch queue.
    responses = [handles["digits"].predict.remote({"pixels": row}) for row in pixels.tolist()]
    predicted = [r.result(timeout_s=60)["digit"] for r in responses]
    accuracy = sum(int(p == y) for p, y in zip(predicted, labels)) / len(labels)
    assert len(labels) == 297
    assert accuracy >= 0.9


def test_digits_handle_batch_form(handles):
    answer = handles["digits"].predict.remote({"instances": [ZERO_IMAGE, ZERO_IMAGE]}).result(timeout_s=30)
    assert [p["digit"] for p in answer["predictions"]] == [0, 0]


def test_handle_rejects_bad_input_with_the_message(handles):
    from ray.exceptions import RayTaskError

    with pytest.raises(RayTaskError) as caught:
        handles["digits"].predict.remote({"pixels": "nope"}).result(timeout_s=30)
    assert "'pixels' must be a list of 64 numbers, got str" in str(caught.value)
