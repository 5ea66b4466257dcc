"""Machine facts every load benchmark prints with its figures (bench only).

Scheduling autogroups (``/proc/sys/kernel/sched_autogroup_enabled``, on by default): the kernel
groups the processes of each session and shares the CPU between the groups; PostgreSQL puts every
backend in a session of its own. Measured on this 2-vCPU machine (Linux 6.18): with autogroups on,
a few runs in a hundred saw runnable PostgreSQL backends wait 0.2-6.8 s while the gateway's workers
kept both CPUs, and those stalls made the p99 of the whole run; with autogroups off, none
(bench/README.md, "Scheduler stalls"). The benchmarks print the setting with their figures and
start the gateway in its own session, as a service runs.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def autogroup() -> str:
    try:
        return "on" if AUTOGROUP.read_text().strip() == "1" else "off"
    except OSError:
        return "n/a"


def describe() -> str:
    """One line for the benchmark's output."""
    return (f"machine: {os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}, "
            f"sched_autogroup {autogroup()}")


def announce() -> None:
    print(describe(), flush=True)
