"""Inputs of the ServeIngress component."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from components.serve_ingress.plan import FIRST_SLOT, TlsSource, check_weights
from components.tags import TagContext


class ServeIngressArgs(BaseModel):
    """One region's load balancer in front of Serve; values may be Pulumi inputs (IDs of other resources)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    region: str
    vpc_id: Any
    #: Where the load balancer's nodes go (one per AZ).
    public_subnet_ids: list[Any]
    #: The cluster nodes' security group: the load balancer may reach its port 8000, nothing else.
    node_security_group_id: Any
    #: Auto Scaling Groups whose instances run Serve replicas (the workers, not the head), by a stable
    #: key (`cpu-spot`, ...) so each attachment keeps its resource name when names change.
    asg_names: dict[str, Any]
    #: The cluster slot `asg_names` belongs to: `blue` (its resources keep their first names) or `green`.
    slot: str = FIRST_SLOT
    #: Mid-upgrade, the other slot's worker ASGs, by the same keys; their own target group takes them.
    next_asg_names: dict[str, Any] | None = None
    #: Mid-upgrade, the other slot's nodes' security group: the load balancer reaches its port 8000 too.
    next_node_security_group_id: Any = None
    #: Each slot's weight in the listener's forward action (default: the one slot, 100).
    weights: dict[str, int] = {}
    tls: TlsSource
    #: `configured`: the certificate to use.
    certificate_arn: str | None = None
    #: `issued`: the name the certificate covers, and the hosted zone that proves it.
    domain: str | None = None
    zone_id: Any = None
    #: `issued`: the validation records another region's ingress already wrote. ACM gives the same
    #: validation record to every certificate of one name in one account, whatever the region, so only
    #: the first region writes it; None means this ingress writes it (through `dns_provider`).
    validation_record_fqdns: list[Any] | None = None
    dns_provider: Any = None
    tags: TagContext

    @model_validator(mode="after")
    def _slots_weighed(self) -> ServeIngressArgs:
        if not self.weights:
            if self.next_asg_names is not None:
                raise ValueError("next_asg_names needs weights for both slots")
            return self
        slots = 1 if self.next_asg_names is None else 2
        if self.slot not in self.weights or len(self.weights) != slots:
            raise ValueError(f"weights ({self.weights}) must name the slot {self.slot} and, mid-upgrade, one other")
        if self.next_asg_names is not None and self.next_node_security_group_id is None:
            raise ValueError("next_asg_names needs next_node_security_group_id")
        check_weights(self.weights)
        return self

    @model_validator(mode="after")
    def _tls_inputs_complete(self) -> ServeIngressArgs:
        if self.tls == "configured" and not self.certificate_arn:
            raise ValueError("tls 'configured' needs certificate_arn")
        if self.tls == "issued":
            if not self.domain or self.zone_id is None:
                raise ValueError("tls 'issued' needs domain and zone_id")
            if self.validation_record_fqdns is None and self.dns_provider is None:
                raise ValueError("tls 'issued' needs validation_record_fqdns or a dns_provider to write them")
        return self
