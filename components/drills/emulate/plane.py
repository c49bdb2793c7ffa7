"""What an emulated region's control plane holds, decided from the offline plan: no boto3, no moto.

    planned = boot_resources(plan.resources, "us-east-1")
    [r.type for r in planned][:2]              # ['aws:ec2/vpc:Vpc', 'aws:ec2/subnet:Subnet']
    recipe = recipe_for(planned[0], IdMap())
    recipe.create.operation                    # 'create_vpc'

The plan captures what `pulumi up` would send to AWS; each planned input of the resources a
region needs at boot is mapped here, field by field, to the AWS API call that creates the same
thing (boto3's parameter names). Inputs that name other resources carry the plan's mock IDs
(`lt-…`, `subnet-…`, the zone's `Z…`): the `IdMap` replaces each with the ID the emulated
control plane returned when that resource was created, which is why the steps come in
dependency order. Every planned input is either mapped or listed in `GAPS` with the reason
(what moto lacks, or what is not needed at boot), so nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from components.errors import RayfleetError

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
ZONE = "aws:route53/zone:Zone"
RECORD = "aws:route53/record:Record"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GROUP = "aws:autoscaling/group:Group"

#: The planned resource types a region needs at boot, in the order they are created when the
#: plan's dependencies leave a choice (a group needs its template, subnets and the agent object).
BOOT_TYPES = (VPC, SUBNET, SECURITY_GROUP, BUCKET, BUCKET_OBJECT, SECRET, SECRET_VERSION, ZONE, RECORD,
              LAUNCH_TEMPLATE, GROUP)

#: Planned inputs not sent, each with why: what moto lacks or rejects, or what a node does not need at boot.
GAPS: dict[tuple[str, str], str] = {
    (VPC, "enableDnsHostnames"): "a VPC attribute (ModifyVpcAttribute); emulated nodes resolve through the zone",
    (VPC, "enableDnsSupport"): "a VPC attribute (ModifyVpcAttribute); emulated nodes resolve through the zone",
    (SUBNET, "mapPublicIpOnLaunch"): "no public addresses on loopback nodes",
    (SECURITY_GROUP, "revokeRulesOnDelete"): "a Pulumi delete option, no API field",
    (BUCKET, "forceDestroy"): "a Pulumi delete option, no API field",
    (BUCKET, "bucketPrefix"): "the plan already holds the full generated name, which is used as is",
    (BUCKET_OBJECT, "source"): "sent as the object's Body (the file the asset names)",
    (ZONE, "forceDestroy"): "a Pulumi delete option, no API field",
    (RECORD, "allowOverwrite"): "every record is written with UPSERT",
    (LAUNCH_TEMPLATE, "updateDefaultVersion"): "a new template has one version, its default",
    (GROUP, "waitForCapacityTimeout"): "a Pulumi wait, no API field",
    (GROUP, "instanceRefresh"): "Pulumi starts a refresh when the template changes; a new group has none",
}

#: What the emulation does not hold yet, or holds differently from AWS: shown by `rayfleet emulate`.
KNOWN_GAPS = (
    "the user data keeps the plan's mock IDs: the private zone's ID and the secrets' ARNs differ in moto "
    "(moto picks zone IDs and secret ARN suffixes itself); the created-ID map gives the emulated ones, "
    "and the nodes' AWS router replaces them in their requests",
    "moto ignores LifecycleHookSpecificationList: the rayfleet-drain hooks are put with PutLifecycleHook",
    "moto starts the groups' instances at once (only `boot` runs them as nodes); AMIs and instance profiles "
    "are not checked",
    "not created: security group rules, IAM roles and instance profiles, NAT and internet gateways, route "
    "tables, load balancers, the ElastiCache replication group (with head fault tolerance, `boot` runs a real "
    "Redis at its endpoint), alarms, log groups, the bucket's policy, versioning and encryption",
    "model files named by the applications' args are not uploaded, only their code packages (`boot` uploads them "
    "as `serve deploy` does)",
    "moto records an instance marked Unhealthy but does not replace it, and holds no instance in Terminating:Wait "
    "for the rayfleet-drain hook: a node stops as soon as its instance leaves its group",
    "moto launches whatever a group asks and records no scaling activity: `shortage` makes the spot group short in "
    "the nodes' AWS router (SetDesiredCapacity reaches moto capped at what the group runs, DescribeAutoScalingGroups "
    "shows the desired count asked, DescribeScalingActivities answers AWS's failed spot launch); the twin is moto's",
    "moto replaces an instance terminated in EC2 at once; AWS's group does so once its health check finds the "
    "instance gone (`head-failover`'s replacement launches sooner than it would on AWS)",
    "nodes ask the VPC resolver directly, with no caching resolver (systemd-resolved) in between: negative answers "
    "carry the zone's SOA, but the workers' `cache no negative DNS answers` step changes nothing here",
    "moto has no spot interruptions: `spot` writes EC2's notice into the node's IMDS and terminates the instance in "
    "moto itself, at the notice's time or once the drain is done; moto's group replaces a terminated instance in "
    "the same call (AWS finds it at its next health check)",
)


class Planned(Protocol):
    """One captured resource of the offline plan (stacks.plan.PlannedResource has these fields)."""

    type: str
    name: str
    urn: str
    id: str
    region: str
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]


@dataclass(frozen=True)
class Call:
    """One AWS API call, as boto3 spells it: `client(service).<operation>(**kwargs)`."""

    service: str
    operation: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Recipe:
    """How one planned resource is created: the call, where its response holds the new ID, and the calls after."""

    create: Call
    #: Keys into the create call's response leading to the emulated ID; empty: the planned ID is kept (a bucket's name).
    id_path: tuple[str, ...] = ()
    #: Calls that need the emulated ID (tags by ID, hooks on a group).
    then: Callable[[str], list[Call]] = lambda _id: []
    #: Keys into the response leading to a launch template's version, which groups name.
    version_path: tuple[str, ...] = ()


@dataclass
class IdMap:
    """Planned (mock) IDs -> the IDs the emulated control plane returned, and launch template versions."""

    ids: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def emulated(self, value: Any) -> Any:
        """`value` with every string that is a planned ID replaced by its emulated ID, nested too."""
        if isinstance(value, dict):
            return {k: self.emulated(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.emulated(v) for v in value]
        if isinstance(value, str):
            return self.ids.get(value, value)
        return value

    def version_of(self, template_id: str, group: str) -> str:
        """The version of the emulated launch template `template_id` that `group` runs."""
        if template_id not in self.versions:
            raise RayfleetError(
                f"the planned group {group} names launch template {template_id}, which the emulated control plane "
                "did not create (the template is not in the plan's region, or not among its dependencies). "
                "Fix: plan the group and its launch template in the same region"
            )
        return self.versions[template_id]


def boot_resources(resources: Iterable[Planned], region: str) -> list[Planned]:
    """The resources of `region` a node needs at boot, each after those it depends on."""
    chosen = [r for r in resources if r.region == region and r.type in BOOT_TYPES]
    by_urn = {r.urn: r for r in chosen}
    rank = {t: i for i, t in enumerate(BOOT_TYPES)}
    pending = sorted(chosen, key=lambda r: (rank[r.type], r.name))
    done: set[str] = set()
    ordered: list[Planned] = []
    while pending:
        ready = next(r for r in pending if all(d in done or d not in by_urn for d in r.dependencies))
        ordered.append(ready)
        done.add(ready.urn)
        pending.remove(ready)
    return ordered


def recipe_for(resource: Planned, ids: IdMap) -> Recipe:
    """The calls that create `resource`, its inputs' planned IDs replaced through `ids`."""
    inputs = ids.emulated(resource.inputs)
    return _RECIPES[resource.type](resource, inputs, ids)


