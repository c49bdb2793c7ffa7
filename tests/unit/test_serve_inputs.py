"""Request bodies of the model apps: what is accepted, and the exact message for what is not."""

from __future__ import annotations

import pytest

from serve_apps.inputs import BadRequest, MAX_ITEMS, parse_digits, parse_sentiment


def test_single_and_batch_sentiment_forms():
    assert parse_sentiment(b'{"text": "hi"}') == (["hi"], False)
    assert parse_sentiment(b'{"texts": ["a", "b"]}') == (["a", "b"], True)


def test_single_and_batch_digits_forms():
    assert parse_digits(b'{"pixels": [' + b",".join([b"1"] * 64) + b"]}") == ([[1.0] * 64], False)
    rows, batched = parse_digits(b'{"instances": [' + b",".join([b"[" + b",".join([b"16"] * 64) + b"]"] * 3) + b"]}")
    assert batched and rows == [[16.0] * 64] * 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the request body is empty; send a JSON object"),
        (b'{"text": "a", "texts": ["b"]}', "the body must have exactly one of 'text' or 'texts' (got keys: ['text', 'texts'])"),
        (b'{"text": "a", "lang": "en"}', "unknown key(s) ['lang']; send only 'text'"),
        (b'{"texts": "abc"}', "'texts' must be a list, got str"),
        (b'{"texts": ["ok", null]}', "'texts[1]' must be a string, got null"),
        (b'"just a string"', "the body must be a JSON object with 'text' or 'texts', got str"),
    ],
)
def test_bad_sentiment_bodies_are_named(body, message):
    with pytest.raises(BadRequest) as caught:
        parse_sentiment(body)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        ([0] * 63 + [True], "'pixels[63]' must be a number, got bool True"),
        ([0] * 10 + ["1"] + [0] * 53, "'pixels[10]' must be a number, got str '1'"),
        ([-1] + [0] * 63, "'pixels[0]' = -1 is outside 0..16"),
        ({"a": 1}, "'pixels' must be a list of 64 numbers, got dict"),
    ],
)
def test_bad_pixels_are_named_by_index(pixels, message):
    import json

    with pytest.raises(BadRequest) as caught:
        parse_digits(json.dumps({"pixels": pixels}).encode())
    assert str(caught.value) == message


def test_non_finite_pixels_are_refused():
    with pytest.raises(BadRequest) as caught:
        parse_digits(b'{"pixels": [NaN' + b",0" * 63 + b"]}")
    assert str(caught.value) == "'pixels[0]' must be a number, got float nan"


def test_too_many_items_are_refused():
    import json

    with pytest.raises(BadRequest) as caught:
        parse_sentiment(json.dumps({"texts": ["x"] * (MAX_ITEMS + 1)}).encode())
    assert str(caught.value) == f"'texts' has {MAX_ITEMS + 1} items; at most {MAX_ITEMS} per request"


@pytest.mark.parametrize("parse", [parse_sentiment, parse_digits])
def test_deeply_nested_body_is_a_bad_request_not_a_recursion_error(parse):
    depth = 100_000
    body = b'{"text": ' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(BadRequest) as caught:
        parse(body)
    assert str(caught.value) == "the request body nests JSON arrays/objects too deeply to parse; send a flat JSON object"
