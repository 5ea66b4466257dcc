"""The process model: one listening socket, served in-process or by N worker processes.

:func:`run` binds the socket, prepares what the workers share (the Prometheus multiprocess
directory, emptied at start; the table of open connections per worker that the balanced accept
reads), and serves: in-process for one worker, else from ``python -m gateway.process --worker-fd
FD --build-root module:function`` children that inherit the socket and build their own resource
tree (engines and pools are created after the process starts). The parent forwards SIGTERM/SIGINT
and returns when all workers have exited.

``python -m gateway.process --app module:function`` serves any ``build_root(settings)`` with the
settings of the environment (``EPD_*``) and the configuration file: the one way tests and
benchmarks start a server of their own (``tests/support/server.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from twisted.internet import reactor as _reactor
from twisted.web import resource

from gateway.config import Settings, load_settings

reactor: Any = _reactor
BuildRoot = Callable[[Settings], resource.Resource]
LOADS_FILE = "worker-loads.bin"


def _callable_ref(func: Callable[..., Any]) -> str:
    module = func.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is None or not spec.name:
            raise ValueError("build_root must be importable (run the program with python -m) for workers > 1")
        module = spec.name
    return f"{module}:{func.__qualname__}"


def load_ref(ref: str) -> Callable[..., Any]:
    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _start_logging(settings: Settings) -> None:
    from gateway.logs import configure
    configure(settings.log_level, settings.log_format)


def _serve(fd: int, family: socket.AddressFamily, settings: Settings, build_root: BuildRoot, *,
           shared: bool = False, loads: Any = None) -> None:
    """Serve on an inherited/adopted listening socket in this process until stopped.

    ``shared``: other worker processes serve the same socket (accept through
    :class:`gateway.http.site.BalancedPort`, which reads ``loads``).
    """
    from gateway.http import metrics as m
    from gateway.http.observe import RequestObserver
    from gateway.http.site import BalancedPort, build_site
    _raise_file_limit(settings.max_connections)
    metrics = m.install(m.Metrics())
    root = build_root(settings)
    if b"metrics" not in getattr(root, "children", {b"metrics": None}):
        root.putChild(b"metrics", m.MetricsResource(metrics))
    site = build_site(root, max_request_size=settings.max_request_size, header_timeout=settings.header_timeout,
                      max_connections=settings.max_connections or None,
                      observer=RequestObserver(metrics=metrics))
    site.on_connections = metrics.set_connections
    site.loads = loads
    from gateway.security.tls import wrap_factory
    factory = wrap_factory(site, settings)   # TLS / mutual TLS when EPD_TLS_CERT + EPD_TLS_KEY are set
    if shared:
        port = BalancedPort._fromListeningDescriptor(reactor, fd, family, factory)
        port.gateway_site = site          # the balanced accept reads the site under the TLS wrapper
        port.startListening()
    else:
        reactor.adoptStreamPort(fd, family, factory)
    reactor.run()


def _raise_file_limit(connections: int) -> None:
    """Let the process hold ``connections`` sockets plus its files (the soft limit is often 1024)."""
    try:
        import resource as rlimit
        soft, hard = rlimit.getrlimit(rlimit.RLIMIT_NOFILE)
        want = connections + 512
        if soft != rlimit.RLIM_INFINITY and soft < want:
            rlimit.setrlimit(rlimit.RLIMIT_NOFILE, (want if hard == rlimit.RLIM_INFINITY else min(want, hard), hard))
    except (ImportError, ValueError, OSError):
        pass


def _bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _run_dir(settings: Settings) -> tuple[Path, bool]:
    """Where the workers' shared files go: ``metrics_dir``, else ``<data_dir>/metrics`` when the data
    directory exists, else a temporary directory (removed at the end; the flag says so)."""
    if settings.metrics_dir:
        return Path(settings.metrics_dir), False
    data = Path(settings.data_dir)
    if data.is_dir():
        return data / "metrics", False
    return Path(tempfile.mkdtemp(prefix="epd-gateway-")), True


def run(settings: Settings, build_root: BuildRoot, workers: int | None = None,
        on_listening: Callable[[str, int], None] | None = None) -> int:
    """Bind one listening socket and serve it, in-process (1 worker) or from N worker processes.

    ``workers``: ``None`` takes ``settings.workers``; 0 means one per CPU. ``build_root`` must be
    importable for N > 1. ``on_listening(host, port)`` runs once the socket listens (port 0
    resolved); without it, a port 0 is announced as ``listening on http://HOST:PORT/``.
    Returns the first non-zero exit code of a worker, else 0.
    """
    if workers is None:
        workers = settings.workers
    if workers <= 0:
        workers = os.cpu_count() or 1
    sock = _bind(settings)
    host, port = sock.getsockname()[:2]
    run_dir, temporary = _run_dir(settings)
    from gateway.http.metrics import prepare_multiprocess_dir
    prepare_multiprocess_dir(run_dir)
    try:
        _start_logging(settings)
        if on_listening is not None:
            on_listening(host, port)
        elif settings.port == 0:
            from gateway.security.tls import url_scheme
            print(f"listening on {url_scheme(settings)}://{host}:{port}/", flush=True)
        if workers == 1:
            _serve(sock.fileno(), sock.family, settings, build_root)
            sock.close()
            return 0
        from gateway.http.site import WorkerLoads
        loads_path = str(run_dir / LOADS_FILE)
        WorkerLoads.create(loads_path, workers)
        env = dict(os.environ)
        env["EPD_WORKER_SETTINGS"] = json.dumps(dataclasses.asdict(settings))
        ref = _callable_ref(build_root)
        children = []
        for index in range(workers):
            cmd = [sys.executable, "-m", "gateway.process", "--worker-fd", str(sock.fileno()),
                   "--family", str(int(sock.family)), "--build-root", ref,
                   "--worker-index", str(index), "--workers", str(workers), "--loads", loads_path]
            children.append(subprocess.Popen(cmd, pass_fds=(sock.fileno(),), env=env))
        sock.close()
        return _supervise(children)
    finally:
        if temporary:
            shutil.rmtree(run_dir, ignore_errors=True)


def _supervise(children: list[subprocess.Popen[bytes]]) -> int:
    from gateway.http.metrics import mark_process_dead
    stopping = False

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        alive = {c.pid: c for c in children}
        while alive:
            try:
                pid, wstatus = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            child = alive.pop(pid, None)
            if child is None:
                continue
            mark_process_dead(pid)
            code = os.waitstatus_to_exitcode(wstatus)
            child.returncode = code
            if code not in (0, -signal.SIGTERM) and status == 0:
                status = code if code > 0 else 128 - code
            if not stopping:
                # A worker died on its own: take the others down too, the service manager restarts.
                print(f"worker {pid} exited with {code}; stopping the others", file=sys.stderr, flush=True)
                forward(signal.SIGTERM, None)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return status


def _worker_main(args: argparse.Namespace) -> None:
    settings = Settings(**json.loads(os.environ.get("EPD_WORKER_SETTINGS", "{}")))
    build_root = load_ref(args.build_root)
    loads = None
    if args.loads:
        from gateway.http.site import WorkerLoads
        loads = WorkerLoads(args.loads, args.workers, args.worker_index)
    _start_logging(settings)
    _serve(args.worker_fd, socket.AddressFamily(args.family), settings, build_root, shared=True, loads=loads)
    os.close(args.worker_fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.process",
                                     description="serve a gateway application (--app) or run as one of its workers")
    parser.add_argument("--app", metavar="MODULE:FUNCTION", help="build_root(settings) to serve, settings from EPD_*")
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file (with --app)")
    parser.add_argument("--worker-fd", type=int)
    parser.add_argument("--family", type=int, default=int(socket.AF_INET))
    parser.add_argument("--build-root", help="module:function building the root resource (workers)")
    parser.add_argument("--worker-index", type=int, default=0)
    parser.add_argument("--workers", type=int, help="worker processes (with --app: overrides EPD_WORKERS)")
    parser.add_argument("--loads", help="the shared table of open connections per worker")
    args = parser.parse_args(argv)
    if args.worker_fd is not None:
        if not args.build_root:
            parser.error("--worker-fd needs --build-root")
        args.workers = args.workers or 1
        _worker_main(args)
        return 0
    if not args.app:
        parser.error("give --app MODULE:FUNCTION")
    settings = load_settings(args.config, workers=args.workers)
    return run(settings, load_ref(args.app))


if __name__ == "__main__":
    sys.exit(main())
