"""The model apps over HTTP on the shared local cluster: answers, batch forms, and 4xx for bad input."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import httpx

from serve_apps.digits.model import ZERO_IMAGE


def post(url: str, body, raw: bool = False):
    data = body if raw else json.dumps(body)
    return httpx.post(url, content=data, headers={"Content-Type": "application/json"}, timeout=30)


def test_sentiment_labels_positive_and_negative_text(serve_url):
    good = post(f"{serve_url}/sentiment", {"text": "I love this, it is wonderful"})
    bad = post(f"{serve_url}/sentiment", {"text": "This is terrible and I hate it"})
    assert good.status_code == 200 and bad.status_code == 200
    assert good.json()["label"] == "positive" and good.json()["score"] > 0.5
    assert bad.json()["label"] == "negative" and bad.json()["score"] < -0.5
    assert set(good.json()["scores"]) == {"neg", "neu", "pos", "compound"}


def test_sentiment_batch_form_answers_in_order(serve_url):
    answer = post(f"{serve_url}/sentiment", {"texts": ["great", "awful", "the sky"]})
    assert answer.status_code == 200
    assert [r["label"] for r in answer.json()["results"]] == ["positive", "negative", "neutral"]


def test_digits_classifies_a_zero_with_its_model_version(serve_url):
    answer = post(f"{serve_url}/digits", {"pixels": ZERO_IMAGE})
    assert answer.status_code == 200
    body = answer.json()
    assert body["digit"] == 0
    assert len(body["probabilities"]) == 10 and abs(sum(body["probabilities"]) - 1) < 1e-3
    assert body["modelVersion"].startswith("v1+")


def test_digits_held_back_accuracy_over_http_is_at_least_0_9(serve_url):
    from serve_apps.digits.model import held_back

    pixels, labels = held_back()
    answer = post(f"{serve_url}/digits", {"instances": pixels.tolist()[:256]})
    assert answer.status_code == 200
    predicted = [p["digit"] for p in answer.json()["predictions"]]
    accuracy = sum(int(p == y) for p, y in zip(predicted, labels[:256])) / len(predicted)
    assert accuracy >= 0.9


def test_concurrent_requests_each_get_their_own_answer(serve_url):
    from serve_apps.digits.model import held_back

    pixels, _ = held_back()
    images = pixels.tolist()[:40]
    alone = [p["digit"] for p in post(f"{serve_url}/digits", {"instances": images}).json()["predictions"]]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda image: post(f"{serve_url}/digits", {"pixels": image}), images))
    assert all(a.status_code == 200 for a in answers)
    assert [a.json()["digit"] for a in answers] == alone


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [
        ("sentiment", "{not json", "the request body is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        ("sentiment", {"text": 5}, "'text' must be a string, got int"),
        ("sentiment", {"texts": []}, "'texts' is empty; send at least one item"),
        ("sentiment", {"words": "hi"}, "the body must have exactly one of 'text' or 'texts' (got keys: ['words'])"),
        ("digits", {"pixels": [1, 2, 3]}, "'pixels' must have 64 numbers (an 8x8 image, row by row), got 3"),
        ("digits", {"pixels": [0] * 63 + [17]}, "'pixels[63]' = 17 is outside 0..16"),
        ("digits", {"instances": [[0] * 64, "x"]}, "'instances[1]' must be a list of 64 numbers, got str"),
        ("digits", [1, 2], "the body must be a JSON object with 'pixels' or 'instances', got list"),
        ("digits", "", "the request body is empty; send a JSON object"),
        ("sentiment", '{"text": ' + "[" * 50_000 + "]" * 50_000 + "}",
         "the request body nests JSON arrays/objects too deeply to parse; send a flat JSON object"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(serve_url, route, body, message):
    answer = post(f"{serve_url}/{route}", body, raw=isinstance(body, str))
    assert answer.status_code == 400
    assert answer.json() == {"error": message}


def test_get_is_refused_with_405(serve_url):
    answer = httpx.get(f"{serve_url}/digits", timeout=30)
    assert answer.status_code == 405
    assert answer.json() == {"error": "use POST with a JSON body (got GET)"}


def test_replicas_log_structured_json_naming_the_rejected_problem(serve_url, local_cluster):
    import glob
    import time

    answer = post(f"{serve_url}/digits", {"pixels": [99] * 64})
    assert answer.status_code == 400
    pattern = f"{local_cluster['state'].temp_dir}/session_latest/logs/serve/replica_digits_*.log"
    deadline = time.monotonic() + 10
    found = []
    while not found and time.monotonic() < deadline:
        for path in glob.glob(pattern):
            for line in open(path):
                record = json.loads(line)  # every line is one JSON object
                if record.get("message") == "rejected" and record.get("problem") == "'pixels[0]' = 99 is outside 0..16":
                    found.append(record)
        time.sleep(0.2)
    assert found, f"no JSON 'rejected' record in {pattern}"
    assert found[-1]["app"] == "digits" and found[-1]["status"] == 400
    assert found[-1]["route"] == "/digits"
