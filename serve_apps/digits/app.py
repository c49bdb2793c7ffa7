"""The digits deployment and its application builder.

    from ray import serve
    from serve_apps.digits import app
    handle = serve.run(app({"modelUri": "file:///home/me/.rayfleet/models/digits-v1.json"}), name="digits")
    handle.predict.remote({"pixels": [0.0] * 64}).result()["digit"]

`POST {"pixels": [64 numbers in 0..16]}` -> `{"digit", "probabilities", "modelVersion"}`;
`{"instances": [[...], ...]}` -> `{"predictions": [...]}`. Images from concurrent
requests are classified together, one matrix product per `@serve.batch`.
Every image is also recorded against the artifact's input baseline, and the
replica publishes the drift score (serve_apps/monitoring.py) every
`driftPublishEvery` images; `handle.drift.remote()` returns it now.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from ray import serve
from starlette.requests import Request

from serve_apps.digits.model import load_model
from serve_apps.handling import JSON_LOGS, answer_http, logger
from serve_apps.inputs import digits_request, parse_digits
from serve_apps.monitoring import DriftMonitor


class DigitsArgs(BaseModel):
    """Arguments of the application builder (the `args` of the app in the Serve config)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    #: Where the artifact is: file:///.../digits-v1.json or s3://bucket/models/digits-v1.json.
    model_uri: str = Field(pattern=r"^(file|s3)://.+")
    max_batch_size: int = Field(64, ge=1, le=1024)
    batch_wait_timeout_s: float = Field(0.005, ge=0, le=1)
    #: How many recent images the drift score covers, and how often (in images) a replica publishes it.
    drift_window: int = Field(1000, ge=1, le=100_000)
    drift_publish_every: int = Field(100, ge=1, le=100_000)


def application_name(default: str = "digits") -> str:
    """The Serve application this replica belongs to (its config may name it anything); `default` outside Serve."""
    from ray.serve.exceptions import RayServeException

    try:
        return serve.get_replica_context().app_name
    except RayServeException:
        return default


def classify(model, rows: list[list[float]]) -> list[dict]:
    """One answer per image: the digit, every class's probability, the model's version."""
    probabilities = model.predict_proba(rows)
    classes = model.classifier.classes_
    return [
        {
            "digit": int(classes[row.argmax()]),
            "probabilities": [round(float(p), 6) for p in row],
            "modelVersion": model.version,
        }
        for row in probabilities
    ]


@serve.deployment(logging_config=JSON_LOGS, health_check_period_s=10, health_check_timeout_s=30)
class Digits:
    def __init__(
        self,
        model_uri: str,
        max_batch_size: int = 64,
        batch_wait_timeout_s: float = 0.005,
        drift_window: int = 1000,
        drift_publish_every: int = 100,
    ):
        self._model = load_model(model_uri)
        self.classify_batch.set_max_batch_size(max_batch_size)
        self.classify_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)
        self._drift = None
        if self._model.baseline is None:
            logger.warning(
                "the digits artifact has no input baseline: drift is not measured. "
                "Fix: rebuild it with 'rayfleet serve build-models --force' and deploy again",
                extra={"app": "digits", "model_uri": model_uri},
            )
        else:
            self._drift = DriftMonitor(
                self._model.baseline, application=application_name(), window=drift_window,
                publish_every=drift_publish_every,
            )
        logger.info(
            "digits ready",
            extra={"app": "digits", "model_uri": model_uri, "model_version": self._model.version},
        )

    def _classify(self, rows: list[list[float]]) -> list[dict]:
        return classify(self._model, rows)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.005)
    async def classify_batch(self, rows: list[list[float]]) -> list[dict]:
        return self._classify(rows)

    async def classify_all(self, rows: list[list[float]]) -> list[dict]:
        if self._drift is not None:
            for row in rows:
                self._drift.record(row)
        if len(rows) == 1:
            return [await self.classify_batch(rows[0])]
        return list(await asyncio.gather(*(self.classify_batch(row) for row in rows)))

    async def predict(self, doc: Any) -> dict:
        """The same answer as over HTTP, for DeploymentHandle callers; BadRequest for bad input."""
        rows, batched = digits_request(doc)
        results = await self.classify_all(rows)
        return {"predictions": results} if batched else results[0]

    async def __call__(self, request: Request):
        return await answer_http(
            request, parse=parse_digits, predict=self.classify_all, app="digits", many="predictions"
        )

    def drift(self) -> dict:
        """The drift of the recent images now: score, threshold, images in the window. Published too once the
        window holds min_samples: a score over fewer images is noise the drift alarm must not read."""
        if self._drift is None:
            return {"score": None, "threshold": None, "samples": 0}
        samples = len(self._drift)
        score = self._drift.publish() if samples >= self._drift.min_samples else self._drift.score()
        return {"score": score, "threshold": self._drift.threshold, "samples": samples}

    def check_health(self) -> None:
        # An all-zero image is a valid input: the model must still give a distribution.
        total = sum(self._classify([[0.0] * 64])[0]["probabilities"])
        if abs(total - 1.0) > 1e-3:
            raise RuntimeError(f"the digits model's probabilities sum to {total}, not 1")


def app(args: dict) -> serve.Application:
    """The application builder Serve calls with the app's `args`; `modelUri` is required."""
    try:
        parsed = DigitsArgs.model_validate(args or {})
    except ValueError as err:
        raise ValueError(f"invalid args for serve_apps.digits:app: {err}") from None
    return Digits.bind(
        parsed.model_uri, parsed.max_batch_size, parsed.batch_wait_timeout_s, parsed.drift_window,
        parsed.drift_publish_every,
    )
