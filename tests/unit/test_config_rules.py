"""Every config rule rejects a malformed environment with its own exact message."""

from __future__ import annotations

import pytest

from components.errors import ConfigError
from stacks.loader import load_file
from tests.fakes.environments import ENVIRONMENTS, STACKS, stack_config, write_stack


_CERT_US_EAST_1 = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"


def _group(cfg, index=0):
    return cfg["rayfleet:cluster"]["workerGroups"][index]


def _app(cfg, index=0):
    return cfg["rayfleet:serve"]["applications"][index]


CASES = [
    (
        "unknown top-level key",
        lambda c: c.update({"rayfleet:clustr": {}}),
        "rayfleet:clustr = {}: is not a known key. Fix: did you mean 'rayfleet:cluster'?",
    ),
    (
        "unknown nested key",
        lambda c: _group(c).update(minWorker=3),
        "rayfleet:cluster.workerGroups[0].minWorker = 3: is not a known key. Fix: did you mean 'minWorkers'?",
    ),
    (
        "unknown key with no close match",
        lambda c: c["rayfleet:failover"].update(zzz=1),
        "rayfleet:failover.zzz = 1: is not a known key. "
        "Fix: remove it; known keys here: mode, domain, hostedZone, ttlSeconds.",
    ),
    (
        "log retention CloudWatch Logs does not accept",
        lambda c: c.update({"rayfleet:observability": {"logRetentionDays": 45}}),
        "rayfleet:observability.logRetentionDays = 45: is not a retention period CloudWatch Logs accepts. "
        "Fix: use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, "
        "2922, 3288, 3653 (nearest: 30).",
    ),
    (
        "latency alarm at the load balancer's idle timeout",
        lambda c: c.update({"rayfleet:observability": {"alarms": {"latencyP99Seconds": 60}}}),
        "rayfleet:observability.alarms.latencyP99Seconds = 60.0: must be below the load balancer's idle timeout "
        "(60 s), after which it cuts the request: no response takes longer. Fix: set latencyP99Seconds below 60, "
        "for example 2.",
    ),
    (
        "alarm evaluated over more than a day",
        lambda c: c.update({"rayfleet:observability": {"alarms": {"evaluationMinutes": 1441}}}),
        "rayfleet:observability.alarms.evaluationMinutes = 1441: must be at most 1440 (CloudWatch evaluates an "
        "alarm over one day at most). Fix: set evaluationMinutes to 1440 or less.",
    ),
    (
        "5xx ratio above 100 percent",
        lambda c: c.update({"rayfleet:observability": {"alarms": {"errorRatePercent": 120}}}),
        "rayfleet:observability.alarms.errorRatePercent = 120: must be at most 100.0. "
        "Fix: use a value of 100.0 or less.",
    ),
    (
        "no healthy target required",
        lambda c: c.update({"rayfleet:observability": {"alarms": {"minHealthyTargets": 0}}}),
        "rayfleet:observability.alarms.minHealthyTargets = 0: must be at least 1. Fix: use a value of 1 or more.",
    ),
    (
        "misspelt alarm threshold",
        lambda c: c.update({"rayfleet:observability": {"alarms": {"errorRatio": 5}}}),
        "rayfleet:observability.alarms.errorRatio = 5: is not a known key. Fix: did you mean 'errorRatePercent'?",
    ),
    (
        "key without namespace",
        lambda c: c.update({"regions": []}),
        "regions = []: has no namespace. Fix: write it as 'rayfleet:regions' (or 'aws:regions').",
    ),
    (
        "wrong type: string for a number",
        lambda c: _group(c).update(maxWorkers="lots"),
        "rayfleet:cluster.workerGroups[0].maxWorkers = 'lots': must be a whole number. "
        "Fix: write a whole number such as 3.",
    ),
    (
        "wrong type: scalar for a mapping",
        lambda c: c.update({"rayfleet:cluster": 5}),
        "rayfleet:cluster = 5: must be a mapping of keys to values. Fix: write 'key: value' pairs.",
    ),
    (
        "wrong type: boolean",
        lambda c: _group(c)["spot"].update(enabled="sometimes"),
        "rayfleet:cluster.workerGroups[0].spot.enabled = 'sometimes': must be true or false. "
        "Fix: write true or false.",
    ),
    (
        "missing required key",
        lambda c: c["rayfleet:cluster"].pop("head"),
        "rayfleet:cluster.head = (missing): is required. Fix: add it.",
    ),
    (
        "region that is not an AWS region",
        lambda c: c["rayfleet:regions"][1].update(name="us-west-9"),
        "rayfleet:regions[1].name = 'us-west-9': is not an AWS region. Fix: did you mean 'us-west-2'?",
    ),
    (
        "aws:region that is not the primary",
        lambda c: c.update({"aws:region": "us-west-2"}),
        "aws:region = 'us-west-2': must equal the primary region, regions[0].name (us-east-1). "
        "Fix: set aws:region to us-east-1, or remove it.",
    ),
    (
        "duplicate region",
        lambda c: c["rayfleet:regions"][1].update(name="us-east-1"),
        "rayfleet:regions[1].name = 'us-east-1': is listed twice in regions. Fix: list each region once.",
    ),
    (
        "unknown instance type",
        lambda c: _group(c).update(instanceTypes=["m6i.2xlarg"]),
        "rayfleet:cluster.workerGroups[0].instanceTypes[0] = 'm6i.2xlarg': is not an instance type rayfleet knows. "
        "Fix: did you mean 'm6i.2xlarge'?",
    ),
    (
        "unknown head instance type",
        lambda c: c["rayfleet:cluster"]["head"].update(instanceType="banana"),
        "rayfleet:cluster.head.instanceType = 'banana': is not an instance type rayfleet knows. "
        "Fix: use a type listed in cost/data/instances.json.",
    ),
    (
        "GPU and CPU types mixed in a group",
        lambda c: _group(c, 1).update(instanceTypes=["g5.xlarge", "m6i.xlarge"]),
        "rayfleet:cluster.workerGroups[1].instanceTypes[1] = 'm6i.xlarge': is a CPU-only type in a group of GPU "
        "types (g5.xlarge). Fix: put GPU and CPU-only types in separate worker groups.",
    ),
    (
        "invalid CIDR",
        lambda c: c["rayfleet:regions"][0].update(cidr="10.10.0.0/33"),
        "rayfleet:regions[0].cidr = '10.10.0.0/33': is not an IPv4 CIDR block. "
        "Fix: write it as a.b.c.d/n, for example '10.10.0.0/16'.",
    ),
    (
        "CIDR with host bits",
        lambda c: c["rayfleet:regions"][0].update(cidr="10.10.5.0/16"),
        "rayfleet:regions[0].cidr = '10.10.5.0/16': has host bits set. Fix: use the network address '10.10.0.0/16'.",
    ),
    (
        "public CIDR",
        lambda c: c["rayfleet:regions"][0].update(cidr="8.8.0.0/16"),
        "rayfleet:regions[0].cidr = '8.8.0.0/16': must lie in private address space "
        "(10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16). Fix: choose a block such as '10.10.0.0/16'.",
    ),
    (
        "CIDR too small",
        lambda c: c["rayfleet:regions"][0].update(cidr="10.10.0.0/24"),
        "rayfleet:regions[0].cidr = '10.10.0.0/24': must have a prefix length between /16 and /22 (got /24). "
        "Fix: use a /16 to /22 block, for example '10.10.0.0/16'.",
    ),
    (
        "overlapping CIDRs between regions",
        lambda c: c["rayfleet:regions"][1].update(cidr="10.10.128.0/17"),
        "rayfleet:regions[1].cidr = '10.10.128.0/17': overlaps regions[0].cidr (10.10.0.0/16) of us-east-1. "
        "Fix: give every region its own, non-overlapping block, for example 10.20.0.0/16.",
    ),
    (
        "minWorkers above maxWorkers",
        lambda c: _group(c).update(minWorkers=30),
        "rayfleet:cluster.workerGroups[0].minWorkers = 30: minWorkers (30) must be less than or equal to "
        "maxWorkers (20). Fix: lower minWorkers or raise maxWorkers.",
    ),
    (
        "expectedWorkers outside min..max",
        lambda c: _group(c).update(expectedWorkers=50),
        "rayfleet:cluster.workerGroups[0].expectedWorkers = 50: expectedWorkers must lie between minWorkers (2) "
        "and maxWorkers (20). Fix: set expectedWorkers within that range, or remove it to assume minWorkers.",
    ),
    (
        "negative workers",
        lambda c: _group(c).update(minWorkers=-1),
        "rayfleet:cluster.workerGroups[0].minWorkers = -1: must be at least 0. Fix: use a value of 0 or more.",
    ),
    (
        "minReplicas above maxReplicas",
        lambda c: _app(c)["autoscaling"].update(minReplicas=30),
        "rayfleet:serve.applications[0].autoscaling.minReplicas = 30: minReplicas (30) must be less than or "
        "equal to maxReplicas (20). Fix: lower minReplicas or raise maxReplicas.",
    ),
    (
        "percentage above 100",
        lambda c: _group(c)["spot"].update(onDemandPercentAboveBase=120),
        "rayfleet:cluster.workerGroups[0].spot.onDemandPercentAboveBase = 120: must be at most 100. "
        "Fix: use a value of 100 or less.",
    ),
    (
        "percentage below 0",
        lambda c: _group(c)["spot"].update(onDemandPercentAboveBase=-5),
        "rayfleet:cluster.workerGroups[0].spot.onDemandPercentAboveBase = -5: must be at least 0. "
        "Fix: use a value of 0 or more.",
    ),
    (
        "unknown spot strategy",
        lambda c: _group(c)["spot"].update(allocationStrategy="cheapest"),
        "rayfleet:cluster.workerGroups[0].spot.allocationStrategy = 'cheapest': must be one of "
        "'price-capacity-optimized', 'capacity-optimized', 'capacity-optimized-prioritized' or 'lowest-price'. "
        "Fix: use one of those values.",
    ),
    (
        "duplicate worker group names",
        lambda c: _group(c, 1).update(name="cpu"),
        "rayfleet:cluster.workerGroups[1].name = 'cpu': is already the name of another worker group. "
        "Fix: give each worker group its own name.",
    ),
    (
        "invalid worker group name",
        lambda c: _group(c).update(name="CPU_Pool"),
        "rayfleet:cluster.workerGroups[0].name = 'CPU_Pool': must be 1-24 lowercase letters, digits or '-', "
        "starting with a letter and not ending with '-'. Fix: rename it, for example to 'cpu-pool'.",
    ),
    (
        "worker group named head",
        lambda c: _group(c).update(name="head"),
        "rayfleet:cluster.workerGroups[0].name = 'head': is reserved for the head node. "
        "Fix: name the worker group something else, for example 'cpu'.",
    ),
    (
        "duplicate application names",
        lambda c: _app(c, 1).update(name="sentiment"),
        "rayfleet:serve.applications[1].name = 'sentiment': is already the name of another application. "
        "Fix: give each application its own name.",
    ),
    (
        "duplicate route prefixes",
        lambda c: _app(c, 1).update(routePrefix="/sentiment"),
        "rayfleet:serve.applications[1].routePrefix = '/sentiment': is already the routePrefix of another "
        "application. Fix: give each application its own routePrefix.",
    ),
    (
        "route prefix without slash",
        lambda c: _app(c).update(routePrefix="sentiment"),
        "rayfleet:serve.applications[0].routePrefix = 'sentiment': must start with '/' and contain only path "
        "segments of letters, digits, '.', '_', '~' or '-'. Fix: write it like '/sentiment' (no trailing '/').",
    ),
    (
        "bad import path",
        lambda c: _app(c).update(importPath="serve_apps/sentiment.py"),
        "rayfleet:serve.applications[0].importPath = 'serve_apps/sentiment.py': must be "
        "'package.module:attribute'. Fix: write it like 'serve_apps.sentiment:app'.",
    ),
    (
        "unknown application key",
        lambda c: _app(c).update(sorce="apps"),
        "rayfleet:serve.applications[0].sorce = 'apps': is not a known key. Fix: did you mean 'source'?",
    ),
    (
        "unknown runtime env key",
        lambda c: _app(c).update(runtimeEnv={"envvars": {"A": "1"}}),
        "rayfleet:serve.applications[0].runtimeEnv.envvars = {'A': '1'}: is not a known key. "
        "Fix: did you mean 'envVars'?",
    ),
    (
        "unknown deployment override key",
        lambda c: _app(c).update(deployments={"Sentiment": {"numReplica": 2}}),
        "rayfleet:serve.applications[0].deployments.Sentiment.numReplica = 2: is not a known key. "
        "Fix: did you mean 'numReplicas'?",
    ),
    (
        "unknown smoke request key",
        lambda c: _app(c)["smokeRequest"].update(expected={"label": "positive"}),
        "rayfleet:serve.applications[0].smokeRequest.expected = {'label': 'positive'}: is not a known key. "
        "Fix: did you mean 'expect'?",
    ),
    (
        "override with replicas and autoscaling",
        lambda c: _app(c).update(deployments={"Sentiment": {"numReplicas": 2, "autoscaling": {"maxReplicas": 3}}}),
        "rayfleet:serve.applications[0].deployments.Sentiment.numReplicas = 2: takes either numReplicas or "
        "autoscaling, not both. Fix: keep numReplicas for a fixed count, or autoscaling for a range.",
    ),
    (
        "override replica larger than any node",
        lambda c: _app(c).update(deployments={"Sentiment": {"resources": {"gpus": 2}}}),
        "rayfleet:serve.applications[0].deployments.Sentiment.resources.gpus = 2: a replica needs more than "
        "any worker node offers (at most 1 GPUs). Fix: lower resources.gpus, or add a worker group with larger "
        "instances.",
    ),
    (
        "replica larger than any node",
        lambda c: _app(c)["resources"].update(cpus=64),
        "rayfleet:serve.applications[0].resources.cpus = 64: a replica needs more than any worker node offers "
        "(at most 8 vCPUs). Fix: lower resources.cpus, or add a worker group with larger instances.",
    ),
    (
        "custom resource that Ray sets itself",
        lambda c: _group(c).update(resources={"GPU": 1}),
        "rayfleet:cluster.workerGroups[0].resources.GPU = 1: is a resource Ray sets itself from the instance "
        "type. Fix: remove it, or give the custom resource another name.",
    ),
    (
        "fractional custom resource",
        lambda c: _group(c).update(resources={"accelerator_slots": 1.5}),
        "rayfleet:cluster.workerGroups[0].resources.accelerator_slots = 1.5: must be a whole number (Ray's "
        "autoscaler counts node resources in whole units). Fix: use 1 or 2.",
    ),
    (
        "failover with one region",
        lambda c: c.update({"rayfleet:regions": c["rayfleet:regions"][:1]}),
        "rayfleet:failover.mode = 'active-passive': needs at least two regions (this environment has 1). "
        "Fix: add a second region to regions, or remove failover.",
    ),
    (
        "active-passive failover over three regions",
        lambda c: c["rayfleet:regions"].append({"name": "eu-west-1", "cidr": "10.30.0.0/16"}),
        "rayfleet:failover.mode = 'active-passive': routes between exactly two regions, a primary and a secondary "
        "(this environment has 3). Fix: use mode active-active to serve from every region, or list two regions.",
    ),
    (
        "unknown failover mode",
        lambda c: c["rayfleet:failover"].update(mode="active-standby"),
        "rayfleet:failover.mode = 'active-standby': must be one of 'active-passive' or 'active-active'. "
        "Fix: use one of those values.",
    ),
    (
        "failover domain outside its zone",
        lambda c: c["rayfleet:failover"].update(domain="api.example.org"),
        "rayfleet:failover.domain = 'api.example.org': is not inside hostedZone 'example.com'. "
        "Fix: use a name ending in '.example.com', or change hostedZone.",
    ),
    (
        "failover TTL other than the load balancers' alias TTL",
        lambda c: c["rayfleet:failover"].update(ttlSeconds=300),
        "rayfleet:failover.ttlSeconds = 300: must be 60: the failover records are aliases of the load balancers, "
        "which Route 53 always answers with the load balancers' own 60-second TTL. "
        "Fix: remove ttlSeconds, or set it to 60.",
    ),
    (
        "ingress certificate that is not an ACM ARN",
        lambda c: c.update({"rayfleet:ingress": {"certificateArns": {"us-east-1": "my-cert"}}}),
        "rayfleet:ingress.certificateArns.us-east-1 = 'my-cert': is not an ACM certificate ARN. "
        "Fix: copy the ARN from 'aws acm list-certificates', like "
        "'arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9'.",
    ),
    (
        "ingress certificate of another region",
        lambda c: c.update({"rayfleet:ingress": {"certificateArns": {"us-west-2": _CERT_US_EAST_1}}}),
        "rayfleet:ingress.certificateArns.us-west-2 = 'arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-...: "
        "is a certificate of region us-east-1, and a load balancer in us-west-2 can only use certificates of its "
        "own region. Fix: request or import the certificate in us-west-2 and use that ARN.",
    ),
    (
        "ingress certificate for a region the environment lacks",
        lambda c: c.update({"rayfleet:ingress": {"certificateArns": {"eu-west-1": _CERT_US_EAST_1}}}),
        "rayfleet:ingress.certificateArns.eu-west-1 = 'eu-west-1': is not a region of this environment "
        "(us-east-1, us-west-2). Fix: remove the entry, or add the region to regions.",
    ),
    (
        "non-positive budget",
        lambda c: c["rayfleet:cost"].update(monthlyBudgetUsd=0),
        "rayfleet:cost.monthlyBudgetUsd = 0: must be greater than 0. Fix: use a value above 0.",
    ),
    (
        "reserved cost tag prefix",
        lambda c: c["rayfleet:cost"]["tags"].update({"rayfleet:env": "x"}),
        "rayfleet:cost.tags.rayfleet:env = 'rayfleet:env': uses a reserved prefix ('aws:' and 'rayfleet:' belong "
        "to AWS and rayfleet). Fix: choose a key without that prefix.",
    ),
    (
        "bad alert email",
        lambda c: c["rayfleet:cost"].update(alertEmails=["ml-platform"]),
        "rayfleet:cost.alertEmails[0] = 'ml-platform': is not an email address. Fix: write it like 'team@example.com'.",
    ),
    (
        "ray version of another minor",
        lambda c: c["rayfleet:cluster"].update(rayVersion="2.58.1"),
        "rayfleet:cluster.rayVersion = '2.58.1': must be a 2.60.x release, the Ray this rayfleet deploys with "
        "(clusters must run the same Ray as the client that deploys to them). Fix: set it to '2.60.0', or install "
        "the rayfleet release built for Ray 2.58.",
    ),
    (
        "no worker groups",
        lambda c: c["rayfleet:cluster"].update(workerGroups=[]),
        "rayfleet:cluster.workerGroups = []: must have at least 1 item. Fix: add the missing entries.",
    ),
]


