"""The Ray cluster of every region of every environment, under mocks: ASGs, templates, roles, Redis, outputs."""

from __future__ import annotations

import json

import pytest

from components.contract import (
    CLUSTER_KEY,
    COMPONENT_KEY,
    DRAIN_HOOK,
    ENV_KEY,
    HEAD_NODE_TYPE,
    MARKET_KEY,
    NODE_TYPE_KEY,
    Market,
)
from components.node_groups import ROOT_VOLUME_TYPE
from stacks.loader import load_environment
from tests.fakes.environments import ENVIRONMENTS
from tests.fakes.node_boots import template_script

ASG = "aws:autoscaling/group:Group"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

REGIONS = [(env, r) for env in ENVIRONMENTS for r in load_environment(env).region_names]


def _asg_tags(asg) -> dict[str, str]:
    return {t["key"]: t["value"] for t in asg.inputs["tags"]}


def _asgs(plan, region):
    return {(_asg_tags(a)[NODE_TYPE_KEY], Market(_asg_tags(a)[MARKET_KEY])): a for a in plan.of_type(ASG, region)}


def _user_data(template) -> str:
    return template_script(template)


@pytest.mark.parametrize("env, region", REGIONS)
def test_head_asg_is_one_on_demand_node_across_the_private_subnets(plans, env, region):
    plan = plans(env)
    head = _asgs(plan, region)[(HEAD_NODE_TYPE, Market.ON_DEMAND)]
    inputs = head.inputs
    assert (inputs["minSize"], inputs["maxSize"], inputs["desiredCapacity"]) == (1, 1, 1)
    assert inputs["vpcZoneIdentifiers"] == plan.outputs["regions"][region]["privateSubnetIds"]
    assert inputs["name"] == f"rayfleet-{env}-{region}-head"
    # A new template replaces the head, old one first: two heads must never share the GCS store.
    assert inputs["instanceRefresh"]["preferences"]["maxHealthyPercentage"] == 100
    assert inputs["instanceRefresh"]["preferences"]["minHealthyPercentage"] == 0


@pytest.mark.parametrize("env, region", REGIONS)
def test_each_worker_group_has_a_spot_asg_and_an_on_demand_twin(plans, env, region):
    cfg = load_environment(env)
    asgs = _asgs(plans(env), region)
    assert set(asgs) == {(HEAD_NODE_TYPE, Market.ON_DEMAND)} | {
        (g.name, market) for g in cfg.cluster.worker_groups for market in Market
    }
    for group in cfg.cluster.worker_groups:
        spot, twin = asgs[(group.name, Market.SPOT)].inputs, asgs[(group.name, Market.ON_DEMAND)].inputs
        distribution = spot["mixedInstancesPolicy"]["instancesDistribution"]
        assert distribution["spotAllocationStrategy"] == group.spot.allocation_strategy
        assert distribution["onDemandBaseCapacity"] == group.spot.on_demand_base
        assert distribution["onDemandPercentageAboveBaseCapacity"] == group.spot.on_demand_percent_above_base
        assert spot["capacityRebalance"] is True
        assert (spot["minSize"], spot["maxSize"]) == (group.min_workers, group.max_workers)
        assert twin["mixedInstancesPolicy"]["instancesDistribution"]["onDemandPercentageAboveBaseCapacity"] == 100
        assert (twin["minSize"], twin["maxSize"]) == (0, group.max_workers)
        for inputs in (spot, twin):
            template = inputs["mixedInstancesPolicy"]["launchTemplate"]
            assert [o["instanceType"] for o in template["overrides"]] == group.instance_types
        assert (
            spot["mixedInstancesPolicy"]["launchTemplate"]["launchTemplateSpecification"]
            == twin["mixedInstancesPolicy"]["launchTemplate"]["launchTemplateSpecification"]
        )


def test_group_with_spot_disabled_has_only_its_on_demand_asg(tmp_path):
    from stacks.plan import run_plan
    from tests.fakes.environments import stack_config, write_stack

    config = stack_config("dev")
    config["rayfleet:cluster"]["workerGroups"][0]["spot"] = {"enabled": False}
    config["rayfleet:cluster"]["workerGroups"][0]["minWorkers"] = 1
    plan = run_plan(path=write_stack(tmp_path, config))
    asgs = _asgs(plan, "us-west-2")
    assert set(asgs) == {(HEAD_NODE_TYPE, Market.ON_DEMAND), ("cpu", Market.ON_DEMAND)}
    assert asgs[("cpu", Market.ON_DEMAND)].inputs["minSize"] == 1
    assert asgs[("cpu", Market.ON_DEMAND)].inputs["capacityRebalance"] is False
    assert plan.outputs["regions"]["us-west-2"]["workerAsgs"] == {
        "cpu": {Market.ON_DEMAND.value: "rayfleet-test-us-west-2-cpu-on-demand"}
    }


