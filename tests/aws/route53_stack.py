"""prod's failover, deployed into a moto_server on 127.0.0.1: the zone, health checks and records.

Fixtures for the drill's tests (import them into a test module):

    from tests.aws.route53_stack import aws_env, deployed, moto_endpoint, plan_outputs  # noqa: F401
"""

from __future__ import annotations

import copy
import json
import os
import socket

import boto3
import pytest

from stacks.plan import run_plan

PRIMARY = "us-east-1"
SECONDARY = "us-west-2"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch):
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": PRIMARY,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


@pytest.fixture(scope="module")
def plan_outputs():
    """prod's outputs as the offline plan exports them: the shape `pulumi stack output --json` has."""
    return json.loads(json.dumps(run_plan("prod").outputs, default=str))


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
