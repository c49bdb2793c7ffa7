"""Every `--json` report writes its decimals as plain numbers: exact, positional, never `0E-29`."""

from __future__ import annotations

import json
import re
from decimal import Decimal as D
from pathlib import Path

import pytest

from cost.actuals import BudgetStatus, CostReport, DailyCost
from cost.allocation import SYSTEM
from cost.decimals import decimal_text
from cost.ray_state import Snapshot
from rayfleet.output import print_json
from tests.fakes.cost import run

FIXTURES = Path(__file__).parent / "fixtures"
PLAIN = re.compile(r"^-?\d+(\.\d+)?$")
LOOKS_NUMERIC = re.compile(r"^-?[\d.]+([eE][-+]?\d+)?$")


def numeric_strings(value):
    """Every string in a JSON document that a script would read as a number."""
    if isinstance(value, dict):
        for item in value.values():
            yield from numeric_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from numeric_strings(item)
    elif isinstance(value, str) and LOOKS_NUMERIC.match(value):
        yield value


@pytest.mark.parametrize(
    ("value", "text"),
    [("0E-29", "0"), ("0E+30", "0"), ("1.5E+3", "1500"), ("-3.40E-10", "-0.00000000034"), ("140.160", "140.160")],
)
def test_decimal_text_is_exact_and_positional(value, text):
    assert decimal_text(D(value)) == text
    assert D(text) == D(value)


@pytest.mark.parametrize("fixture", ["ray_single_node.json", "ray_two_nodes.json"])
@pytest.mark.parametrize("head_is_system", [False, True])
def test_allocation_json_writes_plain_numbers(fixture, head_is_system):
    snap = Snapshot.from_json(json.loads((FIXTURES / fixture).read_text()))
    data = run(snap, head_is_system=head_is_system).to_json()
    found = list(numeric_strings(data))
    assert found
    assert [text for text in found if not PLAIN.match(text)] == []


def test_allocation_json_writes_a_share_that_cost_nothing_as_zero():
    snap = Snapshot.from_json(json.loads((FIXTURES / "ray_single_node.json").read_text()))
    system = next(s for s in run(snap).to_json()["shares"] if s["name"] == SYSTEM)
    assert (system["cost"], system["share"]) == ("0", "0")
    assert {d["cost"] for d in system["deployments"]} <= {"0"}


def test_cost_report_json_writes_cost_explorers_zero_amounts_as_zero():
    # Cost Explorer answers "0.0000000000" for a day without spend, which Decimal keeps as 0E-10.
    zero = D("0.0000000000")
    report = CostReport("dev", "rayfleet:component", "2026-01-01", "2026-01-02",
                        [DailyCost("2026-01-01", zero, {"network": zero})],
                        budget=BudgetStatus("b", D(600), zero, None))
    data = report.to_json()
    assert (data["total"], data["byGroup"], data["daily"][0]["total"]) == ("0", {"network": "0"}, "0")
    assert (data["budget"]["actual"], data["budget"]["usedPercent"]) == ("0", "0.0")


def test_print_json_writes_a_bare_decimal_plainly(capsys):
    print_json({"cost": D("0E-29"), "rate": D("2.5E-7")})
    assert json.loads(capsys.readouterr().out) == {"cost": "0", "rate": "0.00000025"}
