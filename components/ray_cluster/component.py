"""The RayCluster component: one region's self-healing, spot-first, locked-down Ray cluster.

    cluster = RayCluster("cluster-us-east-1", RayClusterArgs(region="us-east-1", nodes=nodes, ...),
                         opts=pulumi.ResourceOptions(provider=aws_us_east_1))
    cluster.head_asg_name, cluster.worker_asg_names["cpu"]["spot"], cluster.dashboard_url
    cluster.allow_serve_from("ingress", alb_sg.id)    # the ingress opens Serve's port to its load balancer

It creates: security groups (security.py), node roles scoped by permissions.py,
a private DNS zone for the stable head address, the dashboard-token secret, a
log group, with head fault tolerance an ElastiCache Redis replication group,
launch templates whose user data comes from userdata.py, and one ASG per
`GroupAsg` of the node-group model: the head's (1/1/1) and, per worker group,
a spot ASG plus its on-demand twin. Pulumi owns the ASGs; Ray's autoscaler
owns their desired capacity.

Every ASG runs its template's latest version, pinned by number, and refreshes
its instances when that number changes (plan.worker_refresh, plan.HEAD_REFRESH):
a change to the user data (Ray's config, the node-agent package's key), the
image or the instance types reaches running nodes. ASGs wait for the node-agent
object and the node roles' policies, which a node's first boot needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.contract import Market, metrics_namespace
from components.node_groups import ROOT_DEVICE, ROOT_VOLUME_TYPE, GroupAsg, NodeGroup
from components.ray_cluster import permissions
from components.ray_cluster.args import NodeImage, RayClusterArgs
from components.ray_cluster.autoscaler_config import autoscaler_config, to_yaml
from components.ray_cluster.cloudwatch_agent import debian_arch
from components.ray_cluster.gcs_store import GcsStore
from components.ray_cluster.plan import (
    COMPONENT,
    DASHBOARD_PORT,
    DRAIN_HEARTBEAT_SECONDS,
    DRAIN_HOOK,
    HEAD_NODE_TYPE,
    HEAD_REFRESH,
    NEGATIVE_CACHE_TTL,
    REDIS_PORT,
    Refresh,
    head_record_name,
    log_group_name,
    private_zone_name,
    private_zone_soa,
    resource_tags,
    smallest_type,
    worker_refresh,
)
from components.ray_cluster.security import ClusterSecurity
from components.ray_cluster.userdata import NodeBoot, RedisBoot, encode_user_data, render_head, render_worker
from components.tags import asg_tags

@dataclass(frozen=True)
class ClusterStores:
    """Where the cluster keeps its state: what the node policies name and the user data points at."""

    zone: aws.route53.Zone
    token_secret: aws.secretsmanager.Secret
    log_group: aws.cloudwatch.LogGroup
    #: With head fault tolerance: the GCS store and the secret holding its AUTH token.
    redis: aws.elasticache.ReplicationGroup | None = None
    redis_auth: aws.secretsmanager.Secret | None = None


class RayCluster(pulumi.ComponentResource):
    cluster_name: str
    head_address: str
    dashboard_url: str
    head_asg_name: pulumi.Output[str]
    #: {group: {market value: name}}: "spot" and "on-demand" ("spot" absent when the group's spot is disabled).
    worker_asg_names: dict[str, dict[str, pulumi.Output[str]]]
    #: Every ASG resource (the head's too) by its `GroupAsg.role`, for load-balancer registration.
    asgs: dict[str, aws.autoscaling.Group]
    node_security_group_id: pulumi.Output[str]
    dashboard_token_secret_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RayClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"rayfleet:{COMPONENT}:RayCluster", name, None, opts)
        self._name = name
        self.args = args
        self.cluster_name = args.cluster_id
        self.head_address = head_record_name(args.cluster_id)
        self.dashboard_url = f"http://{self.head_address}:{DASHBOARD_PORT}"

        self.security = ClusterSecurity(name, args, self)
        #: Per node role ("head", "worker"), the policies its instances need from their first boot.
        self._role_grants: dict[str, list[pulumi.Resource]] = {}
        stores = self._stores()
        scope = self._permission_scope(stores)
        self.head_instance_profile = self._role(HEAD_NODE_TYPE, scope.apply(lambda s: json.dumps(permissions.head_policy(s))))
        self.worker_instance_profile = self._role("worker", scope.apply(lambda s: json.dumps(permissions.worker_policy(s))))
        self.asgs = self._node_groups(stores, self.head_instance_profile, self.worker_instance_profile)

        (head,) = args.nodes.head.asgs
        self.head_asg = self.asgs[head.role]
        self.head_asg_name = self.head_asg.name
        self.worker_asg_names = {
            group.name: {asg.market.value: self.asgs[asg.role].name for asg in group.asgs} for group in args.nodes.workers
        }
        self.node_security_group_id = self.security.node.id
        self.dashboard_token_secret_arn = stores.token_secret.arn
        self.hosted_zone_id = stores.zone.zone_id
        self.log_group_name = stores.log_group.name
        self.redis_endpoint = stores.redis.primary_endpoint_address if stores.redis else None
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "headAsgName": self.head_asg_name,
                "workerAsgs": self.worker_asg_names,
                "headAddress": self.head_address,
                "dashboardUrl": self.dashboard_url,
                "dashboardTokenSecretArn": self.dashboard_token_secret_arn,
                "nodeSecurityGroupId": self.node_security_group_id,
            }
        )

    def allow_serve_from(self, name: str, source_security_group_id: pulumi.Input[str]):
        """Open Serve's port (8000) on the nodes to one security group: the ingress load balancer's."""
        return self.security.allow_serve_from(name, source_security_group_id)

    # --- the cluster's state: DNS zone, dashboard token, logs, GCS store ----------------

    def _stores(self) -> ClusterStores:
        """The head address's zone, the dashboard-token secret, the log group and, with head fault tolerance, Redis."""
        cluster_id = self.args.cluster_id
        zone = aws.route53.Zone(
            f"{self._name}-zone",
            name=private_zone_name(cluster_id),
            comment=f"Private names of {cluster_id}; the head publishes its address here at boot",
            vpcs=[aws.route53.ZoneVpcArgs(vpc_id=self.args.vpc_id, vpc_region=self.args.region)],
            # The head's own A record is not Pulumi's; let the zone go with it on destroy.
            force_destroy=True,
            tags=self._tags("zone"),
            opts=self._child(),
        )
        self._short_negative_caching(zone)
        token_secret = aws.secretsmanager.Secret(
            f"{self._name}-dashboard-token",
            description=f"Ray dashboard token of {cluster_id}; its value is created by the cluster's first head",
            tags=self._tags("dashboard-token"),
            opts=self._child(),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{self._name}-logs",
            name=log_group_name(cluster_id),
            retention_in_days=self.args.log_retention_days,
            tags=self._tags("logs"),
            opts=self._child(),
        )
        if self.args.gcs_redis is None:
            return ClusterStores(zone, token_secret, log_group)
        assert self.security.redis is not None
        gcs = GcsStore(self._name, self.args, self, self.security.redis)
        return ClusterStores(zone, token_secret, log_group, gcs.group, gcs.auth_secret)

    def _short_negative_caching(self, zone: aws.route53.Zone) -> aws.route53.Record:
        """Replace the zone's SOA (Route 53 writes it with the zone): a worker's lookup of the head address
        before the head publishes it is cached for NEGATIVE_CACHE_TTL seconds, not Route 53's 900."""
        return aws.route53.Record(
            f"{self._name}-zone-soa",
            zone_id=zone.zone_id,
            name=zone.name,
            type="SOA",
            ttl=NEGATIVE_CACHE_TTL,
            records=[zone.primary_name_server.apply(private_zone_soa)],
            allow_overwrite=True,
            # Route 53 refuses to delete a zone's SOA; it goes with the zone.
            opts=self._child(retain_on_delete=True),
        )

    # --- node roles -------------------------------------------------------------------

    def _permission_scope(self, stores: ClusterStores) -> pulumi.Output[permissions.Scope]:
        """The concrete resources the node policies name, once AWS has given them their ARNs."""
        cluster_id, region = self.args.cluster_id, self.args.region
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        return pulumi.Output.all(
            account=account.account_id,
            bucket_arn=self.args.artifact_bucket_arn,
            token_arn=stores.token_secret.arn,
            zone_id=stores.zone.zone_id,
            redis_arn=stores.redis_auth.arn if stores.redis_auth else None,
        ).apply(
            lambda v: permissions.Scope(
                region=region,
                account_id=v["account"],
                cluster_id=cluster_id,
                artifact_bucket_arn=v["bucket_arn"],
                dashboard_token_secret_arn=v["token_arn"],
                hosted_zone_id=v["zone_id"],
                head_record_name=head_record_name(cluster_id),
                metrics_namespace=metrics_namespace(self.args.tags.env),
                worker_node_types=tuple(group.name for group in self.args.nodes.workers),
                redis_secret_arn=v["redis_arn"],
            )
        )

    def _role(self, kind: str, policy: pulumi.Input[str]) -> aws.iam.InstanceProfile:
        """A node role with its scoped inline policy (Session Manager's actions included), as an instance profile."""
        name = self._name
        role = aws.iam.Role(
            f"{name}-{kind}-role",
            description=f"Ray {kind} nodes of {self.args.cluster_id}",
            assume_role_policy=json.dumps(permissions.EC2_ASSUME_ROLE_POLICY),
            tags=self._tags(f"{kind}-role"),
            opts=self._child(),
        )
        self._role_grants[kind] = [
            aws.iam.RolePolicy(f"{name}-{kind}-policy", role=role.id, policy=policy, opts=self._child())
        ]
        return aws.iam.InstanceProfile(
            f"{name}-{kind}-profile", role=role.name, tags=self._tags(f"{kind}-profile"), opts=self._child()
        )

    # --- node groups: a launch template per group, an ASG per GroupAsg ----------------

    def _node_groups(
        self, stores: ClusterStores, head_profile: aws.iam.InstanceProfile, worker_profile: aws.iam.InstanceProfile
    ) -> dict[str, aws.autoscaling.Group]:
        """The head's template and ASG, then every worker group's template, then the worker ASGs."""
        nodes = self.args.nodes
        autoscaler_yaml = to_yaml(autoscaler_config(nodes, self.args.region, self.args.scaling))
        boot = pulumi.Output.all(
            bucket=self.args.artifact_bucket_name,
            token_arn=stores.token_secret.arn,
            zone_id=stores.zone.zone_id,
            redis_endpoint=stores.redis.primary_endpoint_address if stores.redis else None,
            redis_arn=stores.redis_auth.arn if stores.redis_auth else None,
        )
        head_template = self._launch_template(
            nodes.head, head_profile, boot.apply(lambda v: self._head_user_data(v, autoscaler_yaml))
        )
        (head,) = nodes.head.asgs
        asgs = {head.role: self._head_asg(head, head_template)}
        templates = {
            group.name: self._launch_template(
                group, worker_profile, boot.apply(lambda v, g=group: self._worker_user_data(g, v))
            )
            for group in nodes.workers
        }
        for group in nodes.workers:
            refresh = worker_refresh(group)
            asgs.update({asg.role: self._worker_asg(asg, templates[group.name], refresh) for asg in group.asgs})
        return asgs

    def _first_boot_needs(self, kind: str) -> list[pulumi.Resource]:
        """What a node of role `kind` fetches or calls at its first boot, beyond what its user data names:
        the node-agent object and its role's policies (an instance profile exists before its policies do)."""
        agent = [self.args.node_agent] if self.args.node_agent is not None else []
        return agent + self._role_grants[kind]

    def _head_user_data(self, v: dict, autoscaler_yaml: str) -> str:
        redis = RedisBoot(v["redis_endpoint"], REDIS_PORT, v["redis_arn"]) if self.args.gcs_redis else None
        return render_head(
            self._boot(
                self.args.nodes.head, v, hosted_zone_id=v["zone_id"], autoscaler_yaml=autoscaler_yaml, redis=redis
            )
        )

    def _worker_user_data(self, group: NodeGroup, v: dict) -> str:
        return render_worker(self._boot(group, v, gpus=smallest_type(group).gpus, resources=dict(group.custom_resources)))

    def _boot(self, group: NodeGroup, v: dict, **extra) -> NodeBoot:
        return NodeBoot(
            cluster_id=self.args.cluster_id,
            region=self.args.region,
            node_type=group.name,
            ray_version=self.args.ray_version,
            serve_ingress=self.args.serve_ingress,
            artifact_bucket=v["bucket"],
            agent_key=self.args.node_agent_key,
            dashboard_token_secret_arn=v["token_arn"],
            head_address=self.head_address,
            gcs_fault_tolerance=self.args.head_fault_tolerance,
            metrics_namespace=metrics_namespace(self.args.tags.env),
            log_group=log_group_name(self.args.cluster_id),
            arch=debian_arch(group.instance_types),
            **extra,
        )

    def _image(self, image: NodeImage) -> pulumi.Input[str]:
        if image.ami:
            return image.ami
        return aws.ssm.get_parameter_output(name=image.ssm_parameter, opts=pulumi.InvokeOutputOptions(parent=self)).value

    def _launch_template(
        self, group: NodeGroup, profile: aws.iam.InstanceProfile, user_data: pulumi.Input[str]
    ) -> aws.ec2.LaunchTemplate:
        """The group's nodes: its first instance type, its image and root volume, IMDSv2 only, tagged."""
        node = self._tags(group.name, group.tags)
        return aws.ec2.LaunchTemplate(
            f"{self._name}-{group.name}-template",
            description=f"Ray {group.name} nodes of {self.args.cluster_id}",
            image_id=self._image(self.args.images[group.name]),
            instance_type=group.instance_types[0],
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            vpc_security_group_ids=self.security.of_node_type(group.name),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # Nothing runs in containers on the nodes: credentials stay on the instance itself.
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=group.root_volume_gb,
                        volume_type=ROOT_VOLUME_TYPE,
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=node) for kind in ("instance", "volume")
            ],
            user_data=pulumi.Output.from_input(user_data).apply(encode_user_data),
            update_default_version=True,
            tags=self._tags(f"{group.name}-template"),
            opts=self._child(),
        )

    def _head_asg(self, asg: GroupAsg, template: aws.ec2.LaunchTemplate) -> aws.autoscaling.Group:
        return self._asg(
            asg,
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=template.id, version=_pinned(template)),
            # A changed template (new autoscaler config, agents, image) only reaches the head at boot:
            # replace it, terminating the old head first so two heads never share the GCS store.
            instance_refresh=_instance_refresh(HEAD_REFRESH),
            depends_on=self._first_boot_needs(HEAD_NODE_TYPE),
        )

    def _worker_asg(self, asg: GroupAsg, template: aws.ec2.LaunchTemplate, refresh: Refresh) -> aws.autoscaling.Group:
        return self._asg(
            asg,
            mixed_instances_policy=self._mixed_instances(asg, template),
            # One node at a time, never above desired capacity; each drains through the hook below first.
            instance_refresh=_instance_refresh(refresh),
            depends_on=self._first_boot_needs("worker"),
            capacity_rebalance=asg.market is Market.SPOT,
            initial_lifecycle_hooks=[
                aws.autoscaling.GroupInitialLifecycleHookArgs(
                    name=DRAIN_HOOK,
                    lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
                    heartbeat_timeout=DRAIN_HEARTBEAT_SECONDS,
                    default_result="CONTINUE",
                )
            ],
            # Ray's autoscaler decides which nodes go; AZ rebalancing would kill busy ones.
            suspended_processes=["AZRebalance"],
            # Capacity is the autoscaler's business; `pulumi up` does not wait for spot to arrive.
            wait_for_capacity_timeout="0",
        )

    def _asg(self, asg: GroupAsg, *, depends_on: list[pulumi.Resource], **launch) -> aws.autoscaling.Group:
        """One `GroupAsg` of the model across the private subnets: its name, sizes and tags; `launch` says
        how it launches instances and replaces them; it waits for `depends_on`."""
        return aws.autoscaling.Group(
            f"{self._name}-{asg.role}",
            name=asg.name,
            min_size=asg.min_size,
            max_size=asg.max_size,
            desired_capacity=asg.min_size,
            vpc_zone_identifiers=self.args.private_subnet_ids,
            health_check_type="EC2",
            health_check_grace_period=300,
            tags=asg_tags(self._tags(asg.role, asg.tags)),
            # Pulumi sets the starting size; from then on, desired capacity is Ray's autoscaler's.
            opts=self._child(ignore_changes=["desiredCapacity"], depends_on=depends_on),
            **launch,
        )

    @staticmethod
    def _mixed_instances(asg: GroupAsg, template: aws.ec2.LaunchTemplate) -> aws.autoscaling.GroupMixedInstancesPolicyArgs:
        """The ASG's InstancesDistribution, and the group's instance types in order over its template."""
        distribution = asg.distribution
        return aws.autoscaling.GroupMixedInstancesPolicyArgs(
            instances_distribution=aws.autoscaling.GroupMixedInstancesPolicyInstancesDistributionArgs(
                on_demand_base_capacity=distribution.on_demand_base,
                on_demand_percentage_above_base_capacity=distribution.on_demand_percent_above_base,
                spot_allocation_strategy=distribution.spot_allocation_strategy,
                # The twin tries the group's types in the configured order.
                on_demand_allocation_strategy="prioritized",
            ),
            launch_template=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateArgs(
                launch_template_specification=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecificationArgs(
                    launch_template_id=template.id, version=_pinned(template)
                ),
                overrides=[
                    aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateOverrideArgs(instance_type=t)
                    for t in asg.instance_types
                ],
            ),
        )

    # --- helpers ----------------------------------------------------------------------

    def _child(self, **options) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **options)

    def _tags(self, role: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return resource_tags(self.args.tags, role, extra)


def _pinned(template: aws.ec2.LaunchTemplate) -> pulumi.Output[str]:
    """The template's latest version by number: AWS starts no instance refresh for `$Latest`, whose
    string never changes, and with a number skip-matching knows which instances already run it."""
    return template.latest_version.apply(str)


def _instance_refresh(refresh: Refresh) -> aws.autoscaling.GroupInstanceRefreshArgs:
    return aws.autoscaling.GroupInstanceRefreshArgs(
        strategy="Rolling",
        preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
            min_healthy_percentage=refresh.min_healthy_percentage,
            max_healthy_percentage=refresh.max_healthy_percentage,
            instance_warmup=str(refresh.instance_warmup_seconds),
            skip_matching=refresh.skip_matching,
        ),
    )
