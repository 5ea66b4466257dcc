"""The README's worked example, pasted as written right after the README's first command (issue 14,
item 10).

The first set-up command runs ``epd-gateway serve --demo`` in the clone, with the data under
``./data``; the worked example's shell blocks are then pasted, in order, into one shell in the same
directory. Here: a temporary directory stands for the clone (``.venv/bin/epd-gateway`` and
``.venv/bin/python`` are wrappers around this interpreter), the server listens on a free port
instead of 8080 (the only change made to the blocks), and the blocks run under ``set -euo
pipefail``, stricter than a terminal.
"""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def worked_example_blocks() -> list[str]:
    section = README.split("## Worked example", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", section, flags=re.S | re.M)
    assert blocks, "no code blocks in the worked example"
    assert all(lang in ("sh", "bash", "shell") for lang, _ in blocks), \
        "every block of the worked example is pasted into the shell"
    return [code for _, code in blocks]


def first_setup_command() -> str:
    section = README.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^    (\S.*)$", section, flags=re.M)[0]


def _clone_like(tmp: Path) -> dict:
    """A directory with .venv/bin/{python,epd-gateway} as the first set-up command leaves them."""
    bin_dir = tmp / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    wrappers = {"python": f'exec "{sys.executable}" "$@"',
                "epd-gateway": f'exec "{sys.executable}" -m gateway.cli "$@"'}
    for name, line in wrappers.items():
        p = bin_dir / name
        p.write_text(f"#!/bin/sh\n{line}\n", encoding="utf-8")
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPD_")}
    env["PYTHONPATH"] = str(REPO)     # what the editable install gives .venv/bin/python
    return env


@pytest.fixture(scope="module")
def first_command_running(tmp_path_factory):
    """The README's first command, running: ``serve --demo`` with the defaults (./data)."""
    command = first_setup_command()
    assert command.endswith(".venv/bin/epd-gateway serve --demo"), command
    clone = tmp_path_factory.mktemp("clone")
    env = _clone_like(clone)
    proc = subprocess.Popen([str(clone / ".venv/bin/epd-gateway"), "serve", "--demo", "--port", "0",
                             "--workers", "1"], cwd=clone, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    base = None
    for line in proc.stdout:
        output.append(line)
        m = re.search(r"listening on http://([^/\s]+)/", line)
        if m:
            base = m.group(1)
            break
    if base is None:
        proc.kill()
        raise RuntimeError("the gateway did not start:\n" + "".join(output))
    threading.Thread(target=lambda: [output.append(x) for x in proc.stdout], daemon=True).start()
    yield clone, env, base
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def _run(clone: Path, env: dict, host_port: str, script: str) -> subprocess.CompletedProcess:
    script = script.replace("127.0.0.1:8080", host_port)
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=180)


def test_the_worked_example_runs_as_pasted(first_command_running):
    clone, env, base = first_command_running
    blocks = worked_example_blocks()
    done = _run(clone, env, base, "\n".join(blocks))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"^[0-9a-f-]{36}\^\^\^&2\.16\.756\.5\.30\.1\.999\.1\.1&ISO$", out, flags=re.M), out
    assert re.search(r"^ITI-41 Success$", out, flags=re.M), out
    assert re.search(r"^ITI-43 Success$", out, flags=re.M), out
    assert "%PDF-1.4" in out
    assert "Failure" not in out and "Traceback" not in done.stderr


def test_the_worked_example_prints_the_errors_it_gets(first_command_running):
    """A submission for a patient the MPI does not know (so not the patient of the X-User
    Assertion): the snippet shows the registry's error, XDSPatientIdDoesNotMatch, and stops with a
    non-zero exit, instead of printing a bare Failure."""
    clone, env, base = first_command_running
    blocks = worked_example_blocks()
    unknown = "PID='00000000-0000-4000-8000-000000000000^^^&2.16.756.5.30.1.999.1.1&ISO'\n"
    done = _run(clone, env, base, unknown + "\n".join(blocks[1:]))
    assert done.returncode != 0
    assert "ITI-41 Failure" in done.stdout and "XDSPatientIdDoesNotMatch" in done.stdout, done.stdout
    assert "ITI-43" not in done.stdout


def test_the_worked_example_does_not_reuse_a_demo_patient():
    from gateway.demo import DEMO_PATIENTS
    text = "\n".join(worked_example_blocks())
    for spid, *_ in DEMO_PATIENTS:
        assert spid not in text
