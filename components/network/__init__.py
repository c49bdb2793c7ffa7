"""The per-region VPC: public and private subnets across AZs, NAT, routes, an S3 endpoint."""

from components.network.args import NetworkArgs
from components.network.component import Network

__all__ = ["Network", "NetworkArgs"]
