"""An `aws` command (and a session-manager-plugin) for PATH, whose `ssm start-session` forwards ports on loopback.

    bin_dir = install_fake_session_cli(tmp_path / "bin", remote_ports={8265: 18280})
    run_cli("job", "submit", "--env", "dev", ..., env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})

`aws ssm start-session --document-name AWS-StartPortForwardingSession
--parameters '{"portNumber":["8265"],"localPortNumber":["N"]}'` listens on
127.0.0.1:N and relays each connection to 127.0.0.1:<remote_ports[8265]>:
the head's port as if through Session Manager, with the node on this machine.
It prints what the real plugin prints and runs until it is terminated. Every
invocation's arguments are appended to `calls.log` beside it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

_SCRIPT = r'''
import json, socket, sys, threading
from pathlib import Path

here = Path(__file__).resolve().parent
with open(here / "calls.log", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
args = sys.argv[1:]
flags = dict(zip(args[2::2], args[3::2]))
if args[:3] != ["ssm", "start-session", "--target"] or flags.get("--document-name") != "AWS-StartPortForwardingSession":
    sys.exit("fake aws: only 'ssm start-session' with AWS-StartPortForwardingSession")
params = json.loads(flags["--parameters"])
remote = json.loads((here / "remote_ports.json").read_text())[params["portNumber"][0]]
local = int(params["localPortNumber"][0])

def pipe(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", local))
server.listen(16)
print(f"Starting session with SessionId: fake-{flags['--target']}", flush=True)
print(f"Port {local} opened for sessionId fake-{flags['--target']}.", flush=True)
print("Waiting for connections...", flush=True)
while True:
    client, _ = server.accept()
    print("Connection accepted for session", flush=True)
    upstream = socket.create_connection(("127.0.0.1", remote))
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
'''


def install_fake_session_cli(bin_dir: Path, remote_ports: dict[int, int]) -> Path:
    """Write `aws` and `session-manager-plugin` into `bin_dir`; the instance's ports map to loopback ports."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "remote_ports.json").write_text(json.dumps({str(k): v for k, v in remote_ports.items()}))
    aws = bin_dir / "aws"
    aws.write_text(f"#!{sys.executable}\n{_SCRIPT}")
    aws.chmod(0o755)
    plugin = bin_dir / "session-manager-plugin"
    plugin.write_text("#!/bin/sh\nexit 0\n")
    plugin.chmod(0o755)
    return bin_dir


def calls(bin_dir: Path) -> list[list[str]]:
    log = bin_dir / "calls.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