def mapped_inputs(resource_type: str) -> frozenset[str]:
    """The planned input keys of `resource_type` that reach an API call."""
    return _MAPPED[resource_type]


def _tag_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


def _ec2_tags(kind: str, tags: dict[str, str] | None) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": _tag_list(tags)}] if tags else []


def _vpc(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    return Recipe(
        Call("ec2", "create_vpc", {"CidrBlock": inputs["cidrBlock"],
                                    "TagSpecifications": _ec2_tags("vpc", inputs.get("tags"))}),
        id_path=("Vpc", "VpcId"),
    )


def _subnet(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    kwargs = {"VpcId": inputs["vpcId"], "CidrBlock": inputs["cidrBlock"],
              "TagSpecifications": _ec2_tags("subnet", inputs.get("tags"))}
    if inputs.get("availabilityZone"):
        kwargs["AvailabilityZone"] = inputs["availabilityZone"]
    return Recipe(Call("ec2", "create_subnet", kwargs), id_path=("Subnet", "SubnetId"))


def _security_group(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    kwargs = {"GroupName": inputs.get("name") or resource.id, "VpcId": inputs["vpcId"],
              "Description": inputs.get("description") or "Managed by Pulumi",
              "TagSpecifications": _ec2_tags("security-group", inputs.get("tags"))}
    return Recipe(Call("ec2", "create_security_group", kwargs), id_path=("GroupId",))


def _bucket(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    # The plan's ID is the generated bucket name the user data and the Serve config name: kept as is.
    kwargs: dict[str, Any] = {"Bucket": resource.id}
    if resource.region != "us-east-1":  # us-east-1 rejects a LocationConstraint naming itself
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": resource.region}
    tagging = {"TagSet": _tag_list(inputs.get("tags"))}
    return Recipe(Call("s3", "create_bucket", kwargs),
                  then=lambda name: [Call("s3", "put_bucket_tagging", {"Bucket": name, "Tagging": tagging})])


def _bucket_object(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    source = resource.inputs["source"]
    kwargs = {"Bucket": inputs["bucket"], "Key": inputs["key"], "Body": _asset_bytes(source),
              "ContentType": inputs.get("contentType") or "binary/octet-stream"}
    if inputs.get("tags"):
        kwargs["Tagging"] = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in inputs["tags"].items())
    return Recipe(Call("s3", "put_object", kwargs))


def _asset_bytes(source: Any) -> bytes:
    """The bytes of a planned FileAsset (its `path`) or StringAsset (its `text`)."""
    if getattr(source, "path", None):
        with open(source.path, "rb") as handle:
            return handle.read()
    return str(source.text).encode()


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _secret(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    # Pulumi names a secret from its resource name plus a suffix: the plan's ID is that name.
    kwargs = {"Name": inputs.get("name") or resource.id, "Tags": _tag_list(inputs.get("tags"))}
    if inputs.get("description"):
        kwargs["Description"] = inputs["description"]
    return Recipe(Call("secretsmanager", "create_secret", kwargs), id_path=("ARN",))


#: How the plan captures a Pulumi secret value: {SIG_KEY: SECRET_SIG, "value": ...} (pulumi.runtime.rpc's
#: `_special_sig_key` and `_special_secret_sig`).
_SIG_KEY, _SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def plain(value: Any) -> Any:
    """A planned input's value, unwrapped when the program marked it secret."""
    if isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG:
        return value.get("value")
    return value


def _secret_version(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    # The value the program stores (the GCS store's AUTH token): the head reads it at boot.
    kwargs = {"SecretId": inputs["secretId"], "SecretString": str(plain(inputs["secretString"]))}
    return Recipe(Call("secretsmanager", "put_secret_value", kwargs))


def _zone(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    vpcs = inputs.get("vpcs") or []
    kwargs: dict[str, Any] = {
        "Name": inputs["name"],
        # One creation per planned resource: the URN's hash is a stable caller reference.
        "CallerReference": hashlib.sha256(resource.urn.encode()).hexdigest()[:32],
        "HostedZoneConfig": {"Comment": inputs.get("comment", ""), "PrivateZone": bool(vpcs)},
    }
    if vpcs:
        kwargs["VPC"] = {"VPCRegion": vpcs[0]["vpcRegion"], "VPCId": vpcs[0]["vpcId"]}
    tags = _tag_list(inputs.get("tags"))

    def then(zone_id: str) -> list[Call]:
        short = zone_id.rsplit("/", 1)[-1]
        calls = [Call("route53", "associate_vpc_with_hosted_zone",
                      {"HostedZoneId": short, "VPC": {"VPCRegion": v["vpcRegion"], "VPCId": v["vpcId"]}})
                 for v in vpcs[1:]]
        if tags:
            calls.append(Call("route53", "change_tags_for_resource",
                              {"ResourceType": "hostedzone", "ResourceId": short, "AddTags": tags}))
        return calls

    return Recipe(Call("route53", "create_hosted_zone", kwargs), id_path=("HostedZone", "Id"), then=then)


def _record(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    record = {"Name": inputs["name"], "Type": inputs["type"], "TTL": int(inputs["ttl"]),
              "ResourceRecords": [{"Value": v} for v in inputs["records"]]}
    batch = {"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]}
    zone_id = str(inputs["zoneId"]).rsplit("/", 1)[-1]
    return Recipe(Call("route53", "change_resource_record_sets", {"HostedZoneId": zone_id, "ChangeBatch": batch}))


def _launch_template(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    data: dict[str, Any] = {
        "ImageId": inputs["imageId"],
        "InstanceType": inputs["instanceType"],
        # The planned bytes as they are (base64; gzip-compressed only over 16 KB), exactly what the template holds.
        "UserData": resource.inputs["userData"],
        "SecurityGroupIds": inputs.get("vpcSecurityGroupIds", []),
        "TagSpecifications": [{"ResourceType": s["resourceType"], "Tags": _tag_list(s.get("tags"))}
                              for s in inputs.get("tagSpecifications", [])],
        "BlockDeviceMappings": [_block_device(b) for b in inputs.get("blockDeviceMappings", [])],
    }
    if inputs.get("iamInstanceProfile"):
        profile = inputs["iamInstanceProfile"]
        data["IamInstanceProfile"] = {"Arn": profile["arn"]} if profile.get("arn") else {"Name": profile["name"]}
    if inputs.get("metadataOptions"):
        data["MetadataOptions"] = _metadata_options(inputs["metadataOptions"])
    kwargs = {"LaunchTemplateName": inputs.get("name") or resource.name, "LaunchTemplateData": data,
              "TagSpecifications": _ec2_tags("launch-template", inputs.get("tags"))}
    if inputs.get("description"):
        kwargs["VersionDescription"] = inputs["description"]  # Terraform's `description` is the version's
    return Recipe(Call("ec2", "create_launch_template", kwargs), id_path=("LaunchTemplate", "LaunchTemplateId"),
                  version_path=("LaunchTemplate", "LatestVersionNumber"))


def _block_device(mapping: dict[str, Any]) -> dict[str, Any]:
    ebs = mapping.get("ebs", {})
    out = {"DeviceName": mapping["deviceName"]}
    if ebs:
        out["Ebs"] = {
            "DeleteOnTermination": str(ebs.get("deleteOnTermination", "true")) == "true",
            "Encrypted": str(ebs.get("encrypted", "false")) == "true",
            "VolumeType": ebs["volumeType"],
            "VolumeSize": int(ebs["volumeSize"]),
        }
    return out


def _metadata_options(options: dict[str, Any]) -> dict[str, Any]:
    names = {"httpEndpoint": "HttpEndpoint", "httpTokens": "HttpTokens", "instanceMetadataTags": "InstanceMetadataTags",
             "httpPutResponseHopLimit": "HttpPutResponseHopLimit"}
    return {names[k]: int(v) if k == "httpPutResponseHopLimit" else v for k, v in options.items() if k in names}


def launched_at_once(resources: Iterable[Planned], region: str) -> dict[str, int]:
    """The instances each planned group of `region` launches as soon as it exists (its desired capacity, at
    least its minimum): what a boot needs before the autoscaler asks for more. Not the groups' maximum,
    which the autoscaler reaches only under load (dev's would be 1 head + 4 workers)."""
    return {r.inputs["name"]: max(int(r.inputs["minSize"]), int(r.inputs.get("desiredCapacity", 0)))
            for r in resources if r.type == GROUP and r.region == region}


def check_node_budget(launched: dict[str, int], budget: int) -> None:
    """Refuse a region whose groups launch more instances at once than `budget` nodes, before any node boots."""
    total = sum(launched.values())
    if total > budget:
        sizes = ", ".join(f"{name} {count}" for name, count in launched.items() if count)
        raise RayfleetError(f"the emulated region's groups launch {total} instances at once ({sizes}); this machine "
                            f"runs at most {budget} nodes. Fix: emulate an environment whose groups' minimum sizes "
                            f"add up to {budget} or fewer (dev's), or lower its minWorkers in a stack file of its own")


def _group(resource: Planned, inputs: dict[str, Any], ids: IdMap) -> Recipe:
    name = inputs["name"]
    kwargs: dict[str, Any] = {
        "AutoScalingGroupName": name,
        "MinSize": int(inputs["minSize"]),
        "MaxSize": int(inputs["maxSize"]),
        "DesiredCapacity": int(inputs["desiredCapacity"]),
        "VPCZoneIdentifier": ",".join(inputs.get("vpcZoneIdentifiers", [])),
        "HealthCheckType": inputs.get("healthCheckType", "EC2"),
        "HealthCheckGracePeriod": int(inputs.get("healthCheckGracePeriod", 300)),
        "CapacityRebalance": bool(inputs.get("capacityRebalance", False)),
        "Tags": [{"Key": t["key"], "Value": t["value"], "PropagateAtLaunch": bool(t.get("propagateAtLaunch")),
                  "ResourceId": name, "ResourceType": "auto-scaling-group"} for t in inputs.get("tags", [])],
    }
    if inputs.get("mixedInstancesPolicy"):
        kwargs["MixedInstancesPolicy"] = _mixed_instances_policy(inputs["mixedInstancesPolicy"], ids, name)
    else:
        template = inputs["launchTemplate"]
        kwargs["LaunchTemplate"] = {"LaunchTemplateId": template["id"], "Version": ids.version_of(template["id"], name)}
    hooks = inputs.get("initialLifecycleHooks", [])
    suspended = inputs.get("suspendedProcesses", [])

    def then(group: str) -> list[Call]:
        calls = [Call("autoscaling", "put_lifecycle_hook", {
            "AutoScalingGroupName": group, "LifecycleHookName": h["name"],
            "LifecycleTransition": h["lifecycleTransition"], "HeartbeatTimeout": int(h["heartbeatTimeout"]),
            "DefaultResult": h["defaultResult"]}) for h in hooks]
        if suspended:
            calls.append(Call("autoscaling", "suspend_processes",
                              {"AutoScalingGroupName": group, "ScalingProcesses": list(suspended)}))
        return calls

    return Recipe(Call("autoscaling", "create_auto_scaling_group", kwargs), then=then)


def _mixed_instances_policy(policy: dict[str, Any], ids: IdMap, group: str) -> dict[str, Any]:
    spec = policy["launchTemplate"]["launchTemplateSpecification"]
    template_id = spec["launchTemplateId"]
    names = {"onDemandBaseCapacity": "OnDemandBaseCapacity", "onDemandAllocationStrategy": "OnDemandAllocationStrategy",
             "onDemandPercentageAboveBaseCapacity": "OnDemandPercentageAboveBaseCapacity",
             "spotAllocationStrategy": "SpotAllocationStrategy", "spotInstancePools": "SpotInstancePools",
             "spotMaxPrice": "SpotMaxPrice"}
    distribution = {names[k]: int(v) if isinstance(v, float) else v
                    for k, v in policy.get("instancesDistribution", {}).items()}
    return {
        "LaunchTemplate": {
            # The group runs the version the plan's template would have: the emulated template's latest.
            "LaunchTemplateSpecification": {"LaunchTemplateId": template_id,
                                            "Version": ids.version_of(template_id, group)},
            "Overrides": [{"InstanceType": o["instanceType"]} for o in policy["launchTemplate"].get("overrides", [])],
        },
        "InstancesDistribution": distribution,
    }


_RECIPES: dict[str, Callable[[Planned, dict[str, Any], IdMap], Recipe]] = {
    VPC: _vpc, SUBNET: _subnet, SECURITY_GROUP: _security_group, BUCKET: _bucket, BUCKET_OBJECT: _bucket_object,
    SECRET: _secret, SECRET_VERSION: _secret_version, ZONE: _zone, RECORD: _record, LAUNCH_TEMPLATE: _launch_template, GROUP: _group,
}

_MAPPED: dict[str, frozenset[str]] = {
    VPC: frozenset({"cidrBlock", "tags"}),
    SUBNET: frozenset({"vpcId", "cidrBlock", "availabilityZone", "tags"}),
    SECURITY_GROUP: frozenset({"name", "vpcId", "description", "tags"}),
    BUCKET: frozenset({"tags"}),
    BUCKET_OBJECT: frozenset({"bucket", "key", "contentType", "tags"}),
    SECRET: frozenset({"name", "description", "tags"}),
    SECRET_VERSION: frozenset({"secretId", "secretString"}),
    ZONE: frozenset({"name", "comment", "vpcs", "tags"}),
    RECORD: frozenset({"name", "type", "ttl", "records", "zoneId"}),
    LAUNCH_TEMPLATE: frozenset({"imageId", "instanceType", "userData", "vpcSecurityGroupIds", "tagSpecifications",
                                "blockDeviceMappings", "iamInstanceProfile", "metadataOptions", "name", "tags",
                                "description"}),
    GROUP: frozenset({"name", "minSize", "maxSize", "desiredCapacity", "vpcZoneIdentifiers", "healthCheckType",
                      "healthCheckGracePeriod", "capacityRebalance", "tags", "mixedInstancesPolicy", "launchTemplate",
                      # Sent after the group: PutLifecycleHook (moto ignores LifecycleHookSpecificationList)
                      # and SuspendProcesses (CreateAutoScalingGroup has no such field).
                      "initialLifecycleHooks", "suspendedProcesses"}),
}
