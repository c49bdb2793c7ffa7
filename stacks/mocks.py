"""Pulumi mocks that answer like AWS would, so the whole program runs with no cloud and no CLI.

The offline plan and the component tests both use `PlanMocks`. Every resource
gets a plausible physical ID and ARN in its own region (taken from the
provider it was created with), and the few invokes the program makes
(availability zones, SSM parameters, caller identity) get region-true answers.
`pulumi_program_config` is a stack's config as `pulumi up` hands it to the
program, for tests that run stacks/__main__.py the way Pulumi does.

    mocks = PlanMocks()
    pulumi.runtime.set_mocks(mocks, project="rayfleet", stack="prod", preview=False)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import pulumi

ACCOUNT_ID = "123456789012"
GLOBAL = "global"
#: The provider for account-wide resources (DNS zones, budgets, cost-allocation tags).
GLOBAL_PROVIDER = "aws-global"
#: The engine's built-in invoke for a stack's outputs (answered by the engine, not by AWS).
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"

#: Hosted-zone IDs of Application Load Balancers, per region (public AWS constants).
ALB_ZONE_IDS = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0",
    "us-west-2": "Z1H1FL5HABSF5",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-central-1": "Z215JYRZR1TBD5",
}

#: Physical ID prefixes AWS uses, by Pulumi type token.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:route53/zone:Zone": "Z0",
    "aws:route53/healthCheck:HealthCheck": "hc",
}


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _service(type_token: str) -> str:
    """'aws:ec2/vpc:Vpc' -> 'ec2'."""
    module = type_token.split(":")[1] if type_token.count(":") >= 2 else ""
    return module.split("/")[0] or "aws"


def arn(service: str, region: str, resource: str) -> str:
    region_part = "" if service in ("iam", "s3", "route53", "cloudfront", "budgets") or region == GLOBAL else region
    account_part = "" if service == "s3" else ACCOUNT_ID
    return f"arn:aws:{service}:{region_part}:{account_part}:{resource}"


def secret_arn(region: str, name: str) -> str:
    """The ARN the mocks give secret `name`: AWS's `...:secret:<name>-<6 characters>`, the suffix from the name."""
    return arn("secretsmanager", region, f"secret:{name}-{_digest(name, length=6)}")


