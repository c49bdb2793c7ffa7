"""Global failover: Route 53 health checks per region and failover or latency records for one domain.

Light on purpose: the drill (components.global_failover.drill) imports no pulumi.
"""
