"""Each region's Serve ingress under mocks: ALB, listeners, target group, ASG attachments, security group rules."""

from __future__ import annotations

import pytest

from components.serve_ingress import plan as ingress_plan
from stacks.loader import load_environment
from stacks.plan import run_plan
from tests.fakes.serving import node_security_group_id, worker_asg_names
from tests.fakes.environments import ENVIRONMENTS, stack_config, write_stack

ALB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
ATTACHMENT = "aws:autoscaling/attachment:Attachment"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
CERTIFICATE = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"

REGIONS = [(env, region) for env in ENVIRONMENTS for region in load_environment(env).region_names]


def _ingress(plan, type_token, region):
    return [r for r in plan.of_type(type_token, region) if r.component == "ingress"]


def _one(resources):
    assert len(resources) == 1, [r.name for r in resources]
    return resources[0]


@pytest.mark.parametrize("env, region", REGIONS)
def test_region_has_one_internet_facing_alb_in_its_public_subnets(plans, env, region):
    plan = plans(env)
    alb = _one(_ingress(plan, ALB, region))
    assert alb.inputs["internal"] is False
    assert alb.inputs["loadBalancerType"] == "application"
    assert alb.inputs["subnets"] == plan.outputs["regions"][region]["publicSubnetIds"]
    alb_sg = _one(_ingress(plan, SG, region))
    assert alb.inputs["securityGroups"] == [alb_sg.id]
    assert alb.inputs["idleTimeout"] == ingress_plan.ALB_IDLE_TIMEOUT_SECONDS
    assert alb.inputs["dropInvalidHeaderFields"] is True
    assert plan.outputs["regions"][region]["loadBalancerDnsName"].endswith(f".{region}.elb.amazonaws.com")


@pytest.mark.parametrize("env, region", REGIONS)
def test_target_group_checks_serve_healthz_on_8000_and_outlasts_the_proxy_drain(plans, env, region):
    plan = plans(env)
    group = _one(_ingress(plan, TARGET_GROUP, region)).inputs
    assert (group["port"], group["protocol"], group["targetType"]) == (8000, "HTTP", "instance")
    assert group["vpcId"] == plan.outputs["regions"][region]["vpcId"]
    check = group["healthCheck"]
    assert (check["path"], check["port"], check["matcher"]) == ("/-/healthz", "traffic-port", "200")
    assert group["deregistrationDelay"] > ingress_plan.SERVE_PROXY_MIN_DRAIN_SECONDS
    assert group["deregistrationDelay"] >= 30 + check["unhealthyThreshold"] * check["interval"]


@pytest.mark.parametrize("env, region", REGIONS)
def test_every_worker_asg_and_not_the_head_is_attached_to_the_target_group(plans, env, region):
    plan = plans(env)
    group = _one(_ingress(plan, TARGET_GROUP, region))
    attachments = _ingress(plan, ATTACHMENT, region)
    attached = {a.inputs["autoscalingGroupName"] for a in attachments}
    assert attached == worker_asg_names(plan, region)
    # The head runs no replicas, and its proxy answers /-/healthz with 200 even when none runs anywhere.
    assert plan.outputs["regions"][region]["headAsgName"] not in attached
    assert {a.inputs["lbTargetGroupArn"] for a in attachments} == {_target_group_arn(plan, group)}


def _target_group_arn(plan, group):
    (forwarding,) = {
        action["targetGroupArn"]
        for listener in plan.of_type(LISTENER, group.region)
        for action in listener.inputs["defaultActions"]
        if action["type"] == "forward"
    }
    assert f"targetgroup/{group.id}/" in forwarding
    return forwarding


@pytest.mark.parametrize("env, region", [(e, r) for e, r in REGIONS if e == "prod"])
def test_https_listener_uses_the_validated_certificate_and_http_redirects(plans, env, region):
    plan = plans(env)
    listeners = {listener.inputs["port"]: listener.inputs for listener in _ingress(plan, LISTENER, region)}
    assert sorted(listeners) == [80, 443]
    https = listeners[443]
    assert https["protocol"] == "HTTPS"
    assert https["sslPolicy"] == ingress_plan.SSL_POLICY
    certificate = _one(_ingress(plan, CERTIFICATE, region))
    assert certificate.inputs["domainName"] == "api.example.com"
    assert https["certificateArn"] == _one(_ingress(plan, VALIDATION, region)).inputs["certificateArn"]
    assert https["certificateArn"].startswith(f"arn:aws:acm:{region}:")
    assert [a["type"] for a in https["defaultActions"]] == ["forward"]
    (redirect,) = listeners[80]["defaultActions"]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"] == {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}


