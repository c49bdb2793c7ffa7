"""What an application is made of, learned the way `serve build` learns it: by importing and building it.

    >>> found = discover(project_root(), [AppRef("serve_apps.digits:app", {"modelUri": "file:///m/digits-v1.json"})])
    >>> found[0].deployments, found[0].ingress
    (['Digits'], 'Digits')

The import runs in a subprocess (`python -m serve_apps.discovery`) with the
application's `source` first on `sys.path`, so the user's modules never load
into rayfleet and one broken app cannot leave state behind. Inside, it does
what Ray's `serve build` and `serve run` do: `import_attr`, then the builder
called with `args` through Serve's own argument handling, then `build_app`,
whose deployments and ingress name are the ones Serve will create.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.errors import RayfleetError

#: Placeholder in an application's `args`: the renderer puts the target's models base there
#: (file://<RAYFLEET_HOME>/models locally, s3://<artifact bucket>/models in the cloud).
MODELS_PLACEHOLDER = "${models}"
#: Key prefix of model artifacts in the artifact bucket: a cloud target's models base is s3://<bucket>/models.
MODELS_PREFIX = "models"
IMPORT_FIX = ("check importPath ('module:attribute' naming a Serve application or a builder function) "
              "and source (the folder its module is found in)")
#: Discovery imports user code; it must not hang a command.
DISCOVERY_TIMEOUT_S = 120


def project_root() -> Path:
    """The folder holding Pulumi.yaml (the stacks folder's parent): where a relative `source` starts."""
    from stacks.loader import stacks_dir

    return stacks_dir().resolve().parent


def source_dir(source: str | None, root: Path | None = None) -> Path:
    """An application's `source` as an absolute folder (the project root when unset)."""
    root = root or project_root()
    if not source:
        return root
    path = Path(source).expanduser()
    return (path if path.is_absolute() else root / path).resolve()


def expand_models(value: Any, models_base: str) -> Any:
    """`value` with MODELS_PLACEHOLDER replaced by `models_base` in every string, at any depth."""
    if isinstance(value, str):
        return value.replace(MODELS_PLACEHOLDER, models_base.rstrip("/"))
    if isinstance(value, dict):
        return {k: expand_models(v, models_base) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_models(v, models_base) for v in value]
    return value


def model_files(value: Any) -> list[str]:
    """File names the strings of `value` place under MODELS_PLACEHOLDER ('${models}/digits-v1.json' -> 'digits-v1.json')."""
    if isinstance(value, dict):
        return [name for v in value.values() for name in model_files(v)]
    if isinstance(value, list):
        return [name for v in value for name in model_files(v)]
    if isinstance(value, str) and value.startswith(MODELS_PLACEHOLDER + "/"):
        return [value[len(MODELS_PLACEHOLDER) + 1:]]
    return []


@dataclass(frozen=True)
class AppRef:
    import_path: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Discovered:
    """One application: its deployments (as Serve names them), the ingress among them, or why it failed."""

    import_path: str
    deployments: list[str]
    ingress: str | None
    #: "<exception message> (<file>:<line>)" when importing or building failed.
    error: str | None = None
    #: Deployments with a `@serve.multiplexed` method: they need requests routed by model ID.
    multiplexed: tuple[str, ...] = ()


_CACHE: dict[tuple[str, str, str], Discovered] = {}


def discover(source: Path, apps: list[AppRef]) -> list[Discovered]:
    """Import and build each of `apps` from `source` in one subprocess (memoized per process)."""
    keys = [(str(source), a.import_path, json.dumps(a.args, sort_keys=True, default=str)) for a in apps]
    missing = [(key, app) for key, app in zip(keys, apps) if key not in _CACHE]
    if missing:
        if not source.is_dir():
            raise RayfleetError(f"source {source}: no such folder. Fix: give the folder holding the application's code")
        for (key, _), found in zip(missing, _run(source, [app for _, app in missing])):
            _CACHE[key] = found
    return [_CACHE[key] for key in keys]


def _run(source: Path, apps: list[AppRef]) -> list[Discovered]:
    request = {"source": str(source), "apps": [{"import_path": a.import_path, "args": a.args} for a in apps]}
    with tempfile.TemporaryDirectory(prefix="rayfleet-discover-") as folder:
        answer = Path(folder) / "answer.json"
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            run = subprocess.run(
                [sys.executable, "-m", "serve_apps.discovery", str(answer)],
                input=json.dumps(request, default=str), capture_output=True, text=True,
                cwd=source, env=env, timeout=DISCOVERY_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise RayfleetError(f"importing the applications of {source} took over {DISCOVERY_TIMEOUT_S} s. "
                                "Fix: do not start work at import time; load models in a deployment's __init__") from None
        if not answer.is_file():
            last = (run.stderr.strip().splitlines() or ["no output"])[-1]
            raise RayfleetError(f"importing the applications of {source} failed: {last}. Fix: run the import by hand to see why")
        found = json.loads(answer.read_text())
    return [
        Discovered(a.import_path, f["deployments"], f["ingress"], f["error"], tuple(f.get("multiplexed", ())))
        for a, f in zip(apps, found)
    ]


def check_applications(apps, *, ingress: str, imports: bool = True) -> list[str]:
    """One line per problem of `apps` (ServeApp entries): a missing source folder or requirements file,
    and with `imports`, an import path that does not import, name a Serve application or builder, or
    build, an override naming a deployment the application lacks, and model multiplexing behind an
    `ingress` that ignores it."""
    from serve_apps.paths import models_dir

    problems = []
    by_source: dict[Path, list[tuple[int, Any]]] = {}
    for index, app in enumerate(apps):
        at = f"rayfleet:serve.applications[{index}]"
        source = source_dir(app.source)
        if not source.is_dir():
            problems.append(f"{at}.source = '{app.source}': no such folder {source}. "
                            "Fix: give the folder holding the application's code (absolute, or relative to the project root)")
            continue
        pip = app.runtime_env.pip
        if isinstance(pip, str) and not (source / pip).is_file():
            problems.append(f"{at}.runtimeEnv.pip = '{pip}': no such file {source / pip}. "
                            "Fix: give a requirements file relative to source, or a list of requirements")
        by_source.setdefault(source, []).append((index, app))
    if not imports:
        return problems
    models = models_dir().resolve().as_uri()
    for source, entries in by_source.items():
        refs = [AppRef(app.import_path, expand_models(app.args, models)) for _, app in entries]
        for (index, app), found in zip(entries, discover(source, refs)):
            problems.extend(problems_of(index, app, found, ingress))
    return problems


def problems_of(index: int, app: Any, found: Discovered, ingress: str) -> list[str]:
    at = f"rayfleet:serve.applications[{index}]"
    if found.error:
        return [f"{at}.importPath = '{app.import_path}': {found.error}. Fix: {IMPORT_FIX}"]
    problems = [
        f"{at}.deployments.{name}: application '{app.name}' has no deployment '{name}' "
        f"(its deployments: {', '.join(found.deployments)}). Fix: name one of those"
        for name in app.deployments if name not in found.deployments
    ]
    if found.multiplexed and ingress == "haproxy":
        # Ray 2.60's HAProxy ingress balances by connections, never by `serve_multiplexed_model_id`
        # (ray-project/ray#65976): every replica would end up loading every model.
        problems.append(
            f"{at}.importPath = '{app.import_path}': deployment {', '.join(found.multiplexed)} uses "
            "@serve.multiplexed, which Serve's HAProxy ingress does not route by (requests would reach "
            "replicas without their model loaded). Fix: set rayfleet:serve.ingress: python for this environment"
        )
    return problems


# --- the subprocess ---------------------------------------------------------------


def _where(err: BaseException, source: str, target: Any = None) -> str:
    """file:line the exception came from: the innermost frame of the user's code; when Ray refused the
    builder itself, where the builder is defined; when the module named by the import path is missing,
    the folder it was looked for in."""
    if isinstance(err, SyntaxError) and err.filename:
        return f"{err.filename}:{err.lineno}"
    frames = []
    tb = err.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    skip = ("<frozen", os.sep + "importlib" + os.sep, os.sep + "ray" + os.sep, __file__)
    own = [f for f in frames if not any(s in f[0] for s in skip)]
    if not own and target is not None:
        import inspect

        try:
            return f"{inspect.getsourcefile(target)}:{inspect.getsourcelines(target)[1]}"
        except (TypeError, OSError):
            return f"looked for in {source}"  # a builder without source on disk: say where we looked
    if not own:
        return f"looked for in {source}"
    filename, line = own[-1]
    return f"{filename}:{line}"


def _build_one(import_path: str, args: dict[str, Any], source: str) -> dict[str, Any]:
    """What `serve build` and `serve run` do with an import path: import_attr, the builder called through
    Serve's own argument handling, build_app."""
    from types import FunctionType

    from ray._common.utils import import_attr
    from ray.serve import Application
    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
    from ray.serve._private.build_app import build_app

    stage, target = "cannot import", None
    try:
        target = import_attr(import_path)
        if not isinstance(target, (Application, FunctionType)):
            kind = type(target).__name__
            return {"deployments": [], "ingress": None,
                    "error": f"is not a Serve application or builder function (it is a {kind})"}
        stage = "cannot build"
        app = call_user_app_builder_with_args_if_necessary(target, args)
        built = build_app(app, name="discovery")
    except Exception as err:  # noqa: BLE001 - any failure of user code is reported, one line
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return {"deployments": [], "ingress": None, "error": f"{stage}: {message} ({_where(err, source, target)})"}
    return {"deployments": [d.name for d in built.deployments], "ingress": built.ingress_deployment_name, "error": None,
            "multiplexed": [d.name for d in built.deployments if _is_multiplexed(d.func_or_class)]}


def _is_multiplexed(func_or_class: Any) -> bool:
    """A deployment class with a `@serve.multiplexed` method, its own or inherited (Serve's wrapper keeps
    the method's name, not its code: the code object is Serve's own `_multiplex_wrapper`)."""
    classes = func_or_class.__mro__ if isinstance(func_or_class, type) else ()
    members = [m for cls in classes for m in vars(cls).values()]
    return any(getattr(getattr(m, "__code__", None), "co_name", "") == "_multiplex_wrapper" for m in members)


def _main(answer: str) -> None:
    request = json.loads(sys.stdin.read())
    sys.path.insert(0, request["source"])
    found = [_build_one(app["import_path"], app["args"], request["source"]) for app in request["apps"]]
    Path(answer).write_text(json.dumps(found))


if __name__ == "__main__":
    _main(sys.argv[1])
