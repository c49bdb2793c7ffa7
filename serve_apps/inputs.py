"""Request bodies of the model apps, checked before any model sees them.

    >>> parse_digits(b'{"pixels": [0, 16, ...]}')      # -> ([[0.0, 16.0, ...]], False)
    >>> parse_sentiment(b'{"text": 5}')
    Traceback (most recent call last):
    BadRequest: 'text' must be a string, got int

Every problem raises `BadRequest` with a message naming the field and what
was wrong with it; the apps answer it with HTTP 400 (never a 500).
"""

from __future__ import annotations

import json
import math
from typing import Any

#: Bounds that keep one request from monopolising a replica.
MAX_ITEMS = 256
MAX_TEXT_CHARS = 10_000
PIXELS = 64
PIXEL_RANGE = (0.0, 16.0)


class BadRequest(ValueError):
    """A request body the app cannot answer; `str(err)` names the problem."""


def parse_json(body: bytes) -> Any:
    if not body:
        raise BadRequest("the request body is empty; send a JSON object")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequest(f"the request body is not valid JSON ({err})") from None
    except RecursionError:
        # Python's decoder recurses once per nesting level; a body such as {"text": [[[...]]]} thousands
        # deep exhausts the stack before any field check sees it. No request of these apps nests past 3.
        raise BadRequest("the request body nests JSON arrays/objects too deeply to parse; send a flat JSON object") from None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _one_of(doc: Any, single: str, many: str) -> tuple[str, Any]:
    if not isinstance(doc, dict):
        raise BadRequest(f"the body must be a JSON object with '{single}' or '{many}', got {_type_name(doc)}")
    present = [key for key in (single, many) if key in doc]
    if len(present) != 1:
        raise BadRequest(f"the body must have exactly one of '{single}' or '{many}' (got keys: {sorted(doc)})")
    unknown = sorted(set(doc) - {single, many})
    if unknown:
        raise BadRequest(f"unknown key(s) {unknown}; send only '{present[0]}'")
    return present[0], doc[present[0]]


def _items(key: str, value: Any) -> list:
    if not isinstance(value, list):
        raise BadRequest(f"'{key}' must be a list, got {_type_name(value)}")
    if not value:
        raise BadRequest(f"'{key}' is empty; send at least one item")
    if len(value) > MAX_ITEMS:
        raise BadRequest(f"'{key}' has {len(value)} items; at most {MAX_ITEMS} per request")
    return value


def check_text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"'{where}' must be a string, got {_type_name(value)}")
    if len(value) > MAX_TEXT_CHARS:
        raise BadRequest(f"'{where}' has {len(value)} characters; at most {MAX_TEXT_CHARS}")
    return value


def check_pixels(value: Any, where: str) -> list[float]:
    if not isinstance(value, list):
        raise BadRequest(f"'{where}' must be a list of {PIXELS} numbers, got {_type_name(value)}")
    if len(value) != PIXELS:
        raise BadRequest(f"'{where}' must have {PIXELS} numbers (an 8x8 image, row by row), got {len(value)}")
    low, high = PIXEL_RANGE
    out = []
    for index, pixel in enumerate(value):
        # bool is an int in Python, but true/false is not a pixel.
        if isinstance(pixel, bool) or not isinstance(pixel, (int, float)) or not math.isfinite(pixel):
            raise BadRequest(f"'{where}[{index}]' must be a number, got {_type_name(pixel)} {pixel!r}")
        if not low <= pixel <= high:
            raise BadRequest(f"'{where}[{index}]' = {pixel} is outside {low:g}..{high:g}")
        out.append(float(pixel))
    return out


def sentiment_request(doc: Any) -> tuple[list[str], bool]:
    """The texts of a sentiment request, and whether it was the batch form (`texts`)."""
    key, value = _one_of(doc, "text", "texts")
    if key == "text":
        return [check_text(value, "text")], False
    return [check_text(item, f"texts[{i}]") for i, item in enumerate(_items(key, value))], True


def digits_request(doc: Any) -> tuple[list[list[float]], bool]:
    """The images of a digits request, and whether it was the batch form (`instances`)."""
    key, value = _one_of(doc, "pixels", "instances")
    if key == "pixels":
        return [check_pixels(value, "pixels")], False
    return [check_pixels(item, f"instances[{i}]") for i, item in enumerate(_items(key, value))], True


def parse_sentiment(body: bytes) -> tuple[list[str], bool]:
    return sentiment_request(parse_json(body))


def parse_digits(body: bytes) -> tuple[list[list[float]], bool]:
    return digits_request(parse_json(body))
