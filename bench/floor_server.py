"""The performance floor of an ITI-41 repository on this stack (issue 14, item 20): outside CI.

The least an ITI-41 Document Repository must do per submission, on the gateway's own stack and
process model, and nothing more:

* twisted.web on one listening socket shared by ``--workers`` processes, the handler in the
  reactor's thread pool (as the gateway);
* the MTOM split with python-multipart's ``MultipartParser`` (root part and one attachment);
* the root part parsed with lxml (the same safe parser settings as the gateway: no network,
  no entities), the ``xop:Include`` found;
* SHA-1 (the XDS hash attribute) and SHA-256 (the blob's name) of the document;
* the blob written to a temp file, fsynced, renamed into place, the directory fsynced;
* one row committed to PostgreSQL (psycopg, one connection per thread, ``synchronous_commit``
  as the server has it) or SQLite (WAL, synchronous=FULL);
* a fixed SOAP 1.2 RegistryResponse Success with wsa:Action and wsa:RelatesTo.

No validation, no registry, no MPI check: what remains of a gateway's CPU above this floor is
the price of its IHE and Swiss rules, its storage model and its layers.

    .venv/bin/python bench/floor_server.py --port 18490 --workers 2 --data-dir /tmp/floor \
        --database-url postgresql://postgres@127.0.0.1/floor
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import socket
import sys
import threading
from pathlib import Path

REPLY = (b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" '
         b'xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header>'
         b'<wsa:Action soap:mustUnderstand="1">urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse</wsa:Action>'
         b'<wsa:RelatesTo>%s</wsa:RelatesTo></soap:Header><soap:Body>'
         b'<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
         b'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/></soap:Body></soap:Envelope>')
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_XOP = "http://www.w3.org/2004/08/xop/include"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)


class Store:
    """Blobs on disk (fsync, rename, directory fsync) and one committed row per submission."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.blobs = data_dir / "blobs"
        self.tmp = self.blobs / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.url = database_url
        self.local = threading.local()
        if self.url.startswith("postgresql"):
            import psycopg
            with psycopg.connect(self._pg_dsn(), autocommit=True) as c:
                c.execute("CREATE TABLE IF NOT EXISTS floor_doc (unique_id text PRIMARY KEY, sha1 text, "
                          "sha256 text, size bigint, mime text)")
        else:
            import sqlite3
            with sqlite3.connect(self._sqlite_path()) as c:
                c.execute("PRAGMA journal_mode=WAL")
                c.execute("CREATE TABLE IF NOT EXISTS floor_doc (unique_id text PRIMARY KEY, sha1 text, "
                          "sha256 text, size integer, mime text)")

    def _pg_dsn(self) -> str:
        return self.url.replace("postgresql+psycopg://", "postgresql://")

    def _sqlite_path(self) -> str:
        return self.url.split("///", 1)[1]

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            if self.url.startswith("postgresql"):
                import psycopg
                conn = psycopg.connect(self._pg_dsn())
            else:
                import sqlite3
                conn = sqlite3.connect(self._sqlite_path(), timeout=30, isolation_level=None)
                conn.execute("PRAGMA synchronous=FULL")
            self.local.conn = conn
        return conn

    def put(self, data: bytes) -> tuple[str, str]:
        sha1 = hashlib.sha1(data).hexdigest()
        sha256 = hashlib.sha256(data).hexdigest()
        final = self.blobs / sha256[:2] / sha256
        final.parent.mkdir(exist_ok=True)
        tmp = self.tmp / f"{sha256}.{threading.get_ident()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, final)
        dfd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return sha1, sha256

    def row(self, unique_id: str, sha1: str, sha256: str, size: int, mime: str) -> None:
        conn = self._conn()
        if self.url.startswith("postgresql"):
            with conn.transaction():
                conn.execute("INSERT INTO floor_doc VALUES (%s, %s, %s, %s, %s)", (unique_id, sha1, sha256, size, mime))
        else:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO floor_doc VALUES (?, ?, ?, ?, ?)", (unique_id, sha1, sha256, size, mime))
            conn.execute("COMMIT")


