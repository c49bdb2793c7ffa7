"""The environment model: one pydantic model validates a whole `stacks/Pulumi.<env>.yaml`.

The program, the offline plan, the deployer and the cost tools all read an
environment through `EnvironmentConfig`, never through raw dicts. Keys are
camelCase in the file (`rayfleet:cluster.workerGroups[0].minWorkers`) and
snake_case in Python (`cfg.cluster.worker_groups[0].min_workers`).

    >>> from stacks.loader import load_environment
    >>> cfg = load_environment("prod")
    >>> cfg.primary_region.name, [g.name for g in cfg.cluster.worker_groups]
    ('us-east-1', ['cpu', 'gpu'])

Every rule that can fail raises `Rule`, which carries the fix; the loader
turns pydantic's errors into `ConfigIssue`s (stacks/config_errors.py).
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from components.contract import HEAD_NODE_TYPE, REGION_HEALTH_ROUTE
from components.serve_runtime import DEFAULT_INGRESS, Ingress
from components.catalog import closest, facts, instance_type, is_aws_region, is_known_instance_type, smallest

#: The Ray minor version this rayfleet deploys with; clusters must run the same.
RAY_MINOR = "2.60"
#: Resources Ray derives from the machine; a worker group's custom `resources` may not name them.
RAY_BUILTIN_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")

_NO_VALUE = object()


class Rule(ValueError):
    """A broken config rule raised inside a validator.

    `at` is the path below the validated object where the problem lies (for
    cross-field rules raised on a parent), `value` the offending value.
    """

    def __init__(self, rule: str, fix: str, *, at: tuple = (), value: Any = _NO_VALUE):
        super().__init__(rule)
        self.rule = rule
        self.fix = fix
        self.at = at
        self.value = value

    @property
    def has_value(self) -> bool:
        return self.value is not _NO_VALUE


class Model(BaseModel):
    """Base of every config model: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True)


# --- single-value rules -------------------------------------------------------

_NAME_RE = re.compile(r"^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$")
_IMPORT_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
_ROUTE_RE = re.compile(r"^/([A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*)?$")
_DNS_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_AMI_RE = re.compile(r"^ami-[0-9a-f]{8,17}$")
_RAY_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")
_ACM_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"
)
_PRIVATE_NETS = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise Rule(
            "must be 1-24 lowercase letters, digits or '-', starting with a letter and not ending with '-'",
            f"rename it, for example to '{_suggest_name(value)}'",
        )
    return value