def test_one_validation_record_proves_the_domain_for_every_region(plans):
    plan = plans("prod")
    records = [r for r in plan.of_type(RECORD) if r.component == "ingress"]
    record = _one(records)
    assert record.region == "global"
    assert record.inputs["type"] == "CNAME" and record.inputs["allowOverwrite"] is True
    assert record.inputs["zoneId"] == plan.outputs["failover"]["hostedZoneId"]
    fqdn = record.inputs["name"].rstrip(".")
    for region in ("us-east-1", "us-west-2"):
        assert _one(_ingress(plan, VALIDATION, region)).inputs["validationRecordFqdns"] == [fqdn]


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_environment_without_domain_or_certificate_serves_plain_http(plans, env):
    plan = plans(env)
    for region in load_environment(env).region_names:
        (listener,) = _ingress(plan, LISTENER, region)
        assert (listener.inputs["port"], listener.inputs["protocol"]) == (80, "HTTP")
        assert [a["type"] for a in listener.inputs["defaultActions"]] == ["forward"]
        assert plan.outputs["regions"][region]["tls"] == "none"
        world = [r for r in _ingress(plan, INGRESS_RULE, region) if r.inputs.get("cidrIpv4") == "0.0.0.0/0"]
        assert [r.inputs["fromPort"] for r in world] == [80]
    assert not plan.of_type(CERTIFICATE)


def test_configured_certificate_is_used_as_is(tmp_path):
    config = stack_config("staging")
    config["rayfleet:ingress"] = {"certificateArns": {"us-east-1": CERT_ARN}}
    plan = run_plan(path=write_stack(tmp_path, config, env="staging"))
    https = [r for r in plan.of_type(LISTENER) if r.inputs["port"] == 443]
    assert [r.inputs["certificateArn"] for r in https] == [CERT_ARN]
    # No certificate, so no validation record (the cluster's private-zone SOA is not the ingress's).
    assert not plan.of_type(CERTIFICATE) and not [r for r in plan.of_type(RECORD) if r.component == "ingress"]
    assert plan.outputs["regions"]["us-east-1"]["tls"] == "configured"


@pytest.mark.parametrize("env, region", REGIONS)
def test_world_reaches_only_the_listeners_and_serve_only_the_load_balancer(plans, env, region):
    plan = plans(env)
    alb_sg = _one(_ingress(plan, SG, region))
    nodes_sg = node_security_group_id(plan, region)
    listener_ports = sorted(r.inputs["port"] for r in _ingress(plan, LISTENER, region))
    rules = plan.of_type(INGRESS_RULE, region)
    to_alb = [r.inputs for r in rules if r.inputs["securityGroupId"] == alb_sg.id]
    assert sorted(r["fromPort"] for r in to_alb) == listener_ports
    assert all(r["cidrIpv4"] == "0.0.0.0/0" and r["toPort"] == r["fromPort"] for r in to_alb)
    (to_nodes,) = [r.inputs for r in rules if r.inputs["securityGroupId"] == nodes_sg and r.inputs.get("fromPort") == 8000]
    assert (to_nodes["fromPort"], to_nodes["toPort"], to_nodes["ipProtocol"]) == (8000, 8000, "tcp")
    assert to_nodes["referencedSecurityGroupId"] == alb_sg.id and "cidrIpv4" not in to_nodes
    (egress,) = [r.inputs for r in _ingress(plan, EGRESS_RULE, region)]
    assert (egress["securityGroupId"], egress["referencedSecurityGroupId"]) == (alb_sg.id, nodes_sg)
    assert (egress["fromPort"], egress["toPort"]) == (8000, 8000)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ingress_resources_carry_rayfleet_and_cost_tags(plans, env):
    cfg = load_environment(env)
    tagged = [r for r in plans(env).resources if r.component == "ingress" and "tags" in r.inputs]
    assert tagged
    for resource in tagged:
        tags = resource.inputs["tags"]
        assert tags["rayfleet:component"] == "ingress"
        assert tags["rayfleet:env"] == env
        assert tags["rayfleet:cluster"] == cfg.cluster_id(resource.region if resource.region != "global" else cfg.primary_region.name)
        assert all(tags[k] == v for k, v in cfg.cost.tags.items())


def test_https_listener_waits_for_the_certificate_to_be_issued(plans):
    # Under mocks the certificate's and the validation's ARN are the same string: only the
    # dependency shows the listener takes it from the validation (ALB rejects a pending certificate).
    certificate_deps = {
        request.name: list(request.propertyDependencies["certificateArn"].urns)
        for request in plans.registrations("prod")
        if request.type == LISTENER and "certificateArn" in request.propertyDependencies
    }
    plan = plans("prod")
    validations = {r.region: r.urn for r in plan.of_type(VALIDATION)}
    https = {r.name: r.region for r in plan.of_type(LISTENER) if r.inputs["protocol"] == "HTTPS"}
    assert sorted(https.values()) == sorted(validations) == ["us-east-1", "us-west-2"]
    for name, region in https.items():
        assert certificate_deps[name] == [validations[region]]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alb_and_target_group_names_fit_aws_limits_in_every_region(plans, env):
    # ALB and target-group names are capped at 32 characters; an auto-name built
    # from a logical name such as 'ingress-ap-southeast-1-serve' would not fit.
    plan = plans(env)
    for type_token in ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup"):
        for resource in plan.of_type(type_token):
            assert "name" not in resource.inputs
            prefix = resource.inputs["namePrefix"]
            assert 1 <= len(prefix) <= 6 and not prefix.startswith("internal")
