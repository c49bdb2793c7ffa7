"""The emulated region of every environment holds exactly what its plan says the primary region needs at boot."""

from __future__ import annotations


import boto3
import psutil
import pytest

from components.contract import DRAIN_HOOK
from components.errors import RayfleetError
from components.drills.emulate.control_plane import create_control_plane
from components.drills.emulate.moto_server import moto_server
from components.drills.emulate.plane import BUCKET, BUCKET_OBJECT, GROUP, LAUNCH_TEMPLATE, SECRET, ZONE
from serve_apps.emulated_region import serve_packages
from stacks.loader import environment_file, load_file
from tests.fakes.node_boots import template_script, unpack_user_data

# A moto_server process and each environment's full offline plan.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["dev", "staging", "prod"])
def region(request, plans):
    """One environment's plan, its emulated primary region, and boto3 clients on it, while its moto server runs."""
    env = request.param
    plan = plans(env)
    cfg = load_file(environment_file(env))
    name = cfg.primary_region.name
    packages = serve_packages(cfg)
    with moto_server() as server:
        plane = create_control_plane(plan.resources, name, server, packages=packages)

        def client(service: str):
            return boto3.client(service, **server.client_args(name))

        yield {"plan": plan, "region": name, "plane": plane, "client": client, "packages": packages}


def planned(region, type_token):
    return region["plan"].of_type(type_token, region["region"])


def test_launch_templates_are_the_planned_ones_with_their_user_data_byte_equal(region):
    ec2 = region["client"]("ec2")
    templates = planned(region, LAUNCH_TEMPLATE)
    assert len(ec2.describe_launch_templates()["LaunchTemplates"]) == len(templates) > 0
    for template in templates:
        emulated_id = region["plane"].ids.ids[template.id]
        version = ec2.describe_launch_template_versions(LaunchTemplateId=emulated_id)["LaunchTemplateVersions"][0]
        data = version["LaunchTemplateData"]
        assert data["UserData"] == template.inputs["userData"]
        assert unpack_user_data(data["UserData"]) == template_script(template)
        assert data["InstanceType"] == template.inputs["instanceType"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        # What instances and volumes get (moto also lists the template's own tags here; AWS does not).
        launched = {s["ResourceType"]: {t["Key"]: t["Value"] for t in s["Tags"]}
                    for s in data["TagSpecifications"] if s["ResourceType"] != "launch-template"}
        assert launched == {s["resourceType"]: s["tags"] for s in template.inputs["tagSpecifications"]}


def test_groups_have_the_planned_sizes_policies_tags_and_drain_hook(region):
    autoscaling = region["client"]("autoscaling")
    ids = region["plane"].ids
    groups = {g["AutoScalingGroupName"]: g for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]}
    plan_groups = planned(region, GROUP)
    assert sorted(groups) == sorted(g.inputs["name"] for g in plan_groups)
    for group in plan_groups:
        inputs, found = group.inputs, groups[group.inputs["name"]]
        sizes = (found["MinSize"], found["MaxSize"], found["DesiredCapacity"])
        assert sizes == (int(inputs["minSize"]), int(inputs["maxSize"]), int(inputs["desiredCapacity"]))
        tags = {(t["Key"], t["Value"], t["PropagateAtLaunch"]) for t in found["Tags"]}
        assert tags == {(t["key"], t["value"], t["propagateAtLaunch"]) for t in inputs["tags"]}
        assert [p["ProcessName"] for p in found["SuspendedProcesses"]] == inputs.get("suspendedProcesses", [])
        hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=found["AutoScalingGroupName"])
        assert [(h["LifecycleHookName"], h["LifecycleTransition"], h["HeartbeatTimeout"], h["DefaultResult"])
                for h in hooks["LifecycleHooks"]] == [
            (h["name"], h["lifecycleTransition"], int(h["heartbeatTimeout"]), h["defaultResult"])
            for h in inputs.get("initialLifecycleHooks", [])
        ]
        if "mixedInstancesPolicy" not in inputs:  # the head's group: one node, never drained by the autoscaler
            assert found["LaunchTemplate"]["LaunchTemplateId"] == ids.ids[inputs["launchTemplate"]["id"]]
            continue
        # Workers leave through the drain hook.
        assert DRAIN_HOOK in [h["LifecycleHookName"] for h in hooks["LifecycleHooks"]]
        policy, emulated = inputs["mixedInstancesPolicy"], found["MixedInstancesPolicy"]
        spec = emulated["LaunchTemplate"]["LaunchTemplateSpecification"]
        # The plan's mock template ID is replaced by the one moto gave the template.
        assert spec["LaunchTemplateId"] == ids.ids[policy["launchTemplate"]["launchTemplateSpecification"]["launchTemplateId"]]
        assert spec["LaunchTemplateId"] != policy["launchTemplate"]["launchTemplateSpecification"]["launchTemplateId"]
        assert [o["InstanceType"] for o in emulated["LaunchTemplate"]["Overrides"]] == [
            o["instanceType"] for o in policy["launchTemplate"]["overrides"]
        ]
        distribution = emulated["InstancesDistribution"]
        for key, value in policy["instancesDistribution"].items():
            assert distribution[key[0].upper() + key[1:]] == (int(value) if isinstance(value, float) else value)