def _suggest_name(value: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
    cleaned = re.sub(r"^[^a-z]+", "", cleaned)[:24].rstrip("-")
    return cleaned or "cpu"


def _check_region(value: str) -> str:
    if not is_aws_region(value):
        hint = closest(value, facts().regions)
        fix = f"did you mean '{hint}'?" if hint else "use an AWS region name such as 'us-east-1'"
        raise Rule("is not an AWS region", fix)
    return value


def _parse_cidr(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # pydantic reports the type
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as err:
        if "host bits set" in str(err):
            network = ipaddress.IPv4Network(value, strict=False)
            raise Rule("has host bits set", f"use the network address '{network}'") from None
        raise Rule("is not an IPv4 CIDR block", "write it as a.b.c.d/n, for example '10.10.0.0/16'") from None


def _check_vpc_cidr(network: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    if not any(network.subnet_of(private) for private in _PRIVATE_NETS):
        raise Rule(
            "must lie in private address space (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)",
            "choose a block such as '10.10.0.0/16'",
        )
    if not 16 <= network.prefixlen <= 22:
        raise Rule(
            f"must have a prefix length between /16 and /22 (got /{network.prefixlen})",
            "use a /16 to /22 block, for example '10.10.0.0/16'",
        )
    return network


def _check_instance_type(value: str) -> str:
    if not is_known_instance_type(value):
        hint = closest(value, facts().instance_types)
        fix = f"did you mean '{hint}'?" if hint else "use a type listed in cost/data/instances.json"
        raise Rule("is not an instance type rayfleet knows", fix)
    return value


def _check_import_path(value: str) -> str:
    if not _IMPORT_PATH_RE.match(value):
        raise Rule("must be 'package.module:attribute'", "write it like 'serve_apps.sentiment:app'")
    return value


def _check_route_prefix(value: str) -> str:
    if not _ROUTE_RE.match(value):
        raise Rule(
            "must start with '/' and contain only path segments of letters, digits, '.', '_', '~' or '-'",
            "write it like '/sentiment' (no trailing '/')",
        )
    if value == REGION_HEALTH_ROUTE or value.startswith(REGION_HEALTH_ROUTE + "/"):
        raise Rule(
            f"is reserved: every region answers Route 53's health checks at {REGION_HEALTH_ROUTE}",
            "pick another routePrefix",
        )
    return value


def _check_dns_name(value: str) -> str:
    if not _DNS_RE.match(value):
        raise Rule("is not a DNS name", "write a lowercase name like 'api.example.com' (no trailing dot)")
    return value


def _check_email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise Rule("is not an email address", "write it like 'team@example.com'")
    return value


def _check_ami(value: str) -> str:
    if not _AMI_RE.match(value):
        raise Rule("is not an AMI ID", "write it like 'ami-0123456789abcdef0', or remove it to use the SSM parameter")
    return value


def _check_ray_version(value: str) -> str:
    match = _RAY_VERSION_RE.match(value)
    if not match:
        raise Rule("must be a Ray release like '2.60.0'", f"set it to '{RAY_MINOR}.0'")
    if f"{match[1]}.{match[2]}" != RAY_MINOR:
        raise Rule(
            f"must be a {RAY_MINOR}.x release, the Ray this rayfleet deploys with "
            "(clusters must run the same Ray as the client that deploys to them)",
            f"set it to '{RAY_MINOR}.0', or install the rayfleet release built for Ray {match[1]}.{match[2]}",
        )
    return value


def _check_certificate_arn(value: str) -> str:
    if not _ACM_ARN_RE.match(value):
        raise Rule(
            "is not an ACM certificate ARN",
            "copy the ARN from 'aws acm list-certificates', like "
            "'arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9'",
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]
AwsRegion = Annotated[str, AfterValidator(_check_region)]
Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_parse_cidr)]
VpcCidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_parse_cidr), AfterValidator(_check_vpc_cidr)]
InstanceTypeName = Annotated[str, AfterValidator(_check_instance_type)]
ImportPath = Annotated[str, AfterValidator(_check_import_path)]
RoutePrefix = Annotated[str, AfterValidator(_check_route_prefix)]
DnsName = Annotated[str, AfterValidator(_check_dns_name)]
Email = Annotated[str, AfterValidator(_check_email)]
AmiId = Annotated[str, AfterValidator(_check_ami)]
RayVersion = Annotated[str, AfterValidator(_check_ray_version)]
CertificateArn = Annotated[str, AfterValidator(_check_certificate_arn)]
Percent = Annotated[int, Field(ge=0, le=100)]
VolumeGb = Annotated[int, Field(ge=20, le=16384)]


def _duplicates(values: list) -> list[tuple[int, Any]]:
    """(index, value) of every repeat after its first occurrence."""
    seen: set = set()
    out = []
    for index, value in enumerate(values):
        if value in seen:
            out.append((index, value))
        seen.add(value)
    return out


# --- regions and network ------------------------------------------------------


class Region(Model):
    """One AWS region of the environment; the first listed is the primary."""

    name: AwsRegion
    cidr: VpcCidr


class NetworkConfig(Model):
    """How each region's VPC is laid out (the CIDR comes from its region entry)."""

    #: Availability zones to spread subnets over (default 2).
    az_count: Annotated[int, Field(ge=2, le=4)] = 2
    #: `one-per-az` (default; an AZ outage keeps egress) or `single` (cheaper, for dev).
    nat_gateways: Literal["one-per-az", "single"] = "one-per-az"


# --- cluster ------------------------------------------------------------------


class ImageConfig(Model):
    """The machine image of cluster nodes: a fixed AMI, or the public SSM parameter that names one."""

    ami: AmiId | None = None
    #: Ubuntu 24.04 LTS (Python 3.12), resolved at deploy time in each region.
    ssm_parameter: str = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"