@pytest.mark.parametrize("env, region", REGIONS)
def test_every_worker_asg_has_the_drain_hook(plans, env, region):
    for (node_type, _), asg in _asgs(plans(env), region).items():
        hooks = asg.inputs.get("initialLifecycleHooks", [])
        if node_type == HEAD_NODE_TYPE:
            assert hooks == []
            continue
        assert hooks == [
            {
                "name": DRAIN_HOOK,
                "lifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
                "heartbeatTimeout": 300,
                "defaultResult": "CONTINUE",
            }
        ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_asg_tags_follow_the_contract_and_propagate_at_launch(plans, env):
    cfg = load_environment(env)
    for asg in plans(env).of_type(ASG):
        tags = _asg_tags(asg)
        assert all(t["propagateAtLaunch"] is True for t in asg.inputs["tags"])
        assert tags[CLUSTER_KEY] == cfg.cluster_id(asg.region)
        assert tags[MARKET_KEY] in {m.value for m in Market}
        assert tags[ENV_KEY] == env and tags[COMPONENT_KEY] == "cluster"
        assert {k: tags[k] for k in cfg.cost.tags} == cfg.cost.tags


def test_pulumi_leaves_desired_capacity_to_rays_autoscaler(plans):
    ignored = {r.name: list(r.ignoreChanges) for r in plans.registrations("staging") if r.type == ASG}
    assert len(ignored) == 5
    assert all(changes == ["desiredCapacity"] for changes in ignored.values())


@pytest.mark.parametrize("env, region", REGIONS)
def test_launch_templates_take_types_volumes_and_image_from_config(plans, env, region):
    cfg = load_environment(env)
    templates = {t.inputs["tagSpecifications"][0]["tags"][NODE_TYPE_KEY]: t.inputs for t in plans(env).of_type(TEMPLATE, region)}
    assert set(templates) == {HEAD_NODE_TYPE} | {g.name for g in cfg.cluster.worker_groups}
    head = templates[HEAD_NODE_TYPE]
    assert head["instanceType"] == cfg.cluster.head.instance_type
    assert head["blockDeviceMappings"][0]["ebs"]["volumeSize"] == cfg.cluster.head.root_volume_gb
    for group in cfg.cluster.worker_groups:
        inputs = templates[group.name]
        assert inputs["instanceType"] == group.instance_types[0]
        assert inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == group.root_volume_gb
        assert inputs["blockDeviceMappings"][0]["ebs"]["volumeType"] == ROOT_VOLUME_TYPE
    # The default image is resolved per region from the public SSM parameter (mocked: ami-<digest>).
    assert all(t["imageId"].startswith("ami-") for t in templates.values())
    for inputs in templates.values():
        kinds = [spec["resourceType"] for spec in inputs["tagSpecifications"]]
        assert kinds == ["instance", "volume"]


def test_fixed_ami_in_config_is_used_as_is(tmp_path):
    from stacks.plan import run_plan
    from tests.fakes.environments import stack_config, write_stack

    config = stack_config("dev")
    config["rayfleet:cluster"]["image"] = {"ami": "ami-0123456789abcdef0"}
    plan = run_plan(path=write_stack(tmp_path, config))
    assert {t.inputs["imageId"] for t in plan.of_type(TEMPLATE)} == {"ami-0123456789abcdef0"}


def test_a_worker_groups_own_image_is_used_for_its_template_only(tmp_path):
    from stacks.plan import run_plan
    from tests.fakes.environments import stack_config, write_stack

    config = stack_config("dev")
    config["rayfleet:cluster"]["workerGroups"][0]["image"] = {"ami": "ami-0123456789abcdef0"}
    plan = run_plan(path=write_stack(tmp_path, config))
    images = {t.inputs["tagSpecifications"][0]["tags"][NODE_TYPE_KEY]: t.inputs["imageId"] for t in plan.of_type(TEMPLATE)}
    assert images["cpu"] == "ami-0123456789abcdef0"
    assert images[HEAD_NODE_TYPE].startswith("ami-") and images[HEAD_NODE_TYPE] != images["cpu"]  # the SSM parameter's


@pytest.mark.parametrize("env, region", REGIONS)
def test_user_data_starts_the_right_ray_on_each_node_type(plans, env, region):
    plan = plans(env)
    outputs = plan.outputs["regions"][region]
    for template in plan.of_type(TEMPLATE, region):
        script = _user_data(template)
        node_type = template.inputs["tagSpecifications"][0]["tags"][NODE_TYPE_KEY]
        assert f'get_object(Bucket="{outputs["artifactBucket"]}"' in script
        assert json.dumps(outputs["dashboardTokenSecretArn"]) in script
        if node_type == HEAD_NODE_TYPE:
            assert "ray start --head" in script
            assert f"cluster_name: rayfleet-{env}-{region}\n" in script
        else:
            assert f"--address={outputs['headAddress']}:6379" in script
            assert "components.node_agents.spot_watcher --region " + region in script


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_redis_exists_exactly_when_head_fault_tolerance_is_on(plans, env):
    cfg = load_environment(env)
    plan = plans(env)
    for region in cfg.region_names:
        groups = plan.of_type(REDIS, region)
        head_script = _user_data(next(t for t in plan.of_type(TEMPLATE, region) if "ray start --head" in _user_data(t)))
        if not cfg.cluster.head_fault_tolerance:
            assert groups == [] and "RAY_REDIS_ADDRESS" not in head_script
            continue
        (group,) = groups
        inputs = group.inputs
        assert inputs["atRestEncryptionEnabled"] is True and inputs["transitEncryptionEnabled"] is True
        assert inputs["numCacheClusters"] == 1 + cfg.cluster.redis.replicas
        assert inputs["nodeType"] == cfg.cluster.redis.node_type
        assert inputs["authToken"]  # from the password generator, held as a Pulumi secret
        assert "RAY_REDIS_ADDRESS=rediss://master." in head_script


@pytest.mark.parametrize("env, region", REGIONS)
def test_region_outputs_name_what_the_deployer_needs(plans, env, region):
    cfg = load_environment(env)
    out = plans(env).outputs["regions"][region]
    cluster = f"rayfleet-{env}-{region}"
    assert out["clusterName"] == cluster
    assert out["headAsgName"] == f"{cluster}-head"
    # One spelling of the market: the keys are the Market values, as in the ASGs' names and tags.
    assert out["workerAsgs"] == {
        g.name: {
            Market.SPOT.value: f"{cluster}-{g.name}-spot",
            Market.ON_DEMAND.value: f"{cluster}-{g.name}-on-demand",
        }
        for g in cfg.cluster.worker_groups
    }
    assert out["headAddress"] == f"head.{cluster}.rayfleet.internal"
    assert out["dashboardUrl"] == f"http://head.{cluster}.rayfleet.internal:8265"
    assert out["dashboardTokenSecretArn"].startswith(f"arn:aws:secretsmanager:{region}:")
    assert out["nodeSecurityGroupId"].startswith("sg-")
    assert out["artifactBucket"].startswith(cluster)


@pytest.mark.parametrize("env, region", REGIONS)
def test_head_address_lives_in_a_private_zone_of_the_regions_vpc(plans, env, region):
    plan = plans(env)
    (zone,) = plan.of_type("aws:route53/zone:Zone", region)
    assert zone.inputs["name"] == f"rayfleet-{env}-{region}.rayfleet.internal"
    assert zone.inputs["vpcs"] == [{"vpcId": plan.outputs["regions"][region]["vpcId"], "vpcRegion": region}]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dashboard_token_secret_has_no_value_in_pulumi(plans, env):
    plan = plans(env)
    tokens = [s for s in plan.of_type("aws:secretsmanager/secret:Secret") if s.name.endswith("-dashboard-token")]
    regions = load_environment(env).region_names
    assert len(tokens) == len(regions)
    versions = plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    redis_secrets = {s.id for s in plan.of_type("aws:secretsmanager/secret:Secret") if s.name.endswith("-redis-auth")}
    # The only values Pulumi writes are Redis auth tokens; the dashboard token is the head's to create.
    assert {v.inputs["secretId"] for v in versions} == redis_secrets
    assert len(redis_secrets) == (len(regions) if load_environment(env).cluster.head_fault_tolerance else 0)


@pytest.mark.parametrize("env, region", REGIONS)
def test_serve_port_is_open_to_the_ingress_load_balancer_only(plans, env, region):
    plan = plans(env)
    serve_rules = [r for r in plan.of_type(INGRESS, region) if r.inputs.get("fromPort") == 8000]
    (rule,) = serve_rules
    (alb_sg,) = [g for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup", region) if g.component == "ingress"]
    assert rule.name == f"cluster-{region}-serve-from-ingress"
    assert rule.inputs["referencedSecurityGroupId"] == alb_sg.id
    assert rule.inputs["securityGroupId"] == plan.outputs["regions"][region]["nodeSecurityGroupId"]
    assert (rule.inputs["toPort"], rule.inputs["ipProtocol"], rule.component) == (8000, "tcp", "cluster")