def test_bucket_holds_the_node_agent_the_user_data_fetches_and_the_serve_code_packages(region):
    s3 = region["client"]("s3")
    (bucket,) = planned(region, BUCKET)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [bucket.id]
    (agent,) = planned(region, BUCKET_OBJECT)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket.id)["Contents"])
    assert keys == sorted([agent.inputs["key"], *(key for _, key in region["packages"])])
    with open(agent.inputs["source"].path, "rb") as handle:
        assert s3.get_object(Bucket=bucket.id, Key=agent.inputs["key"])["Body"].read() == handle.read()
    for template in planned(region, LAUNCH_TEMPLATE):
        assert f'Bucket="{bucket.id}", Key="{agent.inputs["key"]}"' in template_script(template)
    for data, key in region["packages"]:
        assert s3.get_object(Bucket=bucket.id, Key=key)["Body"].read() == data


def test_secrets_and_private_zone_are_the_planned_ones(region):
    secrets = region["client"]("secretsmanager").list_secrets()["SecretList"]
    plan_secrets = planned(region, SECRET)
    assert sorted(s["Name"] for s in secrets) == sorted(s.id for s in plan_secrets)
    assert any("dashboard-token" in s["Name"] for s in secrets)
    for secret in plan_secrets:
        (found,) = [s for s in secrets if s["Name"] == secret.id]
        assert found["Description"] == secret.inputs["description"]
        assert {t["Key"]: t["Value"] for t in found["Tags"]} == secret.inputs["tags"]
    route53 = region["client"]("route53")
    (zone,) = planned(region, ZONE)
    (found,) = route53.list_hosted_zones()["HostedZones"]
    assert (found["Name"], found["Config"]["PrivateZone"]) == (zone.inputs["name"] + ".", True)
    vpcs = route53.get_hosted_zone(Id=found["Id"])["VPCs"]
    assert [v["VPCId"] for v in vpcs] == [region["plane"].ids.ids[zone.inputs["vpcs"][0]["vpcId"]]]
    assert region["plane"].ids.ids[zone.id] == found["Id"]


def test_moto_server_is_stopped_when_the_work_in_it_fails():
    with pytest.raises(RayfleetError) as raised:
        with moto_server() as server:
            pid = server.pid
            create_control_plane([_group_without_template()], "us-east-1", server)
    assert str(raised.value) == (
        "the planned group orphan names launch template lt-0123456789abcdef0, which the emulated control plane did "
        "not create (the template is not in the plan's region, or not among its dependencies). "
        "Fix: plan the group and its launch template in the same region"
    )
    assert not psutil.pid_exists(pid)


def _group_without_template():
    """A planned group whose launch template was never created: the emulation cannot name its version."""
    from types import SimpleNamespace

    inputs = {"name": "orphan", "minSize": 0.0, "maxSize": 1.0, "desiredCapacity": 0.0,
              "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "1"}}
    return SimpleNamespace(type=GROUP, name="orphan", urn="urn:orphan", id="orphan", region="us-east-1",
                           inputs=inputs, dependencies=())
