"""Idle and trickling connections against a new request (issue 14 item 4).

Starts ``epd-gateway serve`` (SQLite, N workers) on a fresh data directory, opens ``--idle``
connections that send nothing and ``--trickle`` connections that send one header byte a second,
then times ``--probes`` new requests (a fresh connection each, ``GET /health``; and as many ITI-18
stored queries) while they are all open. Target: p99 < 100 ms with 1,000 connections held.

    .venv/bin/python bench/connections_bench.py --idle 500 --trickle 500 --workers 2

``--header-timeout`` is set high by default so that the held connections stay open for the whole
measure (the worst case for the server); with the default of 10 s they would be closed after it.
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def start(args, data: Path) -> tuple[subprocess.Popen, str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPD_")}
    env.update(EPD_DATA_DIR=str(data), EPD_HEADER_TIMEOUT=str(args.header_timeout),
               EPD_MAX_CONNECTIONS=str(args.max_connections), EPD_LOG_LEVEL="warning")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", "0", "--workers", str(args.workers)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    for line in proc.stdout:  # type: ignore[union-attr]
        m = re.search(r"listening on http://([^:/]+):(\d+)/", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, m.group(1), int(m.group(2))
    raise SystemExit("the gateway did not start")


def probe(host: str, port: int, method: str, path: str, body: bytes | None = None) -> float:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request(method, path, body=body, headers={"Content-Type": "application/soap+xml"} if body else {})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status in (200, 400, 500), resp.status
    return time.perf_counter() - t0


def stored_query() -> bytes:
    from gateway.soap.envelope import build_envelope, serialize
    from lxml import etree
    from profiles.xds import constants as C
    q = etree.Element(f"{{{C.NS_QUERY}}}AdhocQueryRequest", nsmap={"query": C.NS_QUERY, "rim": C.NS_RIM})
    etree.SubElement(q, f"{{{C.NS_QUERY}}}ResponseOption", returnType="ObjectRef", returnComposedObjects="true")
    aq = etree.SubElement(q, f"{{{C.NS_RIM}}}AdhocQuery", id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d")
    for name, value in (("$XDSDocumentEntryPatientId", "'x^^^&2.16.756.5.30.1.999.1.1&ISO'"),
                        ("$XDSDocumentEntryStatus", "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')")):
        slot = etree.SubElement(aq, f"{{{C.NS_RIM}}}Slot", name=name)
        etree.SubElement(etree.SubElement(slot, f"{{{C.NS_RIM}}}ValueList"), f"{{{C.NS_RIM}}}Value").text = value
    return serialize(build_envelope(q, C.ACTION_ITI18, None))


def summary(name: str, times: list[float]) -> str:
    times = sorted(times)
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000  # noqa: E731
    return (f"{name:<14} n={len(times)} p50={p(0.5):.1f} ms p90={p(0.9):.1f} ms p99={p(0.99):.1f} ms "
            f"max={times[-1] * 1000:.1f} ms mean={statistics.mean(times) * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idle", type=int, default=500)
    ap.add_argument("--trickle", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--header-timeout", type=float, default=600)
    ap.add_argument("--max-connections", type=int, default=4096)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, host, port = start(args, Path(tmp))
        held: list[socket.socket] = []
        try:
            for _ in range(20):
                probe(host, port, "GET", "/health")          # both workers up
            baseline = [probe(host, port, "GET", "/health") for _ in range(args.probes)]
            t0 = time.perf_counter()
            for _ in range(args.idle + args.trickle):
                held.append(socket.create_connection((host, port)))
            opened = time.perf_counter() - t0
            trickling = held[args.idle:]
            stop = threading.Event()

            def trickle() -> None:
                line = b"GET /health HTTP/1.1\r\nX-Slow: " + b"a" * 100000
                i = 0
                while not stop.is_set():
                    for s in trickling:
                        try:
                            s.send(line[i:i + 1])
                        except OSError:
                            pass
                    i += 1
                    stop.wait(1.0)
            threading.Thread(target=trickle, daemon=True).start()
            time.sleep(2.0)
            first = probe(host, port, "GET", "/health")
            health = [probe(host, port, "GET", "/health") for _ in range(args.probes)]
            body = stored_query()
            query = [probe(host, port, "POST", "/xds/registry", body) for _ in range(args.probes)]
            stop.set()
            alive = 0
            for s in held:
                s.setblocking(False)
                try:
                    alive += s.recv(1) != b""
                except BlockingIOError:
                    alive += 1
                except OSError:
                    pass
            print(f"workers={args.workers} idle={args.idle} trickling={args.trickle} "
                  f"(opened in {opened:.2f} s, {alive} still open at the end)")
            print(summary("health, none", baseline))
            print(f"first request with them open: {first * 1000:.1f} ms")
            print(summary("health, held", health))
            print(summary("ITI-18, held", query))
        finally:
            for s in held:
                s.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
