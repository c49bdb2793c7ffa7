"""The sentiment deployment and its application builder.

    from ray import serve
    from serve_apps.sentiment import app
    handle = serve.run(app({}), name="sentiment", route_prefix="/sentiment")
    handle.predict.remote({"texts": ["great", "awful"]}).result()["results"][0]["label"]   # 'positive'

`POST {"text": str}` -> `{"label", "score", "scores"}`; `{"texts": [...]}` ->
`{"results": [...]}`. Every text goes through one `@serve.batch` queue, so
concurrent requests are scored together.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from ray import serve
from starlette.requests import Request

from serve_apps.handling import JSON_LOGS, answer_http, logger
from serve_apps.inputs import parse_sentiment, sentiment_request

#: VADER's own thresholds on the compound score (see the vaderSentiment README).
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
_HEALTH_TEXT = "rayfleet health check: this is good"


class SentimentArgs(BaseModel):
    """Arguments of the application builder (the `args` of the app in the Serve config)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    max_batch_size: int = Field(32, ge=1, le=256)
    batch_wait_timeout_s: float = Field(0.005, ge=0, le=1)


def label_of(compound: float) -> str:
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def score_text(analyzer, text: str) -> dict:
    """VADER's scores of `text` and the label its compound score gives."""
    scores = analyzer.polarity_scores(text)
    return {"label": label_of(scores["compound"]), "score": scores["compound"], "scores": scores}


@serve.deployment(logging_config=JSON_LOGS, health_check_period_s=10, health_check_timeout_s=30)
class Sentiment:
    def __init__(self, max_batch_size: int = 32, batch_wait_timeout_s: float = 0.005):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()
        self.score_batch.set_max_batch_size(max_batch_size)
        self.score_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)
        logger.info("sentiment ready", extra={"app": "sentiment", "max_batch_size": max_batch_size})

    def _score(self, text: str) -> dict:
        return score_text(self._analyzer, text)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def score_batch(self, texts: list[str]) -> list[dict]:
        return [self._score(text) for text in texts]

    async def score_all(self, texts: list[str]) -> list[dict]:
        import asyncio

        if len(texts) == 1:
            return [await self.score_batch(texts[0])]
        return list(await asyncio.gather(*(self.score_batch(text) for text in texts)))

    async def predict(self, doc: Any) -> dict:
        """The same answer as over HTTP, for DeploymentHandle callers; BadRequest for bad input."""
        texts, batched = sentiment_request(doc)
        results = await self.score_all(texts)
        return {"results": results} if batched else results[0]

    async def __call__(self, request: Request):
        return await answer_http(request, parse=parse_sentiment, predict=self.score_all, app="sentiment")

    def check_health(self) -> None:
        if self._score(_HEALTH_TEXT)["label"] != "positive":
            raise RuntimeError("the sentiment lexicon no longer scores a positive sentence as positive")


def app(args: dict) -> serve.Application:
    """The application builder Serve calls with the app's `args` (all optional)."""
    try:
        parsed = SentimentArgs.model_validate(args or {})
    except ValueError as err:
        raise ValueError(f"invalid args for serve_apps.sentiment:app: {err}") from None
    return Sentiment.bind(parsed.max_batch_size, parsed.batch_wait_timeout_s)
