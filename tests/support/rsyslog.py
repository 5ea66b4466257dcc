"""A real syslog daemon for the tests: rsyslogd (Debian's rsyslog + rsyslog-gnutls) in the foreground,
listening on 127.0.0.1 with TLS (RFC 5425, client certificates verified) or plain TCP, writing every
message it receives to a file, one line each: structured data, then the message."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def rsyslogd() -> str:
    path = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
    if path is None:
        if IN_CI:
            pytest.fail("rsyslogd is required in CI (.ci/run installs rsyslog and rsyslog-gnutls)")
        pytest.skip("rsyslogd not installed (apt-get install rsyslog rsyslog-gnutls)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rsyslog:
    def __init__(self, directory: Path, *, tls=None, ca: Path | None = None, port: int | None = None) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.out = self.dir / "received.log"
        self.proc: subprocess.Popen | None = None
        work = self.dir / "work"
        work.mkdir(exist_ok=True)
        if tls is not None:
            head = (f'global(workDirectory="{work}" defaultNetstreamDriver="gtls" '
                    f'defaultNetstreamDriverCAFile="{ca}" defaultNetstreamDriverCertFile="{tls.cert}" '
                    f'defaultNetstreamDriverKeyFile="{tls.key}")\n'
                    'module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" '
                    'streamDriver.authMode="x509/certvalid" maxSessions="50")\n')
        else:
            head = f'global(workDirectory="{work}")\nmodule(load="imtcp")\n'
        conf = head + (
            f'input(type="imtcp" port="{self.port}" address="127.0.0.1")\n'
            'template(name="audit" type="string" string="%structured-data% %msg%\\n")\n'
            f'action(type="omfile" file="{self.out}" template="audit" flushOnTXEnd="on" asyncWriting="off")\n')
        self.conf = self.dir / "rsyslog.conf"
        self.conf.write_text(conf)

    def start(self, timeout: float = 20) -> "Rsyslog":
        self.log = open(self.dir / "rsyslogd.out", "ab")
        self.proc = subprocess.Popen([rsyslogd(), "-n", "-f", str(self.conf), "-i", str(self.dir / "rsyslogd.pid")],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"rsyslogd exited: {(self.dir / 'rsyslogd.out').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("rsyslogd did not listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def records(self) -> dict[str, str]:
        """recordId -> the message received (the last copy if it came more than once)."""
        out: dict[str, str] = {}
        if not self.out.exists():
            return out
        for line in self.out.read_text("utf-8", "replace").splitlines():
            m = re.match(r'\[epd@32473 recordId="([^"]+)" seq="(\d+)"\] ?(.*)$', line)
            if m:
                out[m.group(1)] = m.group(3).lstrip("\ufeff")
        return out

    def wait_for(self, ids: set[str], timeout: float = 30) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.records()
            if ids <= set(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.2)
