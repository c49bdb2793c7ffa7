"""Per-region Serve ingress: an internet-facing ALB, HTTPS, a target group on Serve's port 8000."""

from components.serve_ingress.args import ServeIngressArgs
from components.serve_ingress.component import ServeIngress

__all__ = ["ServeIngress", "ServeIngressArgs"]
