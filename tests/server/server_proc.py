"""Start/stop the test app (tests/server/app.py) as a real server on 127.0.0.1, port 0."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_REQUEST_SIZE = 2 << 20


class RunningServer:
    def __init__(self, proc: subprocess.Popen, host: str, port: int) -> None:
        self.proc = proc
        self.host = host
        self.port = port
        self.base = f"http://{host}:{port}"
        self.echo_url = f"{self.base}/echo"


def start_server(*args: str, env_extra: dict[str, str] | None = None, scheme: str = "http") -> RunningServer:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(env_extra or {})
    proc = subprocess.Popen([sys.executable, "-m", "tests.server.app", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    if not line.startswith(b"LISTENING"):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    _, host, port = line.decode().split()
    server = RunningServer(proc, host, int(port))
    server.base = f"{scheme}://{host}:{port}"
    server.echo_url = f"{server.base}/echo"
    return server


def stop_server(server: RunningServer) -> int:
    server.proc.send_signal(signal.SIGTERM)
    try:
        return server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        raise