@pytest.mark.parametrize("mutate, expected", [pytest.param(m, e, id=i) for i, m, e in CASES])
def test_rule_rejects_with_exact_message(tmp_path, mutate, expected):
    config = stack_config("prod")
    mutate(config)
    path = write_stack(tmp_path, config)
    with pytest.raises(ConfigError) as caught:
        load_file(path)
    assert [str(issue) for issue in caught.value.issues] == [expected]


def test_every_problem_in_a_file_is_reported_at_once(tmp_path):
    config = stack_config("prod")
    config["rayfleet:serv"] = {}
    config["rayfleet:regions"] = []
    _group(config)["maxWorkers"] = "lots"
    with pytest.raises(ConfigError) as caught:
        load_file(write_stack(tmp_path, config))
    paths = [issue.path for issue in caught.value.issues]
    assert paths == ["rayfleet:serv", "rayfleet:regions", "rayfleet:cluster.workerGroups[0].maxWorkers"]
    assert str(caught.value).startswith(f"{tmp_path / 'Pulumi.test.yaml'}: 3 problems\n  - rayfleet:serv = {{}}")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_shipped_environments_are_valid(env):
    cfg = load_file(STACKS / f"Pulumi.{env}.yaml")
    assert cfg.env == env


def test_defaults_are_filled_in(tmp_path):
    config = stack_config("dev")
    del config["rayfleet:network"]
    group = _group(config)
    del group["spot"]
    cfg = load_file(write_stack(tmp_path, config))
    assert cfg.network.az_count == 2 and cfg.network.nat_gateways == "one-per-az"
    spot = cfg.cluster.worker_groups[0].spot
    assert (spot.enabled, spot.on_demand_base, spot.on_demand_percent_above_base, spot.allocation_strategy) == (
        True,
        0,
        0,
        "price-capacity-optimized",
    )
    assert cfg.cluster.operator_cidrs == []
    assert cfg.failover is None


