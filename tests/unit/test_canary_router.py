"""The canary router's own view of each answer: what counts as an error, and the model id it passes on."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from serve_apps.canary import router_counters
from serve_apps.canary_router import outcome, with_model_id
from serve_apps.prometheus import Sample


def test_an_answer_with_a_status_of_500_or_more_is_an_error():
    assert outcome(Response(status_code=500)) == "error"
    assert outcome(Response(status_code=503)) == "error"
    assert outcome(JSONResponse({"ok": True})) == "ok"
    assert outcome(Response(status_code=404)) == "ok"
    assert outcome({"digit": 7}) == "ok"


class Handle:
    def __init__(self, options=None):
        self.given = options

    def options(self, **options):
        return Handle(options)


def request(headers):
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def test_a_multiplexed_model_id_is_passed_on_to_the_version():
    handle = with_model_id(Handle(), request([(b"serve_multiplexed_model_id", b"model-7")]))
    assert handle.given == {"multiplexed_model_id": "model-7"}
    plain = Handle()
    assert with_model_id(plain, request([])) is plain


def test_the_router_counts_are_read_per_version_and_outcome():
    labels = {"application": "digits", "deployment": "Digits"}
    samples = [Sample("ray_canary_router_requests_total", {**labels, "version": "new", "outcome": "ok"}, 7.0),
               Sample("ray_canary_router_requests_total", {**labels, "version": "new", "outcome": "error"}, 3.0),
               Sample("ray_canary_router_requests_total", {**labels, "version": "current", "outcome": "ok"}, 90.0),
               Sample("ray_canary_router_requests_total", {**labels, "application": "other", "version": "new", "outcome": "error"}, 9.0)]
    counters = router_counters(samples, "digits", "new")
    assert (counters.succeeded, counters.errors) == (7.0, 3.0)
