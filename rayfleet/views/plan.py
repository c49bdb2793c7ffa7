"""The plan as a tree: region -> component -> resource type -> resources, with counts.

    console.print(plan_tree(run_plan("prod")))
"""

from __future__ import annotations

from collections import defaultdict

from rich.text import Text
from rich.tree import Tree

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
    regions = plan.regions
    root = Tree(
        Text(f"{plan.env}: ", style="bold")
        + Text(f"{len(plan.resources)} resources in {len(regions)} region{'s' * (len(regions) != 1)}")
        + Text("  (the Pulumi program run under mocks; nothing was created)", style="muted")
    )
    for region in regions:
        in_region = plan.in_region(region)
        branch = root.add(Text(region, style="region") + Text(f"  {len(in_region)}", style="muted"))
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
            by_type: dict[str, list[str]] = defaultdict(list)
            for resource in members:
                by_type[resource.type].append(resource.name)
            for type_token in sorted(by_type):
                names = sorted(by_type[type_token])
                node.add(
                    Text(f"{short_type(type_token)} ×{len(names)}  ")
                    + Text(", ".join(_trim(n, component_name) for n in names), style="muted")
                )
    return root


def _trim(name: str, component_name: str) -> str:
    """Drop the component's own name from a child's name: 'network-us-east-1-vpc' -> 'vpc'."""
    prefix = component_name + "-"
    return name[len(prefix):] if name.startswith(prefix) else name