#: Extra outputs per type token: (args, region, physical_id, physical_name) -> outputs.
Extra = Callable[[pulumi.runtime.MockResourceArgs, str, str, str], dict[str, Any]]
EXTRA_OUTPUTS: dict[str, Extra] = {
    "aws:autoscaling/group:Group": lambda a, r, i, n: {
        "name": n,
        "arn": arn("autoscaling", r, f"autoScalingGroup:{_digest(n, length=8)}:autoScalingGroupName/{n}"),
    },
    "aws:ec2/launchTemplate:LaunchTemplate": lambda a, r, i, n: {
        "latestVersion": template_version(a.inputs),
        "defaultVersion": template_version(a.inputs),  # update_default_version: the new one is the default
    },
    "aws:lb/loadBalancer:LoadBalancer": lambda a, r, i, n: {
        "dnsName": f"{n}-{_digest(n, length=10)}.{r}.elb.amazonaws.com",
        "zoneId": ALB_ZONE_IDS.get(r, "Z0000000000000"),
        "arn": arn("elasticloadbalancing", r, f"loadbalancer/app/{n}/{_digest(n, length=16)}"),
        "arnSuffix": f"app/{n}/{_digest(n, length=16)}",
    },
    "aws:lb/targetGroup:TargetGroup": lambda a, r, i, n: {
        "arn": arn("elasticloadbalancing", r, f"targetgroup/{n}/{_digest(n, length=16)}"),
        "arnSuffix": f"targetgroup/{n}/{_digest(n, length=16)}",
    },
    "aws:route53/zone:Zone": lambda a, r, i, n: {
        "zoneId": i,
        "nameServers": [f"ns-{k}.awsdns-{k:02d}.net" for k in range(1, 5)],
        "primaryNameServer": "ns-1.awsdns-01.net",
    },
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda a, r, i, n: {
        "primaryEndpointAddress": f"master.{n}.{_digest(n, length=6)}.{r[:6]}.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{n}.{_digest(n, length=6)}.{r[:6]}.cache.amazonaws.com",
        "port": a.inputs.get("port", 6379),
    },
    "aws:s3/bucket:Bucket": lambda a, r, i, n: {
        "bucket": n,
        "arn": f"arn:aws:s3:::{n}",
        "bucketRegionalDomainName": f"{n}.s3.{r}.amazonaws.com",
    },
    "aws:s3/bucketV2:BucketV2": lambda a, r, i, n: {
        "bucket": n,
        "arn": f"arn:aws:s3:::{n}",
        "bucketRegionalDomainName": f"{n}.s3.{r}.amazonaws.com",
    },
    "aws:acm/certificate:Certificate": lambda a, r, i, n: {
        "arn": arn("acm", r, f"certificate/{_uuid(n, r)}"),
        "status": "PENDING_VALIDATION",
        "domainValidationOptions": [_validation_option(a.inputs.get("domainName", n))],
    },
    # The validation waits for ISSUED and hands the certificate on.
    "aws:acm/certificateValidation:CertificateValidation": lambda a, r, i, n: {
        "certificateArn": a.inputs.get("certificateArn")
    },
    "aws:route53/record:Record": lambda a, r, i, n: {"fqdn": str(a.inputs.get("name", n)).rstrip(".")},
    "aws:lb/listener:Listener": lambda a, r, i, n: {
        "arn": arn("elasticloadbalancing", r, f"listener/app/{n}/{_digest(n, length=16)}/{_digest(n, 'l', length=16)}")
    },
    "aws:iam/role:Role": lambda a, r, i, n: {"arn": arn("iam", r, f"role/{n}"), "uniqueId": "AROA" + _digest(n).upper()},
    "aws:iam/instanceProfile:InstanceProfile": lambda a, r, i, n: {"arn": arn("iam", r, f"instance-profile/{n}")},
    "aws:iam/policy:Policy": lambda a, r, i, n: {"arn": arn("iam", r, f"policy/{n}")},
    "aws:cloudwatch/logGroup:LogGroup": lambda a, r, i, n: {"arn": arn("logs", r, f"log-group:{n}")},
    "aws:s3/bucketObjectv2:BucketObjectv2": lambda a, r, i, n: {"versionId": _digest(n, length=32), "etag": _digest(n)},
    # SNS and CloudWatch ARNs end in the name after a colon, not a slash.
    "aws:sns/topic:Topic": lambda a, r, i, n: {"arn": arn("sns", r, n)},
    # An e-mail subscription stays pending until its address confirms it; AWS reports it so.
    "aws:sns/topicSubscription:TopicSubscription": lambda a, r, i, n: {
        "arn": f"{a.inputs.get('topic')}:{_uuid(n)}",
        "pendingConfirmation": a.inputs.get("protocol") == "email",
    },
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda a, r, i, n: {"arn": arn("cloudwatch", r, f"alarm:{n}")},
    # Dashboards are account-wide: their ARN names no region.
    "aws:cloudwatch/dashboard:Dashboard": lambda a, r, i, n: {
        "dashboardArn": arn("cloudwatch", GLOBAL, f"dashboard/{n}")
    },
    "aws:secretsmanager/secret:Secret": lambda a, r, i, n: {"arn": secret_arn(r, n)},
}


def template_version(inputs: Mapping[str, Any]) -> int:
    """A launch template's latest version number for `inputs`.

    AWS writes a new version, with a new number, whenever a template's inputs
    change, and keeps the number while they do not. Derived from the inputs'
    hash, this number does the same, so a plan of a changed config shows the
    new version each ASG pins and refreshes to, and an unchanged one the same.
    """
    canonical = json.dumps(inputs, sort_keys=True, default=str)
    return 1 + int(_digest("launch-template", canonical, length=8), 16) % 1_000_000


