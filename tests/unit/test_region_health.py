"""The region-health verdict: from Serve's status, can this region serve every configured application?"""

from __future__ import annotations

from components.contract import REGION_HEALTH_APP
from serve_apps.region_health.verdict import verdict
from tests.fakes.working_dir import working_dir_files


def _deployment(status, states=(), min_replicas=1, target=1):
    return {
        "status": status,
        "replicas": [{"state": state} for state in states],
        "target_num_replicas": target,
        "deployment_config": {"autoscaling_config": {"min_replicas": min_replicas, "max_replicas": 4}},
    }


def _details(**apps):
    return {
        "applications": {
            name: {"status": status, "deployments": deployments} for name, (status, deployments) in apps.items()
        }
    }


def test_region_is_healthy_while_every_application_runs_a_replica():
    details = _details(
        shop=("RUNNING", {"Shop": _deployment("HEALTHY", ["RUNNING"])}),
        search=("RUNNING", {"Search": _deployment("UPSCALING", ["RUNNING", "STARTING"], target=2)}),
    )
    assert verdict(details).healthy
    assert verdict(details).body() == {"healthy": True, "unable": []}


def test_application_without_a_running_replica_makes_the_region_unhealthy_and_is_named():
    details = _details(
        shop=("RUNNING", {"Shop": _deployment("HEALTHY", ["RUNNING"])}),
        search=("DEPLOYING", {"Search": _deployment("UNHEALTHY", ["STOPPING", "PENDING_ALLOCATION"])}),
    )
    assert verdict(details).body() == {
        "healthy": False,
        "unable": ["search: Search has no running replica (UNHEALTHY)"],
    }


def test_every_deployment_of_an_application_must_be_able_to_serve():
    details = _details(
        shop=("RUNNING", {"Front": _deployment("HEALTHY", ["RUNNING"]), "Model": _deployment("UPDATING", ["STARTING"])})
    )
    assert verdict(details).unable == ("shop: Model has no running replica (UPDATING)",)


def test_application_scaled_to_zero_is_not_an_outage():
    details = _details(idle=("RUNNING", {"Idle": _deployment("HEALTHY", [], min_replicas=0, target=0)}))
    assert verdict(details).healthy


def test_application_waking_from_zero_is_not_an_outage():
    details = _details(idle=("RUNNING", {"Idle": _deployment("UPSCALING", ["STARTING"], min_replicas=0)}))
    assert verdict(details).healthy


def test_application_allowed_zero_replicas_that_serve_reports_broken_is_an_outage():
    details = _details(idle=("UNHEALTHY", {"Idle": _deployment("UNHEALTHY", [], min_replicas=0, target=0)}))
    assert verdict(details).unable == ("idle: Idle has no running replica (UNHEALTHY)",)


def test_application_with_a_fixed_replica_count_and_none_running_is_an_outage():
    fixed = _deployment("UNHEALTHY", ["STARTING"])
    fixed["deployment_config"] = {"num_replicas": 1}
    assert not verdict(_details(shop=("RUNNING", {"Shop": fixed}))).healthy


def test_application_still_building_has_no_deployment_and_cannot_serve():
    assert verdict(_details(shop=("DEPLOYING", {}))).unable == ("shop: no deployment yet (DEPLOYING)",)


def test_region_health_does_not_count_itself_nor_applications_being_deleted():
    details = _details(
        **{REGION_HEALTH_APP: ("DEPLOYING", {"RegionHealth": _deployment("UPDATING", ["STARTING"])})},
        old=("DELETING", {"Old": _deployment("HEALTHY", ["STOPPING"])}),
    )
    assert verdict(details).healthy


def test_region_with_no_application_configured_is_healthy():
    assert verdict({"applications": {}}).healthy


def _first_party_imports(path, root):
    """The modules of rayfleet's own packages one source file imports, as file paths under root."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] not in ("serve_apps", "components", "stacks"):
                continue
            base = root / name.replace(".", "/")
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    found.add(candidate)
    return found


def test_code_package_holds_every_module_the_replicas_import():
    import io
    import zipfile

    from serve_apps.package import ROOT, code_package
    from serve_apps.render import REGION_HEALTH_IMPORT_PATH
    from stacks.loader import load_environment

    names = working_dir_files(code_package()[0])
    shipped = {a.import_path for env in ("dev", "staging", "prod") for a in load_environment(env).serve.applications}
    apps = [*sorted(shipped), REGION_HEALTH_IMPORT_PATH]
    pending = {ROOT / path.split(":")[0].replace(".", "/") / "__init__.py" for path in apps}
    seen = set()
    while pending:
        path = pending.pop()
        seen.add(path)
        pending |= _first_party_imports(path, ROOT) - seen
    # A replica runs from this zip alone: a module it imports that the zip lacks fails it on every cloud node.
    needed = {p.relative_to(ROOT).as_posix() for p in seen}
    assert sorted(needed - names) == []


def test_a_replica_migrating_off_a_draining_node_still_serves_its_application():
    # A spot notice drains the node: Serve keeps routing to its replica (PENDING_MIGRATION) until the replacement runs.
    details = _details(digits=("RUNNING", {"Digits": _deployment("HEALTHY", ["PENDING_MIGRATION", "STARTING"])}))
    assert verdict(details).body() == {"healthy": True, "unable": []}
