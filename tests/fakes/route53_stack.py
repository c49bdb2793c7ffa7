"""prod's failover, deployed into a moto_server on 127.0.0.1: the zone, health checks and records.

Fixtures (registered for every test in tests/conftest.py), on top of tests.fakes.aws_env's `aws_env`:

    def test_drill(deployed):
        client, outputs = deployed  # boto3 route53 client on moto; prod's outputs with moto's IDs
"""

from __future__ import annotations

import copy
import json
import os

import boto3
import pytest

PRIMARY = "us-east-1"
SECONDARY = "us-west-2"


@pytest.fixture(scope="module")
def plan_outputs(plans):
    """prod's outputs as the offline plan exports them: the shape `pulumi stack output --json` has.

    A copy per module, through JSON: the session's plan stays untouched.
    """
    return json.loads(json.dumps(plans("prod").outputs, default=str))


@pytest.fixture
def deployed(aws_env, plan_outputs):
    """prod's zone, health checks and failover records in moto; the outputs rewritten to moto's IDs."""
    client = boto3.client("route53")
    outputs = copy.deepcopy(plan_outputs)
    failover = outputs["failover"]
    zone = client.create_hosted_zone(Name=failover["hostedZone"], CallerReference=f"drill-{os.urandom(4).hex()}")
    failover["hostedZoneId"] = zone["HostedZone"]["Id"].split("/")[-1]
    changes = []
    for record in failover["records"]:
        check = client.create_health_check(
            CallerReference=f"{record['region']}-{os.urandom(4).hex()}",
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": record["loadBalancerDnsName"],
                "Port": 443,
                "ResourcePath": "/-/healthz",
                "RequestInterval": 10,
                "FailureThreshold": 3,
            },
        )["HealthCheck"]
        record["healthCheckId"] = check["Id"]
        changes.append(
            {
                "Action": "CREATE",
                "ResourceRecordSet": {
                    "Name": failover["domain"] + ".",
                    "Type": "A",
                    "SetIdentifier": record["setIdentifier"],
                    "Failover": record["role"],
                    "HealthCheckId": check["Id"],
                    "AliasTarget": {
                        "HostedZoneId": "Z35SXDOTRQ7X7K",
                        "DNSName": record["loadBalancerDnsName"],
                        "EvaluateTargetHealth": True,
                    },
                },
            }
        )
    client.change_resource_record_sets(HostedZoneId=failover["hostedZoneId"], ChangeBatch={"Changes": changes})
    return client, outputs
