"""XDS benchmarks over the real gateway (``epd-gateway serve`` as a subprocess), outside CI.

small: ITI-41 Provide and Register, one document of --size bytes per submission (MTOM), --clients
       concurrent keep-alive connections on loopback, --warmup then --count submissions; reports
       submissions/s, p50/p99 latency, and the CPU used by the load generator and by the gateway.
large: ITI-41 then ITI-43 of one --large-mb document (upload streamed from a file with
       ``SoapClient`` + ``OutgoingAttachment(path=...)``, download spooled to disk); MB/s and the
       gateway workers' peak RSS (VmHWM of each worker from /proc, on a freshly started server).

    .venv/bin/python bench/xds_bench.py --db sqlite --mode small --count 3000
    .venv/bin/python bench/xds_bench.py --db postgresql --mode small --count 3000
    .venv/bin/python bench/xds_bench.py --db postgresql --mode large --large-mb 100

The load generator is one Python process driving all connections from a ``selectors`` loop over
raw sockets, with every request (HTTP head + MTOM body, distinct document and submission-set
uniqueIds) encoded before the timed run: per submission it only does ``send`` and a ``recv`` of
the ~1 KB reply, so it leaves almost both cores to the server (its CPU time is printed).
"""
from __future__ import annotations

import argparse
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from machine import announce  # noqa: E402

from gateway.clients.submission import DocumentSpec, provide_and_register_request, retrieve_request  # noqa: E402
from gateway.soap.attachments import OutgoingAttachment  # noqa: E402
from gateway.soap.envelope import WSA_ANONYMOUS, build_envelope, new_message_id  # noqa: E402
from gateway.soap.message import encode_message  # noqa: E402
from profiles.xds import constants as C  # noqa: E402

BIN = ROOT / ".venv" / "bin"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
REPO_UID = "2.16.756.5.30.1.999.1.2"
SUCCESS = b"ResponseStatusType:Success"


# ------------------------------------------------------------------------------- environment

class Gateway:
    """A data dir (and a fresh PostgreSQL database), a patient, and the server process."""

    def __init__(self, db: str, workers: int, port: int) -> None:
        self.db, self.workers, self.port = db, workers, port
        self.data = tempfile.mkdtemp(prefix="xds-bench-", dir=os.environ.get("BENCH_DIR"))
        self.env = dict(os.environ, EPD_DATA_DIR=self.data)
        self.dbname = None
        if db == "postgresql":
            self.dbname = f"xds_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            self._admin(f'CREATE DATABASE "{self.dbname}"')
            self.env["EPD_DATABASE_URL"] = PG + self.dbname
        subprocess.run([BIN / "epd-gateway", "db", "upgrade"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        out = subprocess.run([BIN / "epd-gateway", "patient", "add", "--epr-spid", "761337610411353650",
                              "--family", "Muster", "--given", "Anna", "--birth-date", "1980-01-02",
                              "--gender", "F"], env=self.env, check=True, capture_output=True, text=True)
        self.pid_cx = out.stdout.strip().splitlines()[-1]
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def _admin(sql: str) -> None:
        import psycopg
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(sql)

    def start(self) -> None:
        self.log = open(Path(self.data) / "server.log", "wb")
        self.proc = subprocess.Popen([BIN / "epd-gateway", "serve", "--port", str(self.port), "--workers",
                                      str(self.workers), "--data-dir", self.data], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # as a service: its own session (bench/machine.py)
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2).read()
                if len(self.worker_pids()) >= (self.workers if self.workers > 1 else 0):
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"gateway did not start; see {self.log.name}")
            time.sleep(0.2)
        time.sleep(1.0)  # let every worker finish building its resource tree

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(k) for k in kids] or [self.proc.pid]

    def serving_pids(self) -> list[int]:
        """The processes that serve requests (the workers; the server itself with --workers 1)."""
        return self.worker_pids() if self.workers > 1 else [self.proc.pid]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self.dbname:
            self._admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        shutil.rmtree(self.data, ignore_errors=True)