class HeadConfig(Model):
    instance_type: InstanceTypeName
    root_volume_gb: VolumeGb = 100


SpotAllocationStrategy = Literal[
    "price-capacity-optimized", "capacity-optimized", "capacity-optimized-prioritized", "lowest-price"
]


class SpotConfig(Model):
    """How a worker group uses spot capacity (mirrors the ASG's InstancesDistribution)."""

    enabled: bool = True
    #: Workers always on on-demand capacity before spot is used (default 0).
    on_demand_base: Annotated[int, Field(ge=0)] = 0
    #: Share of workers above the base that run on-demand, 0-100 (default 0: all spot).
    on_demand_percent_above_base: Percent = 0
    allocation_strategy: SpotAllocationStrategy = "price-capacity-optimized"
    #: Seconds a spot shortfall may last before it moves to the on-demand twin (default 180).
    fallback_after_seconds: Annotated[int, Field(ge=0, le=3600)] = 180
    #: Workers per minute moved back from the on-demand twin to spot once spot launches again
    #: (default 3; 0 leaves them on on-demand until demand falls).
    consolidate_nodes_per_minute: Annotated[int, Field(ge=0, le=60)] = 3


class WorkerGroup(Model):
    """A Ray node type: a spot ASG plus its on-demand fallback twin."""

    name: Name
    instance_types: Annotated[list[InstanceTypeName], Field(min_length=1)]
    min_workers: Annotated[int, Field(ge=0)] = 0
    max_workers: Annotated[int, Field(ge=0)]
    #: The count a cost estimate assumes as typical (default: min_workers).
    expected_workers: Annotated[int, Field(ge=0)] | None = None
    root_volume_gb: VolumeGb = 100
    spot: SpotConfig = SpotConfig()
    #: Custom Ray resources each node of this group advertises (whole numbers; default none).
    resources: dict[str, Annotated[float, Field(ge=0)]] = {}
    image: ImageConfig | None = None

    @model_validator(mode="after")
    def _counts_in_order(self) -> WorkerGroup:
        if self.min_workers > self.max_workers:
            raise Rule(
                f"minWorkers ({self.min_workers}) must be less than or equal to maxWorkers ({self.max_workers})",
                "lower minWorkers or raise maxWorkers",
                at=("minWorkers",),
                value=self.min_workers,
            )
        if self.expected_workers is not None and not (
            self.min_workers <= self.expected_workers <= self.max_workers
        ):
            raise Rule(
                f"expectedWorkers must lie between minWorkers ({self.min_workers}) "
                f"and maxWorkers ({self.max_workers})",
                "set expectedWorkers within that range, or remove it to assume minWorkers",
                at=("expectedWorkers",),
                value=self.expected_workers,
            )
        for index, repeated in _duplicates(self.instance_types):
            raise Rule(
                "is listed twice in instanceTypes",
                "remove the repeat",
                at=("instanceTypes", index),
                value=repeated,
            )
        for key, amount in self.resources.items():
            if key in RAY_BUILTIN_RESOURCES:
                raise Rule(
                    "is a resource Ray sets itself from the instance type",
                    "remove it, or give the custom resource another name",
                    at=("resources", key),
                    value=int(amount) if amount == int(amount) else amount,
                )
            if amount != int(amount):
                # Ray's autoscaler schema only accepts whole resource quantities per node type.
                raise Rule(
                    "must be a whole number (Ray's autoscaler counts node resources in whole units)",
                    f"use {int(amount)} or {int(amount) + 1}",
                    at=("resources", key),
                    value=int(amount) if amount == int(amount) else amount,
                )
        with_gpu = [t for t in self.instance_types if instance_type(t).gpus > 0]
        if with_gpu and len(with_gpu) != len(self.instance_types):
            index, odd = next((i, t) for i, t in enumerate(self.instance_types) if t not in with_gpu)
            raise Rule(
                f"is a CPU-only type in a group of GPU types ({', '.join(with_gpu)})",
                "put GPU and CPU-only types in separate worker groups",
                at=("instanceTypes", index),
                value=odd,
            )
        return self

    @property
    def expected(self) -> int:
        return self.min_workers if self.expected_workers is None else self.expected_workers

    @property
    def smallest_type(self):
        """The group's smallest instance type: the resources Ray may count on for any node of it."""
        return smallest(self.instance_types)

    @property
    def has_gpus(self) -> bool:
        return self.smallest_type.gpus > 0