def _uuid(*parts: str) -> str:
    hexes = _digest(*parts, length=32)
    return f"{hexes[:8]}-{hexes[8:12]}-{hexes[12:16]}-{hexes[16:20]}-{hexes[20:]}"


def _validation_option(domain: str) -> dict[str, str]:
    """ACM's DNS validation record for `domain`: the same for every region of one account, as in AWS."""
    return {
        "domainName": domain,
        "resourceRecordName": f"_{_digest('acm', domain, length=32)}.{domain}.",
        "resourceRecordType": "CNAME",
        "resourceRecordValue": f"_{_digest('acm-value', domain, length=32)}.{_digest(domain, length=10)}.acm-validations.aws.",
    }


def _physical_name(args: pulumi.runtime.MockResourceArgs) -> str:
    for key in ("name", "bucket", "replicationGroupId", "functionName", "dashboardName"):
        value = args.inputs.get(key)
        if isinstance(value, str) and value:
            return value
    prefix = args.inputs.get("bucketPrefix") or args.inputs.get("namePrefix")
    if isinstance(prefix, str) and prefix:
        return prefix + _digest(args.typ, args.name, length=12)
    # Pulumi auto-names: the logical name plus a random suffix.
    return f"{args.name}-{_digest(args.typ, args.name, length=7)}"


class PlanMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes as AWS would, region by region."""

    def __init__(self, default_region: str = "us-east-1", previous_outputs: Mapping[str, Any] | None = None):
        self.default_region = default_region
        #: The stack's outputs as its previous `pulumi up` left them (None: a new stack), which the
        #: program reads back through the engine's `readStackOutputs` invoke.
        self.previous_outputs = dict(previous_outputs or {})
        #: Provider logical name -> its region; how each resource learns where it lives.
        self.provider_regions: dict[str, str] = {}

    def region_of(self, provider_ref: str | None) -> str:
        """'urn:pulumi:prod::rayfleet::pulumi:providers:aws::aws-us-east-1::<id>' -> 'us-east-1'."""
        if not provider_ref:
            return self.default_region
        parts = provider_ref.split("::")
        name = parts[3] if len(parts) > 3 else ""
        return self.provider_regions.get(name, self.default_region)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if args.typ.startswith("pulumi:providers:"):
            global_scope = args.name == GLOBAL_PROVIDER or args.name.startswith("default")
            self.provider_regions[args.name] = GLOBAL if global_scope else args.inputs.get("region", self.default_region)
            return f"{args.name}-id", dict(args.inputs)
        if not args.custom:
            return "", {}
        region = self.region_of(args.provider)
        if region == GLOBAL:
            region = self.default_region  # account-wide resources live in the primary region's API
        name = _physical_name(args)
        prefix = _ID_PREFIX.get(args.typ)
        physical_id = f"{prefix}-{_digest(args.typ, args.name)}" if prefix else name
        if prefix == "Z0":
            physical_id = "Z0" + _digest(args.typ, args.name, length=19).upper()
        if args.typ == "aws:route53/healthCheck:HealthCheck":
            physical_id = _uuid(args.typ, args.name)  # Route 53 health check IDs are UUIDs
        state = dict(args.inputs)
        state.setdefault("arn", arn(_service(args.typ), region, f"{args.typ.split(':')[-1].lower()}/{physical_id}"))
        if "name" not in args.inputs:
            state["name"] = name
        extra = EXTRA_OUTPUTS.get(args.typ)
        if extra:
            state.update(extra(args, region, physical_id, name))
        return physical_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        if args.token == READ_STACK_OUTPUTS:
            return {"name": args.args.get("name"), "outputs": self.previous_outputs, "secretOutputNames": []}, []
        region = self.region_of(args.provider)
        if region == GLOBAL:
            region = self.default_region
        handler = INVOKES.get(args.token)
        return (handler(args.args, region) if handler else {}), []


def _region_zones(region: str) -> list[dict[str, str]]:
    """A region's zones as DescribeAvailabilityZones lists them, for an account opted in to one Local Zone.

    AWS sorts by name, so the Local Zone (`us-east-1-bos-1a`) comes before `us-east-1a`.
    """
    short = f"{region[:2]}{region.split('-')[1][:1]}{region[-1]}"
    local = {
        "zoneName": f"{region}-bos-1a",
        "zoneId": f"{short}-bos1-az1",
        "groupName": f"{region}-bos-1",
        "zoneType": "local-zone",
        "optInStatus": "opted-in",
        "state": "available",
        "regionName": region,
    }
    standard = [
        {
            "zoneName": f"{region}{letter}",
            "zoneId": f"{short}-az{k + 1}",
            "groupName": region,
            "zoneType": "availability-zone",
            "optInStatus": "opt-in-not-required",
            "state": "available",
            "regionName": region,
        }
        for k, letter in enumerate("abc")
    ]
    return [local, *standard]


#: DescribeAvailabilityZones filter names -> the zone attribute each matches.
_ZONE_FILTERS = {
    "zone-name": "zoneName",
    "zone-id": "zoneId",
    "group-name": "groupName",
    "zone-type": "zoneType",
    "opt-in-status": "optInStatus",
    "state": "state",
    "region-name": "regionName",
}


def _zones(args: dict, region: str) -> dict:
    """getAvailabilityZones as AWS answers it: `state` and every filter narrow the list, unknown filters fail."""
    zones = _region_zones(region)
    if args.get("state"):
        zones = [z for z in zones if z["state"] == args["state"]]
    for f in args.get("filters") or []:
        attribute = _ZONE_FILTERS.get(f["name"])
        if attribute is None:
            raise ValueError(f"InvalidParameterValue: the filter '{f['name']}' is invalid")
        zones = [z for z in zones if z[attribute] in f["values"]]
    return {
        "names": [z["zoneName"] for z in zones],
        "zoneIds": [z["zoneId"] for z in zones],
        "groupNames": sorted({z["groupName"] for z in zones}),
        "id": region,
    }


def _ssm_parameter(args: dict, region: str) -> dict:
    name = args.get("name", "")
    return {"name": name, "type": "String", "value": "ami-" + _digest(name, region), "id": name}


def _hosted_zone(args: dict, _region: str) -> dict:
    """The user's public hosted zone, found by name (rayfleet never creates it)."""
    name = str(args.get("name", "")).rstrip(".")
    zone_id = "Z0" + _digest("zone", name, length=19).upper()
    return {
        "id": zone_id,
        "zoneId": zone_id,
        "name": name,
        "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
        "privateZone": False,
        "nameServers": [f"ns-{k}.awsdns-{k:02d}.net" for k in range(1, 5)],
        "resourceRecordSetCount": 2,
        "tags": {},
    }


