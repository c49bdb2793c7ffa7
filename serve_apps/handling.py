"""What both model apps do with an HTTP request: parse, predict, answer 4xx for bad input, log as JSON.

    return await answer_http(request, parse=parse_digits, predict=self.predict_rows, app="digits")

Logs go to the `ray.serve` logger with structured fields (`extra=`), which
Serve writes as JSON when the deployment's `logging_config.encoding` is JSON
(the apps and the rendered config both set it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from serve_apps.inputs import BadRequest

logger = logging.getLogger("ray.serve")

#: Serve's per-deployment logging config for structured logs.
JSON_LOGS = {"encoding": "JSON"}


async def answer_http(
    request: Request,
    *,
    parse: Callable[[bytes], tuple[list, bool]],
    predict: Callable[[list], Awaitable[list[dict]]],
    app: str,
    many: str = "results",
) -> JSONResponse:
    """Answer one request: 405 for non-POST, 400 naming the problem for bad input, else the prediction."""
    started = time.perf_counter()
    if request.method != "POST":
        return _reject(app, 405, f"use POST with a JSON body (got {request.method})", headers={"Allow": "POST"})
    try:
        items, batched = parse(await request.body())
    except BadRequest as err:
        return _reject(app, 400, str(err))
    results = await predict(items)
    body: Any = {many: results} if batched else results[0]
    # DEBUG: Serve's access log already has one INFO line per request; this adds the item count and timing.
    logger.debug(
        "answered",
        extra={"app": app, "items": len(items), "latency_ms": round((time.perf_counter() - started) * 1000, 2)},
    )
    return JSONResponse(body)


def _reject(app: str, status: int, message: str, headers: dict | None = None) -> JSONResponse:
    logger.info("rejected", extra={"app": app, "status": status, "problem": message})
    return JSONResponse({"error": message}, status_code=status, headers=headers)