class RedisConfig(Model):
    """The ElastiCache replication group that keeps the GCS state when headFaultTolerance is on."""

    node_type: str = "cache.t4g.medium"
    #: Read replicas besides the primary (default 1, in another AZ).
    replicas: Annotated[int, Field(ge=0, le=5)] = 1


class ClusterConfig(Model):
    ray_version: RayVersion
    head: HeadConfig
    worker_groups: Annotated[list[WorkerGroup], Field(min_length=1)]
    idle_timeout_minutes: Annotated[float, Field(gt=0, le=1440)] = 5
    upscaling_speed: Annotated[float, Field(gt=0, le=100)] = 1.0
    head_fault_tolerance: bool = False
    redis: RedisConfig = RedisConfig()
    #: CIDR blocks that may reach the Ray dashboard (8265); default: none.
    operator_cidrs: list[Cidr] = []
    image: ImageConfig = ImageConfig()

    @model_validator(mode="after")
    def _group_names_unique(self) -> ClusterConfig:
        names = [g.name for g in self.worker_groups]
        for index, name in _duplicates(names):
            raise Rule(
                "is already the name of another worker group",
                "give each worker group its own name",
                at=("workerGroups", index, "name"),
                value=name,
            )
        for index, name in enumerate(names):
            if name == HEAD_NODE_TYPE:
                raise Rule(
                    "is reserved for the head node",
                    "name the worker group something else, for example 'cpu'",
                    at=("workerGroups", index, "name"),
                    value=name,
                )
        return self


# --- serve --------------------------------------------------------------------


