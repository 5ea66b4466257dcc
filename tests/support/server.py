"""The one helper that starts the real server for every integration test, on 127.0.0.1, port 0.

Two kinds of application, one launcher:

* the gateway itself (``app=None``): ``python -m gateway.cli serve --port 0`` (the command an
  operator runs, demo data and endpoint list included);
* any ``build_root(settings)`` of a test (``app="tests.server.app:build_root"``):
  ``python -m gateway.process --app MODULE:FUNCTION``, served by the same ``gateway.process.run``.

Either way the settings are ``EPD_*`` variables (:func:`make_server` ``**settings``), the data
directory is the test's own, stdout and stderr are collected in :attr:`RunningServer.output`, and
:meth:`RunningServer.start` returns once the server answers HTTP.
"""
from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors" / "epr-by-example"
_LISTENING = re.compile(r"listening on (https?://[^/\s]+)/")


@dataclass
class RunningServer:
    data_dir: Path
    env: dict
    app: str | None = None
    proc: subprocess.Popen | None = None
    base_url: str = ""
    output: collections.deque = field(default_factory=lambda: collections.deque(maxlen=5000))
    verify: bool | str = True                  # TLS: the CA bundle the start-up check trusts
    cert: tuple[str, str] | None = None        # mutual TLS: the start-up check's client certificate

    # -- addresses -------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return urlparse(self.base_url).hostname or ""

    @property
    def port(self) -> int:
        return urlparse(self.base_url).port or 0

    @property
    def base(self) -> str:
        return self.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def repository_url(self) -> str:
        return self.base_url + "/xds/repository"

    @property
    def registry_url(self) -> str:
        return self.base_url + "/xds/registry"

    @property
    def echo_url(self) -> str:
        return self.base_url + "/echo"

    # -- the command line against the same data ---------------------------------------------------
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        if check and done.returncode:
            raise AssertionError(f"epd-gateway {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    def add_patient(self, epr_spid: str, family: str = "Muster", given: str = "Anna", *extra: str,
                    birth_date: str = "1980-01-02", gender: str = "F") -> str:
        """Open a patient with ``epd-gateway patient add``; returns the MPI-PID (CX)."""
        out = self.cli("patient", "add", "--epr-spid", epr_spid, "--family", family, "--given", given,
                       "--birth-date", birth_date, "--gender", gender, *extra)
        return out.stdout.strip().splitlines()[-1]

    # -- the process ------------------------------------------------------------------------------
    def start(self, *args: str, workers: int | None = None, timeout: float = 60) -> "RunningServer":
        """Start the server; ``args`` go to ``epd-gateway serve`` (or ``gateway.process``)."""
        env = dict(self.env)
        if self.app is None:
            cmd = [sys.executable, "-m", "gateway.cli", "serve", "--port", "0", *args]
            if workers is not None:
                cmd += ["--workers", str(workers)]
        else:
            cmd = [sys.executable, "-m", "gateway.process", "--app", self.app, *args]
            env.setdefault("EPD_PORT", "0")
            env.setdefault("EPD_WORKERS", "1")
            if workers is not None:
                env["EPD_WORKERS"] = str(workers)
        self.proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError("server exited early:\n" + "".join(self.output))
                continue
            self.output.append(line)
            m = _LISTENING.search(line)
            if m:
                self.base_url = m.group(1)
                break
        else:
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        threading.Thread(target=self._drain, daemon=True).start()   # the pipe must never fill
        while time.monotonic() < deadline:
            try:
                requests.get(self.base_url + "/health", timeout=5, verify=self.verify,
                             cert=self.cert)                  # any answer: a worker serves
                return self
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("server does not answer:\n" + "".join(self.output))

    def _drain(self) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        for line in proc.stdout:
            self.output.append(line)

    def kill9(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    def stop(self) -> int | None:
        """SIGTERM (the supervisor forwards it to the workers); the exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        try:
            proc.send_signal(signal.SIGTERM)
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=15)
            raise
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)    # any worker left behind
            except ProcessLookupError:
                pass


def server_env(data_dir: Path, database_url: str | None = None, **settings: object) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPD_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["EPD_DATA_DIR"] = str(data_dir)
    env["EPD_HOST"] = "127.0.0.1"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if database_url:
        env["EPD_DATABASE_URL"] = database_url
    for key, value in settings.items():
        env["EPD_" + key.upper()] = str(value)
    return env


def make_server(data_dir: Path, database_url: str | None = None, *, app: str | None = None,
                **settings: object) -> RunningServer:
    """A server (not started) on ``data_dir``: the gateway, or ``app`` (``module:build_root``)."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    return RunningServer(data_dir=Path(data_dir), env=server_env(Path(data_dir), database_url, **settings), app=app)


def start_server(data_dir: Path, database_url: str | None = None, *, app: str | None = None,
                 workers: int | None = 1, args: tuple[str, ...] = (), **settings: object) -> RunningServer:
    """:func:`make_server` and :meth:`RunningServer.start` in one."""
    return make_server(data_dir, database_url, app=app, **settings).start(*args, workers=workers)


def post_raw(url: str, body: bytes, content_type: str = "application/soap+xml; charset=UTF-8",
             timeout: float = 30) -> tuple[int, str | None, bytes]:
    """POST bytes as they are (no SOAP client in between): (status, Content-Type, body)."""
    import http.client
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
