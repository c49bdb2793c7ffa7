"""Drills and their fakes: rehearsals of failure that run here, apart from what is deployed.

    components.drills.spot       # `rayfleet drill spot --local`: lose a worker under load, on a local cluster
    components.drills.failover   # `rayfleet drill failover --env prod`: invert a health check, watch DNS move

Nothing in this package is shipped to nodes or created by `pulumi up`.
"""