class AutoscalingConfig(Model):
    min_replicas: Annotated[int, Field(ge=0)] = 1
    max_replicas: Annotated[int, Field(ge=1)] = 1
    target_ongoing_requests: Annotated[float, Field(gt=0)] = 2
    initial_replicas: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _counts_in_order(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise Rule(
                f"minReplicas ({self.min_replicas}) must be less than or equal to maxReplicas ({self.max_replicas})",
                "lower minReplicas or raise maxReplicas",
                at=("minReplicas",),
                value=self.min_replicas,
            )
        if self.initial_replicas is not None and not (
            self.min_replicas <= self.initial_replicas <= self.max_replicas
        ):
            raise Rule(
                f"initialReplicas must lie between minReplicas ({self.min_replicas}) "
                f"and maxReplicas ({self.max_replicas})",
                "set initialReplicas within that range, or remove it",
                at=("initialReplicas",),
                value=self.initial_replicas,
            )
        return self


class ReplicaResources(Model):
    """What each replica asks Ray for."""

    cpus: Annotated[float, Field(gt=0)] = 1
    gpus: Annotated[float, Field(ge=0)] = 0
    memory_gb: Annotated[float, Field(ge=0)] = 0


class RuntimeEnv(Model):
    """What replicas of an application need besides its code (Ray's `runtime_env`)."""

    #: Requirements, or the path of a requirements file relative to the application's `source`.
    pip: list[str] | str = []
    env_vars: dict[str, str] = {}


class DeploymentOverride(Model):
    """Settings of one deployment of an application, by its name (`deployments.<name>`)."""

    num_replicas: Annotated[int, Field(ge=1)] | None = None
    autoscaling: AutoscalingConfig | None = None
    resources: ReplicaResources | None = None
    max_ongoing_requests: Annotated[int, Field(ge=1)] | None = None
    user_config: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_scaling(self) -> DeploymentOverride:
        if self.num_replicas is not None and self.autoscaling is not None:
            raise Rule(
                "takes either numReplicas or autoscaling, not both",
                "keep numReplicas for a fixed count, or autoscaling for a range",
                at=("numReplicas",),
                value=self.num_replicas,
            )
        return self


class SmokeRequest(Model):
    """A request `rayfleet local up` POSTs to the application, and what its JSON answer must contain."""

    body: Any
    #: Keys and values the answer must have.
    expect: dict[str, Any] = {}


class DriftConfig(Model):
    """When an application's inputs have drifted from its model's baseline far enough to raise an alarm."""

    #: The largest per-feature population stability index tolerated; 0.2 is the usual "significant shift".
    threshold: Annotated[float, Field(gt=0, le=10)] = 0.2


class ServeApp(Model):
    name: Name
    import_path: ImportPath
    route_prefix: RoutePrefix
    #: The folder holding the application's code: absolute, or relative to the project root (the default).
    source: str | None = None
    runtime_env: RuntimeEnv = RuntimeEnv()
    #: Settings of the ingress deployment; other deployments keep their own unless `deployments` names them.
    autoscaling: AutoscalingConfig = AutoscalingConfig()
    resources: ReplicaResources = ReplicaResources()
    max_ongoing_requests: Annotated[int, Field(ge=1)] = 8
    #: Arguments passed to the application builder; `${models}` in a string becomes the target's models base.
    args: dict[str, Any] = {}
    deployments: dict[str, DeploymentOverride] = {}
    smoke_request: SmokeRequest | None = None
    drift: DriftConfig = DriftConfig()


class ServeConfig(Model):
    applications: list[ServeApp] = []
    #: What takes HTTP on every node (port 8000): `haproxy`, Ray Serve's high-throughput HAProxy
    #: ingress, or `python`, Serve's own proxy. Both serve plain HTTP; TLS ends at the load balancer.
    ingress: Ingress = DEFAULT_INGRESS

    @model_validator(mode="after")
    def _unique(self) -> ServeConfig:
        for field, label in (("name", "name"), ("route_prefix", "routePrefix")):
            values = [getattr(app, field) for app in self.applications]
            for index, value in _duplicates(values):
                raise Rule(
                    f"is already the {label} of another application",
                    f"give each application its own {label}",
                    at=("applications", index, label),
                    value=value,
                )
        return self


# --- ingress, failover and cost ----------------------------------------------


class IngressConfig(Model):
    """The internet-facing load balancer each region puts in front of Serve's proxies (port 8000).

    HTTPS needs a certificate per region (ACM certificates are regional). A region
    listed in `certificateArns` uses that certificate. A region not listed gets one
    issued for `failover.domain` and DNS-validated in `failover.hostedZone` when
    the environment has `failover`; without `failover` there is no domain to issue
    a certificate for, so that region's load balancer serves plain HTTP on port 80
    (fine for dev, where traffic is test traffic; say so before sending real data).
    """

    #: ACM certificate ARN per region, for the HTTPS listener (default: none).
    certificate_arns: dict[str, CertificateArn] = {}


#: Route 53 answers an alias record with the TTL of the record it points to: 60 s for a load balancer.
ALIAS_TTL_SECONDS = 60


class FailoverConfig(Model):
    """One DNS name for the environment, moved between regions by Route 53 health checks."""

    mode: Literal["active-passive", "active-active"]
    domain: DnsName
    hosted_zone: DnsName
    #: TTL of the failover records, in seconds: always 60, the load balancers' own (the records are aliases).
    ttl_seconds: Annotated[int, Field(ge=5, le=86400)] = ALIAS_TTL_SECONDS

    @model_validator(mode="after")
    def _domain_in_zone(self) -> FailoverConfig:
        if not (self.domain == self.hosted_zone or self.domain.endswith("." + self.hosted_zone)):
            raise Rule(
                f"is not inside hostedZone '{self.hosted_zone}'",
                f"use a name ending in '.{self.hosted_zone}', or change hostedZone",
                at=("domain",),
                value=self.domain,
            )
        if self.ttl_seconds != ALIAS_TTL_SECONDS:
            raise Rule(
                f"must be {ALIAS_TTL_SECONDS}: the failover records are aliases of the load balancers, which "
                f"Route 53 always answers with the load balancers' own {ALIAS_TTL_SECONDS}-second TTL",
                f"remove ttlSeconds, or set it to {ALIAS_TTL_SECONDS}",
                at=("ttlSeconds",),
                value=self.ttl_seconds,
            )
        return self


class CostConfig(Model):
    #: Cost-allocation tags added to every resource (besides rayfleet's own).
    tags: dict[str, str] = {}
    monthly_budget_usd: Annotated[Decimal, Field(gt=0)] | None = None
    alert_emails: list[Email] = []
    #: Activate rayfleet's and these tag keys as cost-allocation tags (default false). Activation is
    #: account-wide, so one environment per account owns it (of the shipped files, prod). Cost
    #: Explorer accepts a key only once it has appeared in billing data (about a day after the first
    #: tagged resource) and only in an organization's management account; a destroy leaves the keys
    #: active.
    activate_tags: bool = False

    @model_validator(mode="after")
    def _tags_valid(self) -> CostConfig:
        for key, value in self.tags.items():
            if key.lower().startswith(("aws:", "rayfleet:")):
                raise Rule(
                    "uses a reserved prefix ('aws:' and 'rayfleet:' belong to AWS and rayfleet)",
                    "choose a key without that prefix",
                    at=("tags", key),
                    value=key,
                )
            if not _TAG_KEY_RE.match(key):
                raise Rule(
                    "is not a valid tag key (1-128 letters, digits, spaces or _ . : / = + - @)",
                    "rename the key",
                    at=("tags", key),
                    value=key,
                )
            if len(value) > 256:
                raise Rule("is longer than 256 characters", "shorten the tag value", at=("tags", key), value=value)
        return self


# --- observability ------------------------------------------------------------

#: The retention periods CloudWatch Logs accepts for a log group (PutRetentionPolicy), in days.
LOG_RETENTION_CHOICES = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                         2922, 3288, 3653)


