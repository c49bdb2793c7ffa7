"""What Serve says about its applications, as its metrics endpoint and its REST API say it.

    samples = parse_prometheus(PAGE)                                   # one replica of `fraud`, one of `other`
    details = serve_details(("fraud", ["FraudScorer"], None))          # GET /api/serve/applications/
"""

from __future__ import annotations

#: Ray 2.60's export of one replica of app `fraud` (deployment FraudScorer) and one of `other`, trimmed.
PAGE = """\
# HELP ray_serve_deployment_request_counter_total The number of queries that have been processed in this replica.
# TYPE ray_serve_deployment_request_counter_total counter
ray_serve_deployment_request_counter_total{Component="core_worker",NodeAddress="127.0.0.1",SessionName="session_x",Version="2.60.0",WorkerId="ab",application="fraud",deployment="FraudScorer",replica="r1",route="/fraud"} 20.0
ray_serve_deployment_request_counter_total{application="other",deployment="Other",replica="r9",route="/other"} 7.0
# HELP ray_serve_deployment_error_counter_total The number of exceptions that have occurred in this replica.
# TYPE ray_serve_deployment_error_counter_total counter
ray_serve_deployment_error_counter_total{application="fraud",deployment="FraudScorer",exception_type="KeyError",replica="r1",route="/fraud"} 1.0
# TYPE ray_serve_deployment_processing_latency_ms histogram
ray_serve_deployment_processing_latency_ms_bucket{application="fraud",deployment="FraudScorer",le="1.0",replica="r1",route="/fraud"} 0.0
ray_serve_deployment_processing_latency_ms_bucket{application="fraud",deployment="FraudScorer",le="5.0",replica="r1",route="/fraud"} 15.0
ray_serve_deployment_processing_latency_ms_bucket{application="fraud",deployment="FraudScorer",le="10.0",replica="r1",route="/fraud"} 21.0
ray_serve_deployment_processing_latency_ms_bucket{application="fraud",deployment="FraudScorer",le="+Inf",replica="r1",route="/fraud"} 21.0
ray_serve_deployment_processing_latency_ms_count{application="fraud",deployment="FraudScorer",replica="r1",route="/fraud"} 21.0
ray_serve_deployment_processing_latency_ms_sum{application="fraud",deployment="FraudScorer",replica="r1",route="/fraud"} 80.5
"""



def serve_details(*apps: tuple[str, list[str], str | None]) -> dict:
    """A GET /api/serve/applications/ answer: (app, deployments, ingress deployment or None for no topology)."""
    return {"applications": {
        name: {
            "status": "RUNNING", "route_prefix": f"/{name}",
            "deployments": {d: {"status": "HEALTHY", "target_num_replicas": 1, "replicas": [{"state": "RUNNING"}]} for d in deps},
            **({"deployment_topology": {"app_name": name, "ingress_deployment": ingress}} if ingress else {}),
        }
        for name, deps, ingress in apps
    }}
