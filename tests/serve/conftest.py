"""tests/serve: live tests on the session's local Ray cluster (tests/fakes/session_cluster.py).

Its fixtures (`local_cluster`, `cluster_token`, `ray_driver`, `serve_url`, `dashboard`,
`current_config`, `rayfleet_home`, `local_ports`) are shared with every folder; its last test
(`test_local_down`) stops it, after every other test.
Two modules start a cluster of their own, each saying why: test_ray_agents.py
(a worker to drain) and test_cost_allocate_live.py (apps with known resources on a
head with room for them).
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(session, config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            # They all need a local Ray head (~20 s to start): `-m 'not slow'` skips local Ray entirely.
            item.add_marker(pytest.mark.slow)