def _check_retention(value: int) -> int:
    if value not in LOG_RETENTION_CHOICES:
        nearest = min(LOG_RETENTION_CHOICES, key=lambda days: abs(days - value))
        raise Rule("is not a retention period CloudWatch Logs accepts",
                   f"use one of {', '.join(map(str, LOG_RETENTION_CHOICES))} (nearest: {nearest})")
    return value


#: CloudWatch refuses an alarm that evaluates more than one day of one-minute periods.
MAX_EVALUATION_MINUTES = 1440
#: The load balancers' idle timeout (components/serve_ingress/plan.py, which imports pulumi as this module
#: must not; a test keeps the two equal).
ALB_IDLE_TIMEOUT_SECONDS = 60


class AlarmsConfig(Model):
    """The thresholds of an environment's alarms, one set per region, sent to its `cost.alertEmails`.

    Drift thresholds are each application's own (`serve.applications[].drift.threshold`).
    """

    #: Percent of the load balancer's requests answered 5xx (by Serve or by the load balancer) that
    #: raises the alarm (default 5).
    error_rate_percent: Annotated[float, Field(gt=0, le=100)] = 5
    #: The targets' 99th-percentile response time, in seconds, that raises the alarm (default 2).
    latency_p99_seconds: Annotated[float, Field(gt=0)] = 2
    #: Healthy load-balancer targets below which the alarm fires (default: the workers the applications'
    #: minimum replicas need at least; 0 when every application may scale to zero).
    min_healthy_targets: Annotated[int, Field(ge=1)] | None = None
    #: Minutes a condition must last before its alarm fires (default 5; CloudWatch allows up to a day).
    evaluation_minutes: Annotated[int, Field(ge=1)] = 5

    @model_validator(mode="after")
    def _within_what_aws_measures(self) -> AlarmsConfig:
        # The load balancer cuts a request after its idle timeout: a threshold at or above it is never crossed.
        if self.latency_p99_seconds >= ALB_IDLE_TIMEOUT_SECONDS:
            raise Rule(
                f"must be below the load balancer's idle timeout ({ALB_IDLE_TIMEOUT_SECONDS} s), after which it "
                "cuts the request: no response takes longer",
                f"set latencyP99Seconds below {ALB_IDLE_TIMEOUT_SECONDS}, for example 2",
                at=("latencyP99Seconds",),
                value=self.latency_p99_seconds,
            )
        if self.evaluation_minutes > MAX_EVALUATION_MINUTES:
            raise Rule(
                f"must be at most {MAX_EVALUATION_MINUTES} (CloudWatch evaluates an alarm over one day at most)",
                f"set evaluationMinutes to {MAX_EVALUATION_MINUTES} or less",
                at=("evaluationMinutes",),
                value=self.evaluation_minutes,
            )
        return self


