"""The Network component: turns plan.subnet_layout into a VPC with its subnets, gateways and routes.

    net = Network("network-us-east-1", NetworkArgs(region="us-east-1", cidr=..., tags=ctx),
                  opts=pulumi.ResourceOptions(provider=aws_us_east_1))
    net.private_subnet_ids  # where the Ray nodes go
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.network.args import NetworkArgs
from components.network.plan import nat_for_az, subnet_layout
from components.tags import build_tags

COMPONENT = "network"


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    availability_zones: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rayfleet:network:Network", name, None, opts)
        self.args = args
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{args.tags.cluster}"

        def tags(role: str) -> dict[str, str]:
            return build_tags(args.tags, COMPONENT, name=f"{prefix}-{role}")

        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self))
        self.availability_zones = [zones.names.apply(lambda names, i=i: names[i]) for i in range(args.az_count)]

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tags("vpc"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)

        subnets: dict[tuple[str, int], aws.ec2.Subnet] = {}
        for plan in subnet_layout(args.cidr, args.az_count):
            subnets[(plan.tier, plan.az_index)] = aws.ec2.Subnet(
                f"{name}-{plan.tier}-{plan.az_index}",
                vpc_id=vpc.id,
                cidr_block=str(plan.cidr),
                availability_zone=self.availability_zones[plan.az_index],
                map_public_ip_on_launch=False,
                tags=tags(f"{plan.tier}-{plan.az_index}") | {"rayfleet:tier": plan.tier},
                opts=child,
            )

        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=tags("public-rt"),
            opts=child,
        )
        for az in range(args.az_count):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{az}",
                subnet_id=subnets[("public", az)].id,
                route_table_id=public_rt.id,
                opts=child,
            )

        routing = nat_for_az(args.az_count, args.nat_gateways)
        nats: dict[int, aws.ec2.NatGateway] = {}
        for az in sorted(set(routing)):
            eip = aws.ec2.Eip(f"{name}-nat-eip-{az}", domain="vpc", tags=tags(f"nat-eip-{az}"), opts=child)
            nats[az] = aws.ec2.NatGateway(
                f"{name}-nat-{az}",
                allocation_id=eip.id,
                subnet_id=subnets[("public", az)].id,
                connectivity_type="public",
                tags=tags(f"nat-{az}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )

        private_rts = []
        for az in range(args.az_count):
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{az}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[routing[az]].id)],
                tags=tags(f"private-rt-{az}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-rta-{az}",
                subnet_id=subnets[("private", az)].id,
                route_table_id=rt.id,
                opts=child,
            )
            private_rts.append(rt)

        # Model artifacts and Ray wheels come from S3 without paying NAT data charges.
        aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts] + [public_rt.id],
            tags=tags("s3-endpoint"),
            opts=child,
        )

        self.vpc_id = vpc.id
        self.vpc_cidr = str(args.cidr)
        self.public_subnet_ids = [subnets[("public", az)].id for az in range(args.az_count)]
        self.private_subnet_ids = [subnets[("private", az)].id for az in range(args.az_count)]
        self.private_route_table_ids = [rt.id for rt in private_rts]
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
            }
        )