def proc_status(pid: int, key: str) -> int:
    """A kB field of /proc/<pid>/status (VmHWM, VmRSS), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def proc_cpu(pid: int) -> float:
    """user + system CPU seconds of a process (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # exited (a pooled connection closed): its time is lost to the sum
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pids(dbname: str | None) -> list[int]:
    """PostgreSQL backends serving ``dbname`` (their process title names the database)."""
    if not dbname:
        return []
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if dbname.encode() in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


# ------------------------------------------------------------------------------- small submissions

def build_requests(pid_cx: str, n: int, size: int, port: int) -> list[bytes]:
    """``n`` complete HTTP requests (head + MTOM body), each with fresh uniqueIds and content."""
    url = f"http://127.0.0.1:{port}/xds/repository"
    out = []
    for i in range(n):
        content = b"%PDF-1.4\n" + os.urandom(size - 9)
        body, parts = provide_and_register_request(pid_cx, [DocumentSpec(content, title=f"bench {i}")])
        env = build_envelope(body, C.ACTION_ITI41, None, new_message_id(), to=url, reply_to=WSA_ANONYMOUS)
        msg = encode_message(env, [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True,
                             action=C.ACTION_ITI41)
        payload = msg.body.read() if not isinstance(msg.body, bytes) else msg.body
        head = (f"POST /xds/repository HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: {msg.content_type}\r\nContent-Length: {len(payload)}\r\n"
                f"Accept: application/soap+xml, multipart/related\r\n\r\n").encode()
        out.append(head + payload)
    return out


class _Conn:
    __slots__ = ("sock", "buf", "t0", "need")

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.t0 = 0.0
        self.need = -1


def run_load(port: int, requests: list[bytes], clients: int) -> tuple[list[float], int, float]:
    """Send every request over ``clients`` keep-alive connections; (latencies s, failures, wall s)."""
    sel = selectors.DefaultSelector()
    todo = iter(requests)
    latencies: list[float] = []
    failures = 0
    inflight = 0

    def send_next(c: _Conn) -> bool:
        req = next(todo, None)
        if req is None:
            return False
        c.buf, c.need = b"", -1
        c.t0 = time.perf_counter()
        c.sock.sendall(req)  # ~15 KB: fits in the loopback socket buffer
        return True

    conns = [_Conn(port) for _ in range(clients)]
    t_start = time.perf_counter()
    for c in conns:
        if send_next(c):
            sel.register(c.sock, selectors.EVENT_READ, c)
            inflight += 1
    while inflight:
        for key, _ in sel.select():
            c: _Conn = key.data
            data = c.sock.recv(1 << 16)
            if not data:
                raise SystemExit("server closed a connection")
            c.buf += data
            if c.need < 0:
                end = c.buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = c.buf[:end].decode("latin-1").lower()
                length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
                c.need = end + 4 + length
            if len(c.buf) < c.need:
                continue
            latencies.append(time.perf_counter() - c.t0)
            if not c.buf.startswith(b"HTTP/1.1 200") or SUCCESS not in c.buf:
                failures += 1
                if failures <= 3:
                    print("FAILED:", c.buf[:2000].decode("utf-8", "replace"), file=sys.stderr)
            if not send_next(c):
                sel.unregister(c.sock)
                inflight -= 1
    wall = time.perf_counter() - t_start
    for c in conns:
        c.sock.close()
    return latencies, failures, wall


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def bench_small(args) -> None:
    gw = Gateway(args.db, args.workers, args.port)
    try:
        t0 = time.perf_counter()
        reqs = build_requests(gw.pid_cx, args.warmup + args.count, args.size, args.port)
        print(f"pre-encoded {len(reqs)} requests ({len(reqs[-1])} bytes each) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        gw.start()
        lat, fail, wall = run_load(args.port, reqs[:args.warmup], args.clients)
        print(f"warm-up: {args.warmup} submissions, {args.warmup / wall:.0f}/s, failures {fail}", flush=True)
        pids = gw.serving_pids()
        srv0 = sum(proc_cpu(p) for p in pids)
        backends = backend_pids(gw.dbname)
        pg0 = {p: proc_cpu(p) for p in backends}
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        m0 = machine_cpu()
        lat, fail, wall = run_load(args.port, reqs[args.warmup:], args.clients)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        m1 = machine_cpu()
        srv = sum(proc_cpu(p) for p in pids) - srv0
        pg = sum(max(0.0, proc_cpu(p) - pg0[p]) for p in backends)
        cli = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        busy = (m1[0] - m0[0]) / max(1, m1[1] - m0[1]) * 100
        print(f"ITI-41 {args.size // 1024} KB x1 doc, {args.db}, {args.workers} workers, {args.clients} clients: "
              f"{args.count} submissions in {wall:.2f} s = {args.count / wall:.1f} subm/s; "
              f"p50 {pct(lat, 50) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms; "
              f"failures {fail}", flush=True)
        print(f"CPU: load generator {cli:.2f} s ({cli / wall * 100:.0f}% of one core), gateway workers "
              f"{srv:.2f} s ({srv / args.count * 1000:.2f} ms/submission), PostgreSQL backends {pg:.2f} s "
              f"({pg / args.count * 1000:.2f} ms/submission), machine busy {busy:.0f}% of "
              f"{os.cpu_count()} cores", flush=True)
    finally:
        gw.cleanup()


# ------------------------------------------------------------------------------- one large document

def bench_large(args) -> None:
    from gateway.clients.soap import SoapClient
    gw = Gateway(args.db, args.workers, args.port)
    try:
        size = args.large_mb * 1000 * 1000
        src = Path(gw.data) / "large.bin"
        with open(src, "wb") as fh:
            fh.write(b"%PDF-1.4\n")
            left = size - 9
            while left > 0:
                n = min(left, 1 << 22)
                fh.write(os.urandom(n))
                left -= n
        gw.start()
        pids = gw.serving_pids()
        base = {p: proc_status(p, "VmHWM") for p in pids}
        client = SoapClient(f"http://127.0.0.1:{args.port}/xds/repository", timeout=600)
        doc = DocumentSpec(b"", mime_type="application/pdf", title="large")
        body, parts = provide_and_register_request(gw.pid_cx, [doc])
        cid, mime, _ = parts[0]
        t0 = time.perf_counter()
        reply = client.call(C.ACTION_ITI41, body, [OutgoingAttachment(cid, mime, path=str(src))], mtom=True)
        up = time.perf_counter() - t0
        status = reply.body.get("status") if reply.body is not None else None
        if not (status or "").endswith("Success"):
            raise SystemExit(f"ITI-41 failed: {status}")
        after_up = {p: proc_status(p, "VmHWM") for p in pids}
        t0 = time.perf_counter()
        reply = client.call(C.ACTION_ITI43, retrieve_request([(REPO_UID, doc.unique_id)]), mtom=True)
        down = time.perf_counter() - t0
        atts = list(reply.attachments.values())
        ok = len(atts) == 1 and atts[0].size == size
        spooled = bool(atts and atts[0].spool_path)
        import hashlib
        h = hashlib.sha256()
        with open(src, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        same = bool(atts) and atts[0].sha256 == h.hexdigest()
        reply.close()
        after_down = {p: proc_status(p, "VmHWM") for p in pids}
        mb = size / 1e6
        print(f"{args.large_mb} MB document, {args.db}: ITI-41 {up:.2f} s = {mb / up:.0f} MB/s; "
              f"ITI-43 {down:.2f} s = {mb / down:.0f} MB/s (received {ok}, spooled to disk {spooled}, "
              f"sha256 equal {same})")
        for p in pids:
            print(f"worker {p}: VmHWM at start {base[p] / 2**20:.1f} MiB, after ITI-41 "
                  f"{after_up[p] / 2**20:.1f} MiB, after ITI-43 {after_down[p] / 2**20:.1f} MiB")
        print(f"sum of workers' VmHWM {sum(after_down.values()) / 2**20:.1f} MiB; supervisor "
              f"{proc_status(gw.proc.pid, 'VmHWM') / 2**20:.1f} MiB; client ru_maxrss "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
    finally:
        gw.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--mode", choices=("small", "large", "both"), default="small")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=10 * 1024)
    ap.add_argument("--large-mb", type=int, default=100)
    ap.add_argument("--port", type=int, default=18481)
    args = ap.parse_args()
    announce()
    if args.mode in ("small", "both"):
        bench_small(args)
    if args.mode in ("large", "both"):
        bench_large(args)


if __name__ == "__main__":
    main()