class ObservabilityConfig(Model):
    """What leaves the nodes (logs and metrics to CloudWatch) and what raises an alarm."""

    log_retention_days: Annotated[int, AfterValidator(_check_retention)] = 30
    alarms: AlarmsConfig = AlarmsConfig()


# --- blue/green upgrades -------------------------------------------------------

#: The two cluster slots a region can hold. `blue` keeps the names every stack had before slots
#: existed; `green` adds a suffix (see EnvironmentConfig.cluster_id).
Slot = Literal["blue", "green"]
SLOTS: tuple[Slot, Slot] = ("blue", "green")


class GroupChange(Model):
    """What a worker group of the new slot changes: its instance types (their architecture) and image."""

    instance_types: Annotated[list[InstanceTypeName], Field(min_length=1)] | None = None
    image: ImageConfig | None = None


class SlotCluster(Model):
    """The new slot's cluster: the live `rayfleet:cluster` with these changes, which cannot roll in place."""

    ray_version: RayVersion | None = None
    image: ImageConfig | None = None
    #: Changes per worker group, by the group's name.
    worker_groups: dict[str, GroupChange] = {}

    def applied_to(self, live: ClusterConfig) -> ClusterConfig:
        """The new slot's cluster: `live` with this change's fields in place of its own."""
        groups = [
            group.model_copy(update=_set_fields(self.worker_groups[group.name])) if group.name in self.worker_groups
            else group
            for group in live.worker_groups
        ]
        return live.model_copy(update={**_set_fields(self), "worker_groups": groups})


def _set_fields(model: BaseModel) -> dict[str, Any]:
    """The fields a change wrote, as models (a model_dump would turn nested models into dicts)."""
    return {name: getattr(model, name) for name in model.model_fields_set if name != "worker_groups"}


class UpgradeConfig(Model):
    """A blue/green upgrade in progress: a second cluster slot beside the live one, behind the same ALB.

    `rayfleet upgrade` writes and removes this key; the live slot is `rayfleet:slot`.
    """

    cluster: SlotCluster
    #: Percent of each region's traffic the new slot takes (default 0: it runs, but serves nothing).
    weight: Percent = 0


# --- the environment ----------------------------------------------------------


