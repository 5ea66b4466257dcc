"""Issue 14 item 1: worker memory under ITI-47 queries of many distinct shapes.

Thirty ITI-47 queries with 100 ... 3,000 livingSubjectName values (each a new query shape) against
one worker of ``epd-gateway serve`` (SQLite under a temp data dir, or ``--db-url``); the worker's
RSS (``/proc/PID/status`` VmRSS, the largest process of the server's tree) is read before and after.
Run side by side, in one run:

* ``before``: the tree of ``--before REV`` (``git archive``, nothing in the repository changes);
* ``after``: this tree, default limits (``hl7_max_parameter_values`` = 20: every query is AE naming the
  limit), then twice ``--shapes`` distinct query shapes within the limits (20 names, each exact or fuzzy);
* ``after, limit 3000``: this tree with ``EPD_HL7_MAX_PARAMETER_VALUES=3000`` (what the bounded statement
  cache alone does when such queries are allowed).

    .venv/bin/python bench/mpi_memory.py --before d1ce3b5

Outside CI (takes a few minutes). Prints one line per variant.
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEAD = ('<id root="1.2.3" extension="{mid}"/><creationTime value="20240101000000"/>'
        '<interactionId root="2.16.840.1.113883.1.6" extension="PRPA_IN201305UV02"/><processingCode code="P"/>'
        '<processingModeCode code="T"/><acceptAckCode code="AL"/>'
        '<receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id root="9.9.1"/></device></receiver>'
        '<sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id root="9.9.2"/></device></sender>')


def iti47(names: int, shape: int | None = None) -> bytes:
    """``names`` name values; ``shape``: its bits make value k fuzzy (use="SRCH"), one shape per number."""
    def use(k: int) -> str:
        return ' use="SRCH"' if shape is not None and (shape >> k) & 1 else ""
    params = "".join(f"<livingSubjectName><value{use(k)}><family>Fam{k}</family></value></livingSubjectName>"
                     for k in range(names))
    body = (f'<PRPA_IN201305UV02 xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">{HEAD.format(mid=uuid.uuid4())}'
            f'<controlActProcess classCode="CACT" moodCode="EVN"><code code="PRPA_TE201305UV02" '
            f'codeSystem="2.16.840.1.113883.1.6"/><queryByParameter><queryId root="1.2.3" extension="{uuid.uuid4()}"/>'
            f'<statusCode code="new"/><responseModalityCode code="R"/><responsePriorityCode code="I"/>'
            f'<parameterList>{params}</parameterList></queryByParameter></controlActProcess></PRPA_IN201305UV02>')
    return (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">'
            f'<s:Header><a:Action s:mustUnderstand="true">urn:hl7-org:v3:PRPA_IN201305UV02</a:Action>'
            f'<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID></s:Header><s:Body>{body}</s:Body></s:Envelope>').encode()


def tree(root: int) -> list[int]:
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parents[int(d)] = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                pass
    found, todo = [root], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        todo += kids
    return found


def rss_mib(root: int) -> float:
    best = 0
    for pid in tree(root):
        try:
            m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
        except OSError:
            continue
        if m:
            best = max(best, int(m.group(1)))
    return best / 1024


def start(src: Path, data_dir: Path, extra_env: dict[str, str], db_url: str | None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPD_")}
    env.update(EPD_DATA_DIR=str(data_dir), PYTHONPATH=str(src), EPD_LOG_LEVEL="warning", **extra_env)
    if db_url:
        env["EPD_DATABASE_URL"] = db_url
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", "0", "--workers", "1"],
                            cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise SystemExit(f"server in {src} exited")
        m = re.search(r"listening on http://([^/\s]+):(\d+)/", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, m.group(1).strip("[]"), int(m.group(2))
    raise SystemExit("server did not start")


def post(host: str, port: int, body: bytes) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=600)
    conn.request("POST", "/pdq", body=body, headers={"Content-Type": "application/soap+xml; charset=UTF-8"})
    data = conn.getresponse().read().decode("utf-8", "replace")
    conn.close()
    m = re.search(r'<(?:\w+:)?typeCode code="(A[AER])"', data)
    detail = re.search(r"<(?:\w+:)?text>([^<]*)</", data)
    return (m.group(1) if m else "?") + (f" ({detail.group(1)[:60]})" if detail else "")


def measure(label: str, src: Path, env: dict[str, str], counts: list[int], db_url: str | None,
            shapes: int = 0) -> None:
    """The ``counts`` queries; with ``shapes``, then two rounds of that many distinct shapes within
    the default limits (20 names, each exact or fuzzy), RSS after each round."""
    with tempfile.TemporaryDirectory(prefix="mpi-memory-") as tmp:
        proc, host, port = start(src, Path(tmp), env, db_url)
        rounds = []
        try:
            post(host, port, iti47(1))            # warm: first query, first statement
            time.sleep(0.5)
            before = rss_mib(proc.pid)
            answers: dict[str, int] = {}
            for n in counts:
                a = post(host, port, iti47(n))
                answers[a] = answers.get(a, 0) + 1
            time.sleep(0.5)
            after = rss_mib(proc.pid)
            for r in range(2 if shapes else 0):
                for k in range(shapes):
                    a = post(host, port, iti47(20, shape=r * shapes + k + 1))
                    answers[a] = answers.get(a, 0) + 1
                rounds.append(rss_mib(proc.pid))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    extra = (f"; then {shapes} distinct 20-name shapes: {rounds[0]:.1f} MiB, {shapes} more: {rounds[1]:.1f} MiB"
             if rounds else "")
    print(f"{label:<28} worker RSS {before:7.1f} MiB -> {after:7.1f} MiB  (+{after - before:6.1f} MiB){extra}  "
          f"answers: {'; '.join(f'{k} x{v}' for k, v in answers.items())}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="git revision to compare with (e.g. the commit before the fix)")
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--min-names", type=int, default=100)
    ap.add_argument("--max-names", type=int, default=3000)
    ap.add_argument("--shapes", type=int, default=300,
                    help="then twice this many distinct query shapes within the limits (after only)")
    ap.add_argument("--db-url", help="database URL (default: SQLite under a temp data dir)")
    args = ap.parse_args()
    step = (args.max_names - args.min_names) / max(1, args.queries - 1)
    counts = [round(args.min_names + k * step) for k in range(args.queries)]
    print(f"{args.queries} ITI-47 queries with {counts[0]} ... {counts[-1]} names each, one worker, "
          f"{'SQLite' if not args.db_url else args.db_url.split(':')[0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mpi-memory-src-") as old:
        if args.before:
            archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
            measure(f"before ({args.before})", Path(old), {}, counts, args.db_url)
        measure("after (default limits)", ROOT, {}, counts, args.db_url, shapes=args.shapes)
        measure("after, limit 3000", ROOT, {"EPD_HL7_MAX_PARAMETER_VALUES": "3000"}, counts, args.db_url)


if __name__ == "__main__":
    main()
