"""The plan as a tree: region -> component -> resource type -> resources, with counts.

    console.print(plan_tree(run_plan("prod")))
"""

from __future__ import annotations

from collections import defaultdict

from rich.text import Text
from rich.tree import Tree

from stacks.mocks import GLOBAL
from stacks.plan import Plan, PlannedResource


def short_type(type_token: str) -> str:
    """'aws:ec2/subnet:Subnet' -> 'ec2.Subnet'; 'pulumi:providers:aws' -> 'provider.aws'."""
    if type_token.startswith("pulumi:providers:"):
        return "provider." + type_token.rsplit(":", 1)[-1]
    parts = type_token.split(":")
    if len(parts) == 3:
        return f"{parts[1].split('/')[0]}.{parts[2]}"
    return type_token


def plan_tree(plan: Plan) -> Tree:
    # Account-wide resources (Route 53, budgets) sit in `global`, shown after the AWS regions.
    regions = [r for r in plan.regions if r != GLOBAL]
    account_wide = [GLOBAL] if GLOBAL in plan.regions else []
    root = Tree(
        Text(f"{plan.env}: ", style="bold")
        + Text(f"{len(plan.resources)} resources in {len(regions)} region{'s' * (len(regions) != 1)}")
        + Text(" and account-wide" if account_wide else "")
        + Text("  (the Pulumi program run under mocks; nothing was created)", style="muted")
    )
    for region in regions + account_wide:
        in_region = plan.in_region(region)
        label = "global (account-wide)" if region == GLOBAL else region
        branch = root.add(Text(label, style="region") + Text(f"  {len(in_region)}", style="muted"))
        by_component: dict[str, list[PlannedResource]] = defaultdict(list)
        for resource in in_region:
            by_component[resource.component_name].append(resource)
        for component_name in sorted(by_component, key=lambda c: (c == "stack", c)):
            members = by_component[component_name]
            label = members[0].component
            title = Text(label, style="component")
            if component_name not in (label, "stack"):
                title += Text(f" ({component_name})", style="muted")
            node = branch.add(title + Text(f"  {len(members)}", style="muted"))
            by_type: dict[str, list[PlannedResource]] = defaultdict(list)
            for resource in members:
                by_type[resource.type].append(resource)
            for type_token in sorted(by_type):
                named = sorted(by_type[type_token], key=lambda r: r.name)
                node.add(
                    Text(f"{short_type(type_token)} ×{len(named)}  ")
                    + Text(", ".join(_label(r, component_name) for r in named), style="muted")
                )
    return root


def _label(resource: PlannedResource, component_name: str) -> str:
    name = _trim(resource.name, component_name)
    detail = _detail(resource)
    return f"{name} [{detail}]" if detail else name


def _detail(resource: PlannedResource) -> str | None:
    """The one fact that says what a serving resource does (its port, check, routing role)."""
    inputs = resource.inputs
    if resource.type == "aws:lb/listener:Listener":
        actions = "+".join(a["type"] for a in inputs.get("defaultActions", []))
        return f"{inputs.get('protocol')}:{_num(inputs.get('port'))} {actions}"
    if resource.type == "aws:lb/targetGroup:TargetGroup":
        check = inputs.get("healthCheck", {})
        return f"{inputs.get('protocol')}:{_num(inputs.get('port'))}, checks {check.get('path')}"
    if resource.type == "aws:route53/healthCheck:HealthCheck":
        return (
            f"{inputs.get('type')} {inputs.get('resourcePath')} every {_num(inputs.get('requestInterval'))} s, "
            f"fails after {_num(inputs.get('failureThreshold'))}"
        )
    if resource.type == "aws:route53/record:Record" and inputs.get("setIdentifier"):
        failover = inputs.get("failoverRoutingPolicies") or []
        routing = failover[0]["type"] if failover else "latency"
        return f"{routing}, {'with' if inputs.get('healthCheckId') else 'without'} health check"
    if resource.type == "aws:s3/bucketReplicationConfig:BucketReplicationConfig":
        return ", ".join(rule["id"] for rule in inputs.get("rules", []))
    return None


def _num(value) -> str:
    """Mocks hand numbers back as floats: 443.0 -> '443'."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _trim(name: str, component_name: str) -> str:
    """Drop the component's own name from a child's name: 'network-us-east-1-vpc' -> 'vpc'."""
    prefix = component_name + "-"
    return name[len(prefix):] if name.startswith(prefix) else name
