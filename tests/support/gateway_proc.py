"""Start the real gateway (``epd-gateway serve``) in a subprocess on 127.0.0.1, for integration tests."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors" / "epr-by-example"


@dataclass
class GatewayProc:
    data_dir: Path
    env: dict
    proc: subprocess.Popen | None = None
    base_url: str = ""
    output: list[str] = field(default_factory=list)
    verify: bool | str = True                  # TLS: the CA bundle the health check trusts
    cert: tuple[str, str] | None = None        # mutual TLS: the health check's client certificate

    @property
    def repository_url(self) -> str:
        return self.base_url + "/xds/repository"

    @property
    def registry_url(self) -> str:
        return self.base_url + "/xds/registry"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        if check and done.returncode:
            raise AssertionError(f"epd-gateway {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    def url(self, path: str) -> str:
        return self.base_url + path

    def add_patient(self, epr_spid: str, family: str = "Muster", given: str = "Anna", *extra: str,
                    birth_date: str = "1980-01-02", gender: str = "F") -> str:
        """Open a patient with ``epd-gateway patient add``; returns the MPI-PID (CX)."""
        out = self.cli("patient", "add", "--epr-spid", epr_spid, "--family", family, "--given", given,
                       "--birth-date", birth_date, "--gender", gender, *extra)
        return out.stdout.strip().splitlines()[-1]

    def start(self, *args: str, timeout: float = 60) -> "GatewayProc":
        cmd = [sys.executable, "-m", "gateway.cli", "serve", "--port", "0", *args]
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError("gateway exited early:\n" + "".join(self.output))
                continue
            self.output.append(line)
            m = re.search(r"listening on (https?://[^/\s]+)/", line)
            if m:
                self.base_url = m.group(1)
                break
        else:
            self.stop()
            raise RuntimeError("gateway did not start:\n" + "".join(self.output))
        # drain output in the background so the pipe never fills
        import threading
        threading.Thread(target=self._drain, daemon=True).start()
        for _ in range(100):
            try:
                if requests.get(self.base_url + "/health", timeout=2, verify=self.verify,
                                cert=self.cert).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("gateway health check failed")

    def _drain(self) -> None:
        proc = self.proc
        for line in proc.stdout:  # type: ignore[union-attr]
            self.output.append(line)

    def kill9(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=15)
        self.proc = None


def make_gateway(data_dir: Path, database_url: str | None = None, **settings: str) -> GatewayProc:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPD_")}
    env["EPD_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(REPO)
    if database_url:
        env["EPD_DATABASE_URL"] = database_url
    for key, value in settings.items():
        env["EPD_" + key.upper()] = value
    return GatewayProc(data_dir=data_dir, env=env)


def post_raw(url: str, body: bytes, content_type: str = "application/soap+xml; charset=UTF-8",
             timeout: float = 30) -> tuple[int, str | None, bytes]:
    """POST bytes as they are (no SOAP client in between): (status, Content-Type, body)."""
    import http.client
    from urllib.parse import urlparse
    u = urlparse(url)
    if u.scheme == "https":   # the CA the test process trusts (REQUESTS_CA_BUNDLE, as requests does)
        import ssl
        ctx = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE") or None)
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("POST", u.path, body=body, headers={"Content-Type": content_type})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()
