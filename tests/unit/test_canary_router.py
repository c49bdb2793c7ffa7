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


def test_the_model_id_is_read_from_the_raw_headers_as_starlette_reads_it():
    from serve_apps.canary_router import model_id

    scope = {"type": "http", "headers": [(b"content-type", b"application/json"), (b"serve_multiplexed_model_id", b"m-7")]}
    assert model_id(scope) == Request(scope).headers.get("serve_multiplexed_model_id") == "m-7"
    assert model_id({"type": "http", "headers": [(b"content-type", b"application/json")]}) is None
    assert model_id({"type": "http"}) is None


def test_the_forwarded_copy_crosses_with_plain_pickle_and_keeps_its_body():
    import asyncio
    import pickle

    from serve_apps.canary_router import REQUEST_SERIALIZATION, forwarded

    scope = {"type": "http", "method": "POST", "path": "/digits", "headers": [(b"content-type", b"application/json")],
             "query_string": b"", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5555),
             "app": object(), "state": {"held": object()}}  # what the copy leaves behind
    copy = pickle.loads(pickle.dumps(forwarded(Request(scope), b'{"pixels": [1]}'), protocol=pickle.HIGHEST_PROTOCOL))
    assert REQUEST_SERIALIZATION == "pickle"
    assert (copy.method, copy.url.path, copy.headers["content-type"]) == ("POST", "/digits", "application/json")
    assert asyncio.run(copy.json()) == {"pixels": [1]}


class RayCounter:
    def __init__(self):
        self.calls = []

    def inc(self, value=1.0, tags=None):
        self.calls.append((value, tags))


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_request_counts_reach_ray_summed_once_a_second_none_lost():
    from serve_apps.canary_router import BatchedCounts

    counter, clock = RayCounter(), Clock()
    counts = BatchedCounts(counter, every_s=1.0, clock=clock)
    for _ in range(29):
        counts.add("current", "ok")
    counts.add("new", "error")
    assert counter.calls == []  # within the second: nothing yet, one call per tag set later
    clock.now += 1.0
    counts.add("current", "ok")
    assert sorted(counter.calls, key=str) == sorted([(30, {"version": "current", "outcome": "ok"}),
                                                     (1, {"version": "new", "outcome": "error"})], key=str)
    counts.add("new", "ok")
    counts.flush()  # what is pending goes at any moment (the flusher's tick)
    assert counter.calls[-1] == (1, {"version": "new", "outcome": "ok"})
    counts.flush()
    assert len(counter.calls) == 3


def test_the_router_writes_no_access_log_of_its_own():
    from ray.serve.schema import LoggingConfig

    from serve_apps.canary_router import ROUTER_LOGGING, CanaryRouter

    config = LoggingConfig(**ROUTER_LOGGING)
    assert (config.enable_access_log, config.log_level, config.encoding) == (False, "WARNING", "JSON")
    deployed = CanaryRouter._deployment_config.logging_config
    assert (deployed["enable_access_log"], deployed["log_level"]) == (False, "WARNING")
