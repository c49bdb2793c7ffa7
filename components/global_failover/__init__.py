"""Global failover: Route 53 health checks per region and failover or latency records for one domain.

The failover drill that rehearses it lives in `components.drills.failover`.
"""
