"""The Network component: turns plan.subnet_layout into a VPC with its subnets, gateways and routes.

    net = Network("network-us-east-1", NetworkArgs(region="us-east-1", cidr=..., tags=ctx),
                  opts=pulumi.ResourceOptions(provider=aws_us_east_1))
    net.private_subnet_ids  # where the Ray nodes go
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.network.args import NetworkArgs
from components.network.plan import Tier, nat_for_az, subnet_layout
from components.tags import build_tags

COMPONENT = "network"

#: The VPC's subnets by (tier, AZ index).
Subnets = dict[tuple[Tier, int], aws.ec2.Subnet]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    availability_zones: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rayfleet:network:Network", name, None, opts)
        self.args = args
        self.availability_zones = self._availability_zones()
        vpc = self._vpc(name)
        igw = self._internet_gateway(name, vpc)
        subnets = self._subnets(name, vpc)
        public_rt = self._public_route_table(name, vpc, igw, subnets)
        nats = self._nat_gateways(name, igw, subnets)
        private_rts = self._private_route_tables(name, vpc, nats, subnets)
        self._s3_endpoint(name, vpc, [*private_rts, public_rt])

        azs = range(args.az_count)
        self.vpc_id = vpc.id
        self.vpc_cidr = str(args.cidr)
        self.public_subnet_ids = [subnets[("public", az)].id for az in azs]
        self.private_subnet_ids = [subnets[("private", az)].id for az in azs]
        self.private_route_table_ids = [rt.id for rt in private_rts]
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
            }
        )

    def _tags(self, role: str) -> dict[str, str]:
        return build_tags(self.args.tags, COMPONENT, name=f"{self.args.tags.cluster}-{role}")

    def _availability_zones(self) -> list[pulumi.Output[str]]:
        """The first `az_count` Availability Zones the region offers, in AWS's order.

        Without the filter AWS also lists the Local Zones the account opted in to, and
        sorts them first (`us-east-1-bos-1a` < `us-east-1a`): a subnet there has no NAT
        gateway, no ElastiCache and few instance types. Availability Zones proper
        always report `opt-in-not-required`.
        """
        zones = aws.get_availability_zones_output(
            state="available",
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        return [zones.names.apply(lambda names, i=i: names[i]) for i in range(self.args.az_count)]

    def _vpc(self, name: str) -> aws.ec2.Vpc:
        return aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(self.args.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=self._tags("vpc"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _internet_gateway(self, name: str, vpc: aws.ec2.Vpc) -> aws.ec2.InternetGateway:
        return aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=self._tags("igw"), opts=pulumi.ResourceOptions(parent=self)
        )

    def _subnets(self, name: str, vpc: aws.ec2.Vpc) -> Subnets:
        """One subnet per (tier, AZ), as plan.subnet_layout carves the VPC's block."""
        subnets: Subnets = {}
        for plan in subnet_layout(self.args.cidr, self.args.az_count):
            subnets[(plan.tier, plan.az_index)] = aws.ec2.Subnet(
                f"{name}-{plan.tier}-{plan.az_index}",
                vpc_id=vpc.id,
                cidr_block=str(plan.cidr),
                availability_zone=self.availability_zones[plan.az_index],
                map_public_ip_on_launch=False,
                tags=self._tags(f"{plan.tier}-{plan.az_index}") | {"rayfleet:tier": plan.tier},
                opts=pulumi.ResourceOptions(parent=self),
            )
        return subnets

    def _public_route_table(
        self, name: str, vpc: aws.ec2.Vpc, igw: aws.ec2.InternetGateway, subnets: Subnets
    ) -> aws.ec2.RouteTable:
        """One route table for every public subnet: the internet through the gateway."""
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=self._tags("public-rt"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for az in range(self.args.az_count):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{az}",
                subnet_id=subnets[("public", az)].id,
                route_table_id=public_rt.id,
                opts=pulumi.ResourceOptions(parent=self),
            )
        return public_rt

    def _nat_gateways(
        self, name: str, igw: aws.ec2.InternetGateway, subnets: Subnets
    ) -> dict[int, aws.ec2.NatGateway]:
        """The NAT gateways plan.nat_for_az asks for, by the AZ whose public subnet holds each."""
        nats = {}
        for az in sorted(set(nat_for_az(self.args.az_count, self.args.nat_gateways))):
            eip = aws.ec2.Eip(
                f"{name}-nat-eip-{az}",
                domain="vpc",
                tags=self._tags(f"nat-eip-{az}"),
                opts=pulumi.ResourceOptions(parent=self),
            )
            nats[az] = aws.ec2.NatGateway(
                f"{name}-nat-{az}",
                allocation_id=eip.id,
                subnet_id=subnets[("public", az)].id,
                connectivity_type="public",
                tags=self._tags(f"nat-{az}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )
        return nats

    def _private_route_tables(
        self, name: str, vpc: aws.ec2.Vpc, nats: dict[int, aws.ec2.NatGateway], subnets: Subnets
    ) -> list[aws.ec2.RouteTable]:
        """A route table per private subnet: the internet through that AZ's NAT gateway (plan.nat_for_az)."""
        routing = nat_for_az(self.args.az_count, self.args.nat_gateways)
        private_rts = []
        for az in range(self.args.az_count):
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{az}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[routing[az]].id)],
                tags=self._tags(f"private-rt-{az}"),
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-rta-{az}",
                subnet_id=subnets[("private", az)].id,
                route_table_id=rt.id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            private_rts.append(rt)
        return private_rts

    def _s3_endpoint(self, name: str, vpc: aws.ec2.Vpc, route_tables: list[aws.ec2.RouteTable]) -> None:
        # Model artifacts and Ray wheels come from S3 without paying NAT data charges.
        aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{self.args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in route_tables],
            tags=self._tags("s3-endpoint"),
            opts=pulumi.ResourceOptions(parent=self),
        )