def test_expected_workers_defaults_to_min(tmp_path):
    config = stack_config("prod")
    del _group(config)["expectedWorkers"]
    cfg = load_file(write_stack(tmp_path, config))
    assert cfg.cluster.worker_groups[0].expected == 2


def test_tls_comes_from_config_then_failover_domain_then_none(tmp_path):
    config = stack_config("prod")
    config["rayfleet:ingress"] = {"certificateArns": {"us-east-1": _CERT_US_EAST_1}}
    prod = load_file(write_stack(tmp_path, config))
    assert [prod.tls_source(r) for r in prod.region_names] == ["configured", "issued"]
    dev = load_file(STACKS / "Pulumi.dev.yaml")
    assert dev.tls_source("us-west-2") == "none"


def test_cost_tags_are_not_activated_unless_the_file_says_so(tmp_path):
    # Cost Explorer refuses to activate keys in a new or member account: a stack that does not ask never tries.
    config = stack_config("prod")
    del config["rayfleet:cost"]["activateTags"]
    assert load_file(write_stack(tmp_path, config)).cost.activate_tags is False


def test_one_shipped_stack_owns_the_accounts_cost_tag_activation():
    # Activation is account-wide; two owners would fight over it, and a destroyed one used to deactivate it.
    owners = [env for env in ENVIRONMENTS if load_file(STACKS / f"Pulumi.{env}.yaml").cost.activate_tags]
    assert owners == ["prod"]


def test_the_owning_stack_activates_every_shipped_stacks_cost_tag_keys():
    # Only the owner activates keys, so a key another stack tags with would never reach billing reports.
    configs = [load_file(STACKS / f"Pulumi.{env}.yaml") for env in ENVIRONMENTS]
    (owner,) = [cfg for cfg in configs if cfg.cost.activate_tags]
    assert {key for cfg in configs for key in cfg.cost.tags} <= set(owner.cost.tags)