def split_mtom(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The MIME parts of a multipart/related body (headers lowercased), with python-multipart."""
    from python_multipart.multipart import MultipartParser
    m = _BOUNDARY.search(content_type)
    if m is None:
        raise ValueError("no boundary")
    parts: list[tuple[dict[str, str], bytes]] = []
    cur: dict = {}

    def on_part_begin():
        cur.clear()
        cur["headers"], cur["data"], cur["field"], cur["value"] = {}, [], b"", b""

    def on_header_field(data, start, end):
        cur["field"] += data[start:end]

    def on_header_value(data, start, end):
        cur["value"] += data[start:end]

    def on_header_end():
        cur["headers"][cur["field"].decode("latin-1").lower()] = cur["value"].decode("latin-1")
        cur["field"], cur["value"] = b"", b""

    def on_part_data(data, start, end):
        cur["data"].append(data[start:end])

    def on_part_end():
        parts.append((dict(cur["headers"]), b"".join(cur["data"])))

    parser = MultipartParser(m.group(1), callbacks={
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_part_data": on_part_data, "on_part_end": on_part_end})
    parser.write(body)
    parser.finalize()
    return parts


def build_resource(store: Store):
    from lxml import etree
    from twisted.internet.threads import deferToThread
    from twisted.web import resource, server

    xml_parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)

    def handle(content_type: str, body: bytes) -> bytes:
        parts = split_mtom(content_type, body)
        root_headers, root_xml = parts[0]
        env = etree.fromstring(root_xml, xml_parser)
        message_id = env.findtext(f".//{{{NS_WSA}}}MessageID") or "urn:uuid:unknown"
        include = env.find(f".//{{{NS_XOP}}}Include")
        if include is None or len(parts) < 2:
            raise ValueError("no document")
        doc_headers, doc = parts[1]
        unique_id = hashlib.sha1(message_id.encode()).hexdigest()
        sha1, sha256 = store.put(doc)
        store.row(unique_id, sha1, sha256, len(doc), doc_headers.get("content-type", ""))
        return REPLY % message_id.encode()

    class Floor(resource.Resource):
        isLeaf = True

        def render_POST(self, request):
            content_type = request.getHeader(b"content-type").decode("latin-1")
            request.content.seek(0)
            body = request.content.read()

            def done(reply: bytes) -> None:
                request.setHeader(b"content-type", b"application/soap+xml; charset=UTF-8")
                request.setHeader(b"content-length", str(len(reply)).encode())
                request.write(reply)
                request.finish()

            def failed(failure) -> None:
                request.setResponseCode(500)
                request.write(str(failure.value).encode())
                request.finish()

            deferToThread(handle, content_type, body).addCallbacks(done, failed)
            return server.NOT_DONE_YET

    root = resource.Resource()
    xds = resource.Resource()
    root.putChild(b"xds", xds)
    xds.putChild(b"repository", Floor())

    class Health(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            return b'{"status": "ok"}'
    root.putChild(b"health", Health())
    return server.Site(root, parsePOSTFormSubmission=False)


def serve(fd: int, store: Store) -> None:
    from twisted.internet import reactor
    reactor.adoptStreamPort(fd, socket.AF_INET, build_resource(store))
    reactor.run()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18490)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--database-url", required=True, help="postgresql://... or sqlite:///FILE")
    args = ap.parse_args()
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    Store(data, args.database_url)  # creates the table before the workers start
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(1024)
    sock.setblocking(False)
    print(f"listening on http://127.0.0.1:{args.port}/", flush=True)
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            serve(sock.fileno(), Store(data, args.database_url))
            os._exit(0)
        children.append(pid)
    sock.close()
    import signal

    def stop(signum, frame):
        for c in children:
            try:
                os.kill(c, signal.SIGTERM)
            except ProcessLookupError:
                pass
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for c in children:
        try:
            os.waitpid(c, 0)
        except ChildProcessError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