INVOKES: dict[str, Callable[[dict, str], dict]] = {
    "aws:route53/getZone:getZone": _hosted_zone,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _zones,
    "aws:ssm/getParameter:getParameter": _ssm_parameter,
    "aws:index/getCallerIdentity:getCallerIdentity": lambda a, r: {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/rayfleet-plan",
        "userId": "AIDA" + _digest("plan").upper(),
        "id": ACCOUNT_ID,
    },
    "aws:index/getRegion:getRegion": lambda a, r: {"name": r, "region": r, "id": r},
    "aws:index/getPartition:getPartition": lambda a, r: {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
    "aws:secretsmanager/getRandomPassword:getRandomPassword": lambda a, r: {
        # Deterministic, so repeated plans match; never a real secret.
        "randomPassword": "mock" + _digest("password", r, length=int(a.get("passwordLength", 32)) - 4),
        "id": "random-password",
    },
}


def pulumi_program_config(config: Mapping[str, Any]) -> dict[str, str]:
    """A stack file's `config:` as Pulumi hands it to the program (PULUMI_CONFIG), for `set_all_config`.

    Keys stay namespaced as written (`rayfleet:cluster`, `aws:region`); strings are passed
    as they are, every other value JSON-encoded (so `pulumi.Config(...).get_object` parses it).
    """
    return {str(key): value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}
