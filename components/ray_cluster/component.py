"""The RayCluster component: one region's self-healing, spot-first, locked-down Ray cluster.

    cluster = RayCluster("cluster-us-east-1", RayClusterArgs(region="us-east-1", cluster=cfg.cluster, ...),
                         opts=pulumi.ResourceOptions(provider=aws_us_east_1))
    cluster.head_asg_name, cluster.worker_asg_names["cpu"]["spot"], cluster.dashboard_url
    cluster.allow_serve_from("ingress", alb_sg.id)    # the ingress opens Serve's port to its load balancer

It creates: security groups (security.py), node roles scoped by permissions.py,
a private DNS zone for the stable head address, the dashboard-token secret, a
log group, with head fault tolerance an ElastiCache Redis replication group,
launch templates whose user data comes from userdata.py, the head ASG
(1/1/1) and, per worker group, a spot ASG plus its on-demand twin
(plan.node_groups). Pulumi owns the ASGs; Ray's autoscaler owns their
desired capacity.
"""

from __future__ import annotations

import base64
import json

import pulumi
import pulumi_aws as aws

from components.ray_cluster import permissions
from components.ray_cluster.args import RayClusterArgs
from components.ray_cluster.plan import (
    COMPONENT,
    DASHBOARD_PORT,
    DRAIN_HEARTBEAT_SECONDS,
    DRAIN_HOOK,
    HEAD_NODE_TYPE,
    REDIS_PORT,
    ROOT_DEVICE,
    AsgPlan,
    head_record_name,
    log_group_name,
    node_groups,
    node_tags,
    private_zone_name,
    redis_group_id,
)
from components.ray_cluster.security import ClusterSecurity
from components.ray_cluster.userdata import NodeBoot, RedisBoot, render_head, render_worker
from components.tags import asg_tags, build_tags

#: Days CloudWatch keeps node logs.
LOG_RETENTION_DAYS = 30


