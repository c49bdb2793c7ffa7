"""Region health: 200 while every configured application can serve, 503 naming those that cannot.
Import path: `serve_apps.region_health:app` (the renderer adds it to every Serve config).

    curl -s localhost:8000/-/region-health
    {"healthy": true, "unable": []}
"""

from serve_apps.region_health.app import RegionHealth, app

__all__ = ["RegionHealth", "app"]
