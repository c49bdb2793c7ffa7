"""The environment's CloudWatch dashboard, rendered from the same alarm plans the alarms are made of.

    >>> from components.alarms.plan import Thresholds, ingress_alarms
    >>> t = Thresholds(error_rate_percent=5, latency_p99_seconds=2, evaluation_minutes=5)
    >>> body = dashboard_body("prod", {"us-east-1": ingress_alarms("prod", "us-east-1", "app/a/1", "tg/t/2", 1, t)})
    >>> [w["properties"].get("title") for w in body["widgets"]]
    [None, '5xx-ratio', 'p99-latency', 'healthy-targets']

One page per environment: a header per region, then one graph per alarm with
the alarm's threshold drawn on it, so every signal that can page someone is in
view, in the region its metric lives in. Takes resolved names (strings), never
Pulumi outputs. The body follows CloudWatch's dashboard body structure
(`widgets` of type `text` and `metric`, metric rows `[namespace, name,
dimension, value, ..., {options}]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.alarms.plan import AlarmPlan, Metric

#: The dashboard grid is 24 units wide; three graphs a row.
GRID_WIDTH = 24
WIDGET_WIDTH = 8
WIDGET_HEIGHT = 6
#: The id of an alarm's metric-math expression in its graph.
EXPRESSION_ID = "e1"


def dashboard_name(env: str) -> str:
    return f"rayfleet-{env}"


def dashboard_body(env: str, sections: Mapping[str, list[AlarmPlan]]) -> dict[str, Any]:
    """Per watched region (in the given order) a header and the graphs of its alarms."""
    widgets: list[dict[str, Any]] = []
    y = 0
    for region, alarms in sections.items():
        widgets.append(_header(env, region, y))
        y += 1
        for index, alarm in enumerate(alarms):
            column, row = index % (GRID_WIDTH // WIDGET_WIDTH), index // (GRID_WIDTH // WIDGET_WIDTH)
            widgets.append(alarm_widget(alarm, x=column * WIDGET_WIDTH, y=y + row * WIDGET_HEIGHT))
        y += -(-len(alarms) // (GRID_WIDTH // WIDGET_WIDTH)) * WIDGET_HEIGHT
    return {"widgets": widgets}


def _header(env: str, region: str, y: int) -> dict[str, Any]:
    return {
        "type": "text",
        "x": 0,
        "y": y,
        "width": GRID_WIDTH,
        "height": 1,
        "properties": {"markdown": f"## rayfleet {env}: {region}"},
    }


def alarm_widget(alarm: AlarmPlan, *, x: int, y: int) -> dict[str, Any]:
    """The graph of what `alarm` reads, in the alarm's region, with its threshold as a line."""
    hidden = alarm.expression is not None  # the inputs of a ratio are noise beside it
    rows: list[list[Any]] = [metric_row(metric, visible=not hidden) for metric in alarm.metrics]
    if alarm.expression is not None:
        rows.append([{"expression": alarm.expression, "id": EXPRESSION_ID, "label": alarm.what}])
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": WIDGET_WIDTH,
        "height": WIDGET_HEIGHT,
        "properties": {
            "title": alarm.what,
            "region": alarm.region,
            "view": "timeSeries",
            "period": alarm.period,
            "metrics": rows,
            "annotations": {"horizontal": [{"label": alarm.name, "value": alarm.threshold}]},
        },
    }


def metric_row(metric: Metric, *, visible: bool = True) -> list[Any]:
    """`[namespace, name, dimension, value, ..., {stat, id}]`, dimensions in a stable order."""
    row: list[Any] = [metric.namespace, metric.name]
    for key in sorted(metric.dimensions):
        row += [key, metric.dimensions[key]]
    options: dict[str, Any] = {"stat": metric.stat, "id": metric.id}
    if not visible:
        options["visible"] = False
    return [*row, options]
