"""The stack outputs `rayfleet status` reads: every region of every environment names the target group
its load balancer forwards to, so the view can ask AWS how many targets are healthy."""

from __future__ import annotations

import pytest

from stacks.outputs import parse_stack_outputs
from tests.fakes.environments import ENVIRONMENTS

ATTACHMENT = "aws:autoscaling/attachment:Attachment"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_region_exports_the_target_group_its_worker_asgs_are_attached_to(plans, env):
    plan = plans(env)
    outputs = parse_stack_outputs(plan.outputs, env, "plan")
    for region, found in outputs.regions.items():
        attached = {r.inputs["lbTargetGroupArn"] for r in plan.of_type(ATTACHMENT, region) if r.component == "ingress"}
        assert attached == {found.target_group_arn}
        assert found.target_group_arn.startswith(f"arn:aws:elasticloadbalancing:{region}:")
