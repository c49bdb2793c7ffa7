"""Two tiny Serve applications with different resource requests, for the allocation tests.

    PUT /api/serve/applications/ with import paths tests.serve.cost_app:alpha and tests.serve.cost_app:beta
"""

from __future__ import annotations

from ray import serve


@serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": 1})
class Alpha:
    def __call__(self, request) -> str:
        return "alpha"


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0.5, "memory": 200 * 1024 * 1024})
class Beta:
    def __call__(self, request) -> str:
        return "beta"


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 1, "num_gpus": 1})
class Gamma:
    """Asks for a GPU: placed only on a node that advertises one (a declared one is enough)."""

    def __call__(self, request) -> str:
        return "gamma"


alpha = Alpha.bind()
beta = Beta.bind()
gamma = Gamma.bind()
