"""The ServeIngress component: one region's internet-facing ALB in front of the Serve proxies on the workers.

    ingress = ServeIngress("ingress-us-east-1", ServeIngressArgs(region="us-east-1", vpc_id=net.vpc_id,
                           public_subnet_ids=net.public_subnet_ids, node_security_group_id=nodes_sg,
                           asg_names={"cpu-spot": spot.name, "cpu-on-demand": twin.name}, tls="none", tags=ctx),
                           opts=pulumi.ResourceOptions(provider=aws_us_east_1))
    ingress.dns_name  # what Route 53 aliases point at

Listeners, open ports and the drain timing come from plan.py; this module only
turns them into resources. The nodes' side of the path (8000 from this load
balancer's security group) belongs to the cluster's security groups: the program
opens it with `RayCluster.allow_serve_from("ingress", ingress.security_group_id)`.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.contract import SERVE_PORT
from components.serve_ingress import plan
from components.serve_ingress.args import ServeIngressArgs
from components.tags import build_tags

COMPONENT = "ingress"


class ServeIngress(pulumi.ComponentResource):
    dns_name: pulumi.Output[str]
    zone_id: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    #: The validation record this ingress wrote for an issued certificate (for the other regions), else None.
    validation_record_fqdns: list[pulumi.Output[str]] | None

    def __init__(self, name: str, args: ServeIngressArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"rayfleet:{COMPONENT}:ServeIngress", name, None, opts)
        self.args = args
        alb_sg = self._security_group(name)
        alb = self._load_balancer(name, alb_sg)
        slots = {args.slot: args.asg_names}
        if args.next_asg_names is not None:
            slots.update({slot: args.next_asg_names for slot in args.weights if slot != args.slot})
        #: Each cluster slot's target group, the live slot's first.
        self.target_groups = {slot: self._target_group(name, slot) for slot in slots}
        target_group = self.target_groups[args.slot]
        certificate_arn = self._certificate(name)
        self._listeners(name, alb, certificate_arn)
        for slot, asg_names in slots.items():
            self._attachments(name, slot, asg_names)

        self.dns_name = alb.dns_name
        self.zone_id = alb.zone_id
        self.arn = alb.arn
        self.target_group_arn = target_group.arn
        #: CloudWatch's `LoadBalancer` and `TargetGroup` dimensions name them by these.
        self.arn_suffix = alb.arn_suffix
        self.target_group_arn_suffix = target_group.arn_suffix
        self.security_group_id = alb_sg.id
        self.certificate_arn = certificate_arn
        self.register_outputs(
            {
                "dnsName": self.dns_name,
                "zoneId": self.zone_id,
                "targetGroupArn": self.target_group_arn,
                "securityGroupId": self.security_group_id,
            }
        )

    def _tags(self, role: str) -> dict[str, str]:
        return build_tags(self.args.tags, COMPONENT, name=f"{self._prefix}-{role}")

    @property
    def _prefix(self) -> str:
        return f"{self.args.tags.cluster}-ingress"

    def _security_group(self, name: str) -> aws.ec2.SecurityGroup:
        """The load balancer's group: the listeners' ports from the internet in, Serve's port on the nodes out."""
        alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=self.args.vpc_id,
            description=f"{self._prefix}: the internet to the load balancer; the load balancer to Serve only",
            tags=self._tags("alb-sg"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for port in plan.public_ports(self.args.tls):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-alb-in-{port}",
                security_group_id=alb_sg.id,
                cidr_ipv4=plan.WORLD_V4,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"clients to the load balancer on {port}",
                tags=self._tags(f"alb-in-{port}"),
                opts=pulumi.ResourceOptions(parent=self),
            )
        nodes = {self.args.slot: self.args.node_security_group_id}
        if self.args.next_asg_names is not None:
            nodes.update({s: self.args.next_node_security_group_id for s in self.args.weights if s != self.args.slot})
        for slot, node_security_group_id in nodes.items():
            suffix = plan.slot_suffix(slot)
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-alb-to-serve{suffix}",
                security_group_id=alb_sg.id,
                referenced_security_group_id=node_security_group_id,
                ip_protocol="tcp",
                from_port=SERVE_PORT,
                to_port=SERVE_PORT,
                description="load balancer to the Serve proxies",
                tags=self._tags(f"alb-to-serve{suffix}"),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return alb_sg

    def _load_balancer(self, name: str, alb_sg: aws.ec2.SecurityGroup) -> aws.lb.LoadBalancer:
        # ALB and target-group names are capped at 32 characters; an auto-name from
        # the logical name plus Pulumi's suffix would overflow in regions with long
        # names (eu-central-1, ap-southeast-1), so AWS generates them from a prefix.
        return aws.lb.LoadBalancer(
            f"{name}-alb",
            name_prefix=plan.ALB_NAME_PREFIX,
            internal=False,
            load_balancer_type="application",
            security_groups=[alb_sg.id],
            subnets=self.args.public_subnet_ids,
            drop_invalid_header_fields=True,
            idle_timeout=plan.ALB_IDLE_TIMEOUT_SECONDS,
            tags=self._tags("alb"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _target_group(self, name: str, slot: str) -> aws.lb.TargetGroup:
        """Serve's port on every node of one cluster slot, checked and drained as plan.py derives."""
        suffix = plan.slot_suffix(slot)
        return aws.lb.TargetGroup(
            f"{name}-serve{suffix}",
            name_prefix=plan.TARGET_GROUP_NAME_PREFIX,
            port=SERVE_PORT,
            protocol="HTTP",
            target_type="instance",
            vpc_id=self.args.vpc_id,
            deregistration_delay=plan.deregistration_delay_seconds(),
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=plan.HEALTH_PATH,
                matcher="200",
                interval=plan.HEALTH_INTERVAL_SECONDS,
                timeout=plan.HEALTH_TIMEOUT_SECONDS,
                healthy_threshold=plan.HEALTHY_THRESHOLD,
                unhealthy_threshold=plan.UNHEALTHY_THRESHOLD,
            ),
            tags=self._tags(f"serve-tg{suffix}"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _certificate(self, name: str) -> pulumi.Input[str] | None:
        """The HTTPS listener's certificate ARN (None when the region serves HTTP only)."""
        args = self.args
        self.validation_record_fqdns = None
        if args.tls == "none":
            return None
        if args.tls == "configured":
            return args.certificate_arn
        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=args.domain,
            validation_method="DNS",
            tags=self._tags("cert"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        fqdns = args.validation_record_fqdns
        if fqdns is None:
            fqdns = self.validation_record_fqdns = [self._validation_record(name, certificate).fqdn]
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=fqdns,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The listener waits for an issued certificate: ALB rejects a pending one.
        return validation.certificate_arn

    def _validation_record(self, name: str, certificate: aws.acm.Certificate) -> aws.route53.Record:
        """The DNS record that proves the certificate's name, written through the account-wide DNS provider."""
        # One name, so exactly one validation option: its record is known to exist, not created in apply().
        option = certificate.domain_validation_options.apply(lambda options: options[0])
        return aws.route53.Record(
            f"{name}-cert-dns",
            zone_id=self.args.zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            # The same record validates this name's certificates in every region of the account.
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.args.dns_provider),
        )

    def _listeners(
        self,
        name: str,
        alb: aws.lb.LoadBalancer,
        certificate_arn: pulumi.Input[str] | None,
    ) -> None:
        """plan.listeners: HTTPS forwards to Serve and HTTP redirects to it, or plain HTTP forwards."""
        forward = self._forward()
        redirect = aws.lb.ListenerDefaultActionArgs(
            type="redirect",
            redirect=aws.lb.ListenerDefaultActionRedirectArgs(port="443", protocol="HTTPS", status_code="HTTP_301"),
        )
        for listener in plan.listeners(self.args.tls):
            https = listener.protocol == "HTTPS"
            aws.lb.Listener(
                f"{name}-{listener.protocol.lower()}",
                load_balancer_arn=alb.arn,
                port=listener.port,
                protocol=listener.protocol,
                ssl_policy=plan.SSL_POLICY if https else None,
                certificate_arn=certificate_arn if https else None,
                default_actions=[forward if listener.action == "forward" else redirect],
                tags=self._tags(listener.protocol.lower()),
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _forward(self) -> aws.lb.ListenerDefaultActionArgs:
        """To the one slot's target group; mid-upgrade, to both slots', weighed."""
        if len(self.target_groups) == 1:
            (only,) = self.target_groups.values()
            return aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=only.arn)
        # With two groups the action names them only in `forward` (a target_group_arn beside it must
        # be the one group of a single-group forward).
        return aws.lb.ListenerDefaultActionArgs(
            type="forward",
            forward=aws.lb.ListenerDefaultActionForwardArgs(
                target_groups=[
                    aws.lb.ListenerDefaultActionForwardTargetGroupArgs(arn=group.arn, weight=self.args.weights[slot])
                    for slot, group in self.target_groups.items()
                ]
            ),
        )

    def _attachments(self, name: str, slot: str, asg_names: dict) -> None:
        """Every ASG of a slot whose instances run Serve replicas registers them with the slot's target group."""
        for key, asg_name in asg_names.items():
            aws.autoscaling.Attachment(
                f"{name}{plan.slot_suffix(slot)}-attach-{plan.attachment_key(key)}",
                autoscaling_group_name=asg_name,
                lb_target_group_arn=self.target_groups[slot].arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
