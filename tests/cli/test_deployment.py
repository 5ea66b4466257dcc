"""Deployment files (issue 14, item 19): Dockerfile, deploy/compose.yaml, deploy/epd-gateway.service.

Docker does not run here; what can be checked without it is: every command these files run is one
the CLI has (parsed by the CLI's own parser), the files the image copies exist and are what the
wheel needs, the container runs as a non-root user with its data directory on the volume, and the
image's health check, run as written, tells a serving gateway from a dead one.
"""
from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from gateway.cli import build_parser
from gateway.config import Settings
from support.gateway_proc import REPO

DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "deploy" / "compose.yaml"
UNIT = REPO / "deploy" / "epd-gateway.service"
SETTING_VARS = {"EPD_" + f.name.upper() for f in fields(Settings)} | {"EPD_CONFIG"}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def _final_stage() -> list[tuple[str, str]]:
    instrs = dockerfile()
    last_from = max(i for i, (k, _) in enumerate(instrs) if k == "FROM")
    return instrs[last_from:]


def _env(instrs) -> dict[str, str]:
    env = {}
    for k, v in instrs:
        if k == "ENV":
            for item in shlex.split(v):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def _cli_parses(argv: list[str]):
    return build_parser().parse_args(argv)


def test_the_image_runs_an_existing_command_as_a_non_root_user_with_its_data_on_the_volume():
    final = _final_stage()
    entry = [_exec_form(v) for k, v in final if k == "ENTRYPOINT"][-1]
    cmd = [_exec_form(v) for k, v in final if k == "CMD"][-1]
    assert entry == ["epd-gateway"]
    args = _cli_parses(cmd)
    assert args.command == "serve"
    users = [v for k, v in final if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = _env(final)
    assert set(env) - {"PYTHONUNBUFFERED"} <= SETTING_VARS, env
    volumes = [v for k, v in final if k == "VOLUME"]
    assert volumes and env["EPD_DATA_DIR"] in _exec_form(volumes[-1])
    assert any(k == "HEALTHCHECK" for k, _ in final)


def test_the_image_copies_what_the_wheel_needs():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    tool = pyproject["tool"]["setuptools"]
    needed = {p.rstrip("*") for p in tool["packages"]["find"]["include"]}
    needed |= {src.split("/", 1)[0] for files in tool["data-files"].values() for src in files}
    needed |= {"pyproject.toml", pyproject["project"]["readme"]}
    copied = set()
    for k, v in dockerfile():
        if k == "COPY" and "--from" not in v:
            *sources, _dest = shlex.split(v)
            copied.update(sources)
    for src in copied:
        assert (REPO / src).exists(), f"COPY {src}: no such file in the project"
    assert needed <= copied, needed - copied


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthcheck(env: dict) -> int:
    hc = [v for k, v in _final_stage() if k == "HEALTHCHECK"][-1]
    cmd = _exec_form(hc.split(" CMD ", 1)[1].strip())
    assert cmd[0] == "python"
    return subprocess.run([sys.executable, *cmd[1:]], env=env, capture_output=True, timeout=60).returncode


def test_the_health_check_tells_a_serving_gateway_from_a_dead_one(tmp_path):
    """The image's ENTRYPOINT + CMD with its ENV (on 127.0.0.1 and a free port here), then its
    HEALTHCHECK as written."""
    final = _final_stage()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPD_")}
    env.update(_env(final))
    env.update(EPD_DATA_DIR=str(tmp_path / "volume"), EPD_HOST="127.0.0.1", EPD_PORT=str(port),
               EPD_WORKERS="1", PYTHONPATH=str(REPO))
    assert _healthcheck(env) != 0                      # nothing listens yet
    cmd = [_exec_form(v) for k, v in final if k == "CMD"][-1]
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", *cmd], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        for line in proc.stdout:
            if "listening on" in line:
                break
        else:
            pytest.fail("the gateway did not start")
        assert _healthcheck(env) == 0
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_compose_runs_the_gateway_image_on_postgresql_without_a_password_in_the_url():
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    gw, db = services["gateway"], services["db"]
    assert (COMPOSE.parent / gw["build"]["context"] / gw["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert db["image"].startswith("postgres:")
    assert gw["depends_on"]["db"]["condition"] == "service_healthy" and "healthcheck" in db
    env = gw["environment"]
    assert set(env) - {"PGPASSWORD"} <= SETTING_VARS, env
    url = env["EPD_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://") and ":" not in url.split("://", 1)[1].split("@", 1)[0]
    assert "@db:" in url and url.rsplit("/", 1)[1] == db["environment"]["POSTGRES_DB"]
    assert env["PGPASSWORD"] == db["environment"]["POSTGRES_PASSWORD"]
    assert _cli_parses(gw["command"]).command == "serve"
    data_dir = _env(_final_stage())["EPD_DATA_DIR"]
    assert any(v.split(":", 1)[1] == data_dir for v in gw["volumes"])
    assert set(compose["volumes"]) >= {v.split(":", 1)[0] for v in gw["volumes"] + db["volumes"]}


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    unit.optionxform = str
    unit.read_string(UNIT.read_text(encoding="utf-8"))
    return unit


@pytest.mark.parametrize("key", ["ExecStart", "ExecStartPre"])
def test_the_systemd_unit_runs_existing_commands(key):
    unit = _unit()
    argv = shlex.split(unit["Service"][key])
    assert argv[0].endswith("/bin/epd-gateway")
    args = _cli_parses(argv[1:])
    assert args.command in ("serve", "db")
    if args.command == "db":
        assert args.db_command == "upgrade"
    assert args.data_dir in unit["Service"]["ReadWritePaths"].split()
    assert unit["Service"]["User"] not in ("root", "0")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_readme_has_a_production_section_and_still_two_setup_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running in production", 1)[1].split("\n## ", 1)[0]
    for name in ("Dockerfile", "deploy/compose.yaml", "deploy/epd-gateway.service", "db check", "TLS"):
        assert name in section, name
    setup = readme.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"^    \S", setup, flags=re.M)) == 2


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_finds_nothing_to_say(tmp_path):
    """The unit as shipped, with its /opt/epd-gateway install pointed at this one's epd-gateway."""
    cli = shutil.which("epd-gateway", path=str(Path(sys.executable).parent))
    if cli is None:
        pytest.skip("no epd-gateway script next to this interpreter")
    unit = tmp_path / "epd-gateway.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/opt/epd-gateway/bin/epd-gateway", cli),
                    encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