class EnvironmentConfig(Model):
    """A whole environment file. `env` and `aws_region` come from the file name and `aws:region`."""

    env: Name
    aws_region: AwsRegion | None = None
    regions: Annotated[list[Region], Field(min_length=1)]
    network: NetworkConfig = NetworkConfig()
    cluster: ClusterConfig
    serve: ServeConfig = ServeConfig()
    ingress: IngressConfig = IngressConfig()
    failover: FailoverConfig | None = None
    cost: CostConfig = CostConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    #: The slot `cluster` runs in (default blue); `rayfleet upgrade` flips it when it retires the old slot.
    slot: Slot = "blue"
    upgrade: UpgradeConfig | None = None

    @model_validator(mode="after")
    def _cross_field_rules(self) -> EnvironmentConfig:
        names = [r.name for r in self.regions]
        for index, name in _duplicates(names):
            raise Rule(
                "is listed twice in regions", "list each region once", at=("regions", index, "name"), value=name
            )
        for i, first in enumerate(self.regions):
            for j in range(i + 1, len(self.regions)):
                if first.cidr.overlaps(self.regions[j].cidr):
                    raise Rule(
                        f"overlaps regions[{i}].cidr ({first.cidr}) of {first.name}",
                        "give every region its own, non-overlapping block, for example 10.20.0.0/16",
                        at=("regions", j, "cidr"),
                        value=str(self.regions[j].cidr),
                    )
        if self.aws_region is not None and self.aws_region != names[0]:
            raise Rule(
                f"must equal the primary region, regions[0].name ({names[0]})",
                f"set aws:region to {names[0]}, or remove it",
                at=("awsRegion",),
                value=self.aws_region,
            )
        if self.failover is not None and len(self.regions) < 2:
            raise Rule(
                f"needs at least two regions (this environment has {len(self.regions)})",
                "add a second region to regions, or remove failover",
                at=("failover", "mode"),
                value=self.failover.mode,
            )
        if self.failover is not None and self.failover.mode == "active-passive" and len(self.regions) > 2:
            raise Rule(
                f"routes between exactly two regions, a primary and a secondary (this environment has "
                f"{len(self.regions)})",
                "use mode active-active to serve from every region, or list two regions",
                at=("failover", "mode"),
                value=self.failover.mode,
            )
        for region in self.ingress.certificate_arns:
            if region not in names:
                raise Rule(
                    f"is not a region of this environment ({', '.join(names)})",
                    "remove the entry, or add the region to regions",
                    at=("ingress", "certificateArns", region),
                    value=region,
                )
            in_arn = _ACM_ARN_RE.match(self.ingress.certificate_arns[region])["region"]
            if in_arn != region:
                raise Rule(
                    f"is a certificate of region {in_arn}, and a load balancer in {region} can only use "
                    "certificates of its own region",
                    f"request or import the certificate in {region} and use that ARN",
                    at=("ingress", "certificateArns", region),
                    value=self.ingress.certificate_arns[region],
                )
        self._replicas_fit()
        self._upgrade_changes_something()
        return self

    def _upgrade_changes_something(self) -> None:
        if self.upgrade is None:
            return
        groups = [g.name for g in self.cluster.worker_groups]
        for name in self.upgrade.cluster.worker_groups:
            if name not in groups:
                hint = closest(name, groups)
                raise Rule(
                    f"is not a worker group of rayfleet:cluster ({', '.join(groups)})",
                    f"did you mean '{hint}'?" if hint else "name a group of rayfleet:cluster.workerGroups",
                    at=("upgrade", "cluster", "workerGroups", name),
                    value=name,
                )
        if self.upgrade.cluster.applied_to(self.cluster) == self.cluster:
            raise Rule(
                "changes nothing: an upgrade starts a second cluster only for a change that cannot roll in place",
                "set upgrade.cluster.rayVersion, image or workerGroups.<name>.instanceTypes, or remove "
                "rayfleet:upgrade and run `pulumi up` for a change that rolls",
                at=("upgrade", "cluster"),
                value={},
            )

    def _replicas_fit(self) -> None:
        nodes = [g.smallest_type for g in self.cluster.worker_groups]
        for index, app in enumerate(self.serve.applications):
            needs = [((), app.resources)] + [
                (("deployments", name), o.resources) for name, o in app.deployments.items() if o.resources
            ]
            for below, need in needs:
                if any(n.vcpus >= need.cpus and n.gpus >= need.gpus for n in nodes):
                    continue
                biggest_cpu = max(n.vcpus for n in nodes)
                biggest_gpu = max(n.gpus for n in nodes)
                field, have = (
                    ("gpus", f"{biggest_gpu} GPUs") if need.gpus > biggest_gpu else ("cpus", f"{biggest_cpu} vCPUs")
                )
                raise Rule(
                    f"a replica needs more than any worker node offers (at most {have})",
                    f"lower resources.{field}, or add a worker group with larger instances",
                    at=("serve", "applications", index, *below, "resources", field),
                )

    # --- derived facts, used across the program -------------------------------

    @property
    def primary_region(self) -> Region:
        return self.regions[0]

    @property
    def region_names(self) -> list[str]:
        return [r.name for r in self.regions]

    def region(self, name: str) -> Region:
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(name)

    def tls_source(self, region: str) -> Literal["configured", "issued", "none"]:
        """Where the HTTPS certificate of `region`'s load balancer comes from (see IngressConfig)."""
        if region in self.ingress.certificate_arns:
            return "configured"
        return "issued" if self.failover is not None else "none"

    def cluster_id(self, region: str) -> str:
        """The `rayfleet:cluster` tag value, and Ray's cluster_name, of this environment's slot in `region`."""
        # The blue slot keeps the name clusters had before slots existed: renaming it would replace them.
        return self.region_id(region) + ("-green" if self.slot == "green" else "")

    def region_id(self, region: str) -> str:
        """The `rayfleet:cluster` tag of what a region's slots share (network, bucket, load balancer)."""
        return f"rayfleet-{self.env}-{region}"