class RayCluster(pulumi.ComponentResource):
    cluster_name: str
    head_address: str
    dashboard_url: str
    head_asg_name: pulumi.Output[str]
    #: {group: {"spot": name, "onDemand": name}} ("spot" absent when the group's spot is disabled).
    worker_asg_names: dict[str, dict[str, pulumi.Output[str]]]
    #: The ASG resources by (group, market), for load-balancer registration.
    asgs: dict[tuple[str, str], aws.autoscaling.Group]
    node_security_group_id: pulumi.Output[str]
    dashboard_token_secret_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RayClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"rayfleet:{COMPONENT}:RayCluster", name, None, opts)
        self._name = name
        self.args = args
        cluster = args.cluster
        cluster_id = args.tags.cluster
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)

        self.security = ClusterSecurity(name, args, self, with_redis=cluster.head_fault_tolerance)

        zone = aws.route53.Zone(
            f"{name}-zone",
            name=private_zone_name(cluster_id),
            comment=f"Private names of {cluster_id}; the head publishes its address here at boot",
            vpcs=[aws.route53.ZoneVpcArgs(vpc_id=args.vpc_id, vpc_region=args.region)],
            # The head's own A record is not Pulumi's; let the zone go with it on destroy.
            force_destroy=True,
            tags=self._tags("zone"),
            opts=child,
        )
        token_secret = aws.secretsmanager.Secret(
            f"{name}-dashboard-token",
            description=f"Ray dashboard token of {cluster_id}; its value is created by the cluster's first head",
            tags=self._tags("dashboard-token"),
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name(cluster_id),
            retention_in_days=LOG_RETENTION_DAYS,
            tags=self._tags("logs"),
            opts=child,
        )
        redis = self._redis(cluster_id) if cluster.head_fault_tolerance else None

        account = aws.get_caller_identity_output(opts=invoke)
        scope = pulumi.Output.all(
            account=account.account_id,
            bucket_arn=args.artifact_bucket_arn,
            token_arn=token_secret.arn,
            zone_id=zone.zone_id,
            log_arn=log_group.arn,
            redis_arn=redis[1].arn if redis else None,
        ).apply(
            lambda v: permissions.Scope(
                region=args.region,
                account_id=v["account"],
                cluster_id=cluster_id,
                artifact_bucket_arn=v["bucket_arn"],
                dashboard_token_secret_arn=v["token_arn"],
                hosted_zone_id=v["zone_id"],
                head_record_name=head_record_name(cluster_id),
                log_group_arn=v["log_arn"],
                redis_secret_arn=v["redis_arn"],
            )
        )
        head_profile = self._role(HEAD_NODE_TYPE, scope.apply(lambda s: json.dumps(permissions.head_policy(s))))
        worker_profile = self._role("worker", scope.apply(lambda s: json.dumps(permissions.worker_policy(s))))

        boot = pulumi.Output.all(
            bucket=args.artifact_bucket_name,
            token_arn=token_secret.arn,
            zone_id=zone.zone_id,
            redis_endpoint=redis[0].primary_endpoint_address if redis else None,
            redis_arn=redis[1].arn if redis else None,
        )
        self.head_address = head_record_name(cluster_id)

        def head_user_data(v: dict) -> str:
            return render_head(
                self._boot(
                    HEAD_NODE_TYPE,
                    v,
                    hosted_zone_id=v["zone_id"],
                    autoscaler_yaml=args.autoscaler_yaml,
                    redis=RedisBoot(v["redis_endpoint"], REDIS_PORT, v["redis_arn"]) if redis else None,
                )
            )

        head_template = self._launch_template(
            HEAD_NODE_TYPE, cluster.head.instance_type, cluster.head.root_volume_gb, cluster.image, head_profile,
            boot.apply(head_user_data),
        )
        head_asg = aws.autoscaling.Group(
            f"{name}-head",
            name=f"{cluster_id}-head",
            min_size=1,
            max_size=1,
            desired_capacity=1,
            vpc_zone_identifiers=args.private_subnet_ids,
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=head_template.id, version="$Latest"),
            health_check_type="EC2",
            health_check_grace_period=300,
            # A changed template (new autoscaler config, Ray version, image) only reaches the head at boot:
            # replace it, terminating the old head first so two heads never share the GCS store.
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=0, max_healthy_percentage=100
                ),
            ),
            tags=asg_tags(self._tags(HEAD_NODE_TYPE, node_tags(HEAD_NODE_TYPE, "on-demand"))),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),
        )

        self.asgs = {}
        self.worker_asg_names = {}
        templates: dict[str, aws.ec2.LaunchTemplate] = {}
        for group in cluster.worker_groups:
            user_data = boot.apply(
                lambda v, g=group: render_worker(
                    self._boot(g.name, v, gpus=g.has_gpus, resources={k: int(n) for k, n in g.resources.items()})
                )
            )
            templates[group.name] = self._launch_template(
                group.name, group.instance_types[0], group.root_volume_gb, group.image or cluster.image,
                worker_profile, user_data,
            )
        for plan in node_groups(cluster):
            asg = self._worker_asg(cluster_id, plan, templates[plan.group])
            self.asgs[(plan.group, plan.market)] = asg
            key = "spot" if plan.market == "spot" else "onDemand"
            self.worker_asg_names.setdefault(plan.group, {})[key] = asg.name

        self.cluster_name = cluster_id
        self.dashboard_url = f"http://{self.head_address}:{DASHBOARD_PORT}"
        self.head_asg = head_asg
        self.head_asg_name = head_asg.name
        self.node_security_group_id = self.security.node.id
        self.dashboard_token_secret_arn = token_secret.arn
        self.hosted_zone_id = zone.zone_id
        self.head_instance_profile = head_profile
        self.worker_instance_profile = worker_profile
        self.redis_endpoint = redis[0].primary_endpoint_address if redis else None
        self.register_outputs(
            {
                "clusterName": cluster_id,
                "headAsgName": head_asg.name,
                "workerAsgs": self.worker_asg_names,
                "headAddress": self.head_address,
                "dashboardUrl": self.dashboard_url,
                "dashboardTokenSecretArn": token_secret.arn,
                "nodeSecurityGroupId": self.security.node.id,
            }
        )

    def allow_serve_from(self, name: str, source_security_group_id: pulumi.Input[str]):
        """Open Serve's port (8000) on the nodes to one security group: the ingress load balancer's."""
        return self.security.allow_serve_from(name, source_security_group_id)

    # --- pieces ---------------------------------------------------------------

    def _tags(self, role: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return build_tags(self.args.tags, COMPONENT, name=f"{self.args.tags.cluster}-{role}", extra=extra)

    def _boot(self, node_type: str, v: dict, **extra) -> NodeBoot:
        return NodeBoot(
            cluster_id=self.args.tags.cluster,
            region=self.args.region,
            node_type=node_type,
            ray_version=self.args.cluster.ray_version,
            artifact_bucket=v["bucket"],
            agent_key=self.args.node_agent_key,
            dashboard_token_secret_arn=v["token_arn"],
            head_address=head_record_name(self.args.tags.cluster),
            gcs_fault_tolerance=self.args.cluster.head_fault_tolerance,
            **extra,
        )

    def _redis(self, cluster_id: str) -> tuple[aws.elasticache.ReplicationGroup, aws.secretsmanager.Secret]:
        """GCS state for head fault tolerance: Redis with TLS and AUTH, reachable from the node group only.

        The auth token comes from Secrets Manager's password generator and is
        kept in a secret the head reads at boot. ElastiCache needs the token
        at creation, so Pulumi holds it, as a secret (encrypted in state).
        The generator answers anew on every run: `ignore_changes` keeps the
        first token on the secret and the replication group alike.
        """
        name, redis_cfg = self._name, self.args.cluster.redis
        password = aws.secretsmanager.get_random_password_output(
            password_length=64, exclude_punctuation=True, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        auth_token = pulumi.Output.secret(password.random_password)
        secret = aws.secretsmanager.Secret(
            f"{name}-redis-auth",
            description=f"Redis AUTH token of {cluster_id}'s GCS store",
            tags=self._tags("redis-auth"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-redis-auth-value",
            secret_id=secret.id,
            secret_string=auth_token,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["secretString"]),
        )
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-redis-subnets",
            description=f"Private subnets of {cluster_id}",
            subnet_ids=self.args.private_subnet_ids,
            tags=self._tags("redis-subnets"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        assert self.security.redis is not None
        replicas = redis_cfg.replicas
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            replication_group_id=redis_group_id(cluster_id),
            description=f"GCS fault tolerance of {cluster_id}",
            engine="redis",
            engine_version="7.1",
            node_type=redis_cfg.node_type,
            num_cache_clusters=1 + replicas,
            automatic_failover_enabled=replicas > 0,
            multi_az_enabled=replicas > 0,
            port=REDIS_PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[self.security.redis.id],
            at_rest_encryption_enabled=True,
            transit_encryption_enabled=True,
            auth_token=auth_token,
            tags=self._tags("redis"),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["authToken"]),
        )
        return group, secret

    def _role(self, kind: str, policy: pulumi.Input[str]) -> aws.iam.InstanceProfile:
        """A node role with its scoped inline policy and Session Manager, as an instance profile."""
        name = self._name
        role = aws.iam.Role(
            f"{name}-{kind}-role",
            description=f"Ray {kind} nodes of {self.args.tags.cluster}",
            assume_role_policy=json.dumps(permissions.EC2_ASSUME_ROLE_POLICY),
            tags=self._tags(f"{kind}-role"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(f"{name}-{kind}-policy", role=role.id, policy=policy, opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicyAttachment(
            f"{name}-{kind}-ssm",
            role=role.name,
            policy_arn=permissions.SSM_MANAGED_POLICY_ARN,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aws.iam.InstanceProfile(
            f"{name}-{kind}-profile", role=role.name, tags=self._tags(f"{kind}-profile"), opts=pulumi.ResourceOptions(parent=self)
        )

    def _image(self, image) -> pulumi.Input[str]:
        if image.ami:
            return image.ami
        return aws.ssm.get_parameter_output(name=image.ssm_parameter, opts=pulumi.InvokeOutputOptions(parent=self)).value

    def _launch_template(self, node_type, instance_type, volume_gb, image, profile, user_data) -> aws.ec2.LaunchTemplate:
        node = self._tags(node_type, node_tags(node_type))
        return aws.ec2.LaunchTemplate(
            f"{self._name}-{node_type}-template",
            description=f"Ray {node_type} nodes of {self.args.tags.cluster}",
            image_id=self._image(image),
            instance_type=instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            vpc_security_group_ids=[self.security.node.id],
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
                        volume_size=volume_gb, volume_type="gp3", encrypted="true", delete_on_termination="true"
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=node) for kind in ("instance", "volume")
            ],
            user_data=pulumi.Output.from_input(user_data).apply(lambda text: base64.b64encode(text.encode()).decode()),
            update_default_version=True,
            tags=self._tags(f"{node_type}-template"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _worker_asg(self, cluster_id: str, plan: AsgPlan, template: aws.ec2.LaunchTemplate) -> aws.autoscaling.Group:
        distribution = aws.autoscaling.GroupMixedInstancesPolicyInstancesDistributionArgs(
            on_demand_base_capacity=plan.on_demand_base,
            on_demand_percentage_above_base_capacity=plan.on_demand_percent_above_base,
            spot_allocation_strategy=plan.spot_allocation_strategy,
            # The twin tries the group's types in the configured order.
            on_demand_allocation_strategy="prioritized",
        )
        return aws.autoscaling.Group(
            f"{self._name}-{plan.role}",
            name=f"{cluster_id}-{plan.role}",
            min_size=plan.min_size,
            max_size=plan.max_size,
            desired_capacity=plan.min_size,
            vpc_zone_identifiers=self.args.private_subnet_ids,
            mixed_instances_policy=aws.autoscaling.GroupMixedInstancesPolicyArgs(
                instances_distribution=distribution,
                launch_template=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateArgs(
                    launch_template_specification=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecificationArgs(
                        launch_template_id=template.id, version="$Latest"
                    ),
                    overrides=[
                        aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateOverrideArgs(instance_type=t)
                        for t in plan.instance_types
                    ],
                ),
            ),
            capacity_rebalance=plan.market == "spot",
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
            health_check_type="EC2",
            health_check_grace_period=300,
            # Capacity is the autoscaler's business; `pulumi up` does not wait for spot to arrive.
            wait_for_capacity_timeout="0",
            tags=asg_tags(self._tags(plan.role, node_tags(plan.group, plan.market))),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),
        )
