"""The real gateway on 127.0.0.1 for client and end-to-end tests.

``gateway_server`` (session scope) runs ``python -m gateway.cli serve --port 0 --workers 1`` on a
fresh data directory and yields a :class:`GatewayServer`:

* ``base_url`` -- ``http://127.0.0.1:PORT`` (``url("/xds/registry")`` joins a path);
* ``data_dir`` -- the server's data directory (``EPD_DATA_DIR``);
* ``add_patient(epr_spid, family, given, birth_date=None, gender="U")`` -- opens a patient with
  ``gateway.cli patient add`` and returns the MPI-PID in CX form.

Other test folders can reuse it: ``from tests.clients.conftest import gateway_server`` in their
conftest (or call :func:`start_gateway` / :meth:`GatewayServer.stop` directly).
"""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
LISTENING = re.compile(r"listening on (http://\S+?):(\d+)/")
START_TIMEOUT = 60


def _env(data_dir: Path) -> dict[str, str]:
    return dict(os.environ, EPD_DATA_DIR=str(data_dir),
                PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


@dataclass
class GatewayServer:
    base_url: str
    data_dir: Path
    proc: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def add_patient(self, epr_spid: str, family: str, given: str, birth_date: str | None = None,
                    gender: str = "U") -> str:
        """Open a patient in the gateway's MPI through the CLI; returns its MPI-PID (CX)."""
        cmd = [PYTHON, "-m", "gateway.cli", "patient", "add", "--epr-spid", epr_spid, "--family", family,
               "--given", given, "--gender", gender, "--data-dir", str(self.data_dir)]
        if birth_date:
            cmd += ["--birth-date", birth_date]
        done = subprocess.run(cmd, cwd=ROOT, env=_env(self.data_dir), capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"patient add failed ({done.returncode}): {done.stderr or done.stdout}")
        return done.stdout.strip().splitlines()[-1].strip()

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


def start_gateway(data_dir: Path, *extra_args: str) -> GatewayServer:
    """Start ``gateway.cli serve`` on a free port of 127.0.0.1; return once it listens."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "server.log", "wb")
    proc = subprocess.Popen([PYTHON, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", "0",
                             "--workers", "1", "--data-dir", str(data_dir), *extra_args],
                            cwd=ROOT, env=_env(data_dir), stdout=subprocess.PIPE, stderr=log)
    log.close()
    assert proc.stdout is not None
    server = GatewayServer(base_url="", data_dir=data_dir, proc=proc)
    found: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:  # reads every line (and keeps the pipe from filling up)
        for raw in proc.stdout:  # type: ignore[union-attr]
            line = raw.decode("utf-8", "replace").rstrip("\n")
            server.output.append(line)
            m = LISTENING.search(line)
            if m:
                found.put(f"{m.group(1)}:{m.group(2)}")
        found.put(None)
    threading.Thread(target=drain, daemon=True).start()
    try:
        server.base_url = found.get(timeout=START_TIMEOUT) or ""
    except queue.Empty:
        pass
    if not server.base_url:
        server.stop()
        err = (data_dir / "server.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"gateway did not start: {server.output!r}\n{err}")
    return server


@pytest.fixture(scope="session")
def gateway_server(tmp_path_factory):
    server = start_gateway(tmp_path_factory.mktemp("gateway-data"))
    yield server
    server.stop()
