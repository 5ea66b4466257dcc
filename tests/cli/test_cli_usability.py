"""The command line as a new user and an operator meet it (issue 14, items 11-14).

Every test runs ``python -m gateway.cli`` in a subprocess with a clean ``EPD_*`` environment, as a
user would type it.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
SPID = "761337610445502987"


def cli(*args: str, env: dict | None = None, timeout: float = 120, cwd: Path = REPO) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EPD_")}
    base["PYTHONPATH"] = str(REPO)
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=base, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def one_clear_error(done: subprocess.CompletedProcess) -> str:
    """The failure is non-zero, one line on stderr, no traceback; returns that line."""
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    err = lines(done.stderr)
    assert len(err) == 1, done.stderr
    assert err[0].startswith("error: "), err
    return err[0]


# -- item 11: global options before the subcommand ------------------------------------------


def _patients(data_dir: Path) -> int:
    db = data_dir / "epd-gateway.sqlite"
    if not db.exists():
        return 0
    eng = sa.create_engine(f"sqlite:///{db}")
    try:
        with eng.connect() as c:
            return c.execute(sa.text("select count(*) from mpi_patient")).scalar_one()
    finally:
        eng.dispose()


def test_data_dir_before_the_subcommand_is_honoured(tmp_path):
    data = tmp_path / "before"
    done = cli("--data-dir", str(data), "patient", "add", "--epr-spid", SPID, "--family", "Muster",
               "--given", "Anna", "--birth-date", "1980-01-02", "--gender", "F", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _patients(data) == 1
    assert _patients(tmp_path / "data") == 0      # not the default ./data


def test_data_dir_after_the_subcommand_still_works_and_wins(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    done = cli("--data-dir", str(first), "patient", "add", "--data-dir", str(second), "--epr-spid", SPID,
               "--family", "Muster", "--given", "Anna", "--birth-date", "1980-01-02", "--gender", "F", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _patients(second) == 1 and _patients(first) == 0


def test_config_before_the_subcommand_is_honoured(tmp_path):
    data = tmp_path / "from-config"
    toml = tmp_path / "epd-gateway.toml"
    toml.write_text(f'[gateway]\ndata_dir = "{data}"\n', encoding="utf-8")
    done = cli("--config", str(toml), "db", "upgrade", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (data / "epd-gateway.sqlite").exists()
    done = cli("--config", str(toml), "patient", "add", "--epr-spid", SPID, "--family", "Muster",
               "--given", "Anna", "--birth-date", "1980-01-02", "--gender", "F", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _patients(data) == 1 and _patients(tmp_path / "data") == 0


# -- item 12: one clear line instead of a traceback -------------------------------------------


def test_port_already_in_use_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = cli("serve", "--workers", "1", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    line = one_clear_error(done)
    assert str(port) in line and "in use" in line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_conformance_against_an_unreachable_url_is_one_line():
    port = _free_port()   # nothing listens there any more
    done = cli("conformance", "--repository", f"http://127.0.0.1:{port}/xds/repository",
               "--registry", f"http://127.0.0.1:{port}/xds/registry",
               "--patient-id", "a1^^^&2.16.756.5.30.1.999.1.1&ISO", "--repository-unique-id", "2.16.756.5.30.1.999.1.2")
    line = one_clear_error(done)
    assert f"127.0.0.1:{port}" in line and "cannot reach" in line
    assert len(lines(done.stdout)) == 0


@pytest.fixture
def pg_admin_url(request):
    url = request.getfixturevalue("pg_template_url")  # skips when PostgreSQL is not there
    return url.rsplit("/", 1)[0]


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["db", "upgrade"], ["patient", "add", "--epr-spid", SPID, "--family", "M",
                                                          "--given", "A", "--birth-date", "1980-01-02",
                                                          "--gender", "F"]])
def test_a_postgresql_database_that_does_not_exist_is_one_line(pg_admin_url, command):
    name = f"epd_missing_{uuid.uuid4().hex[:8]}"
    url = pg_admin_url.replace("postgres@", "postgres:s3cret-pw@") + "/" + name
    done = cli(*command, env={"EPD_DATABASE_URL": url})
    line = one_clear_error(done)
    assert name in line and "does not exist" in line
    assert "s3cret-pw" not in done.stderr + done.stdout


# -- item 13: never print a password -----------------------------------------------------------


@pytest.mark.postgres
def test_db_upgrade_does_not_print_the_password(pg_template_url):
    url = pg_template_url.replace("postgres@", "postgres:s3cret-pw@")   # trust auth ignores it
    done = cli("db", "upgrade", env={"EPD_DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    assert "s3cret-pw" not in done.stdout + done.stderr
    assert "latest schema" in done.stdout + done.stderr
    assert "***" in done.stdout + done.stderr       # the URL is still named, its password masked


def test_db_upgrade_names_the_sqlite_database(tmp_path):
    done = cli("--data-dir", str(tmp_path), "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert str(tmp_path.resolve() / "epd-gateway.sqlite") in done.stdout + done.stderr


# -- item 14: --version, EPD_LOG_LEVEL, help texts, valuesets show NAME ------------------------


def test_version():
    from importlib.metadata import version
    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"epd-gateway {version('epd-gateway')}"


def test_log_level_quiets_the_cli_but_keeps_the_result(tmp_path):
    args = ["--data-dir", str(tmp_path), "patient", "add", "--epr-spid", SPID, "--family", "Muster",
            "--given", "Anna", "--birth-date", "1980-01-02", "--gender", "F"]
    done = cli(*args, env={"EPD_LOG_LEVEL": "warning"})
    assert done.returncode == 0, done.stderr
    out = lines(done.stdout)
    assert len(out) == 1 and re.fullmatch(r"[0-9a-f-]{36}\^\^\^&2\.16\.756\.5\.30\.1\.999\.1\.1&ISO", out[0])
    assert lines(done.stderr) == []
    # at the default level the CLI says what it did (on stderr: stdout stays the result)
    other = cli("--data-dir", str(tmp_path), "patient", "add", "--epr-spid", "761337610433933946",
                "--family", "Eméry", "--given", "Roman", "--birth-date", "2011-08-16", "--gender", "M")
    assert other.returncode == 0, other.stderr
    assert "opened in the MPI" in other.stderr and len(lines(other.stdout)) == 1
    # debug shows the migrations' own log
    dbg = cli("--data-dir", str(tmp_path / "fresh"), "db", "upgrade", env={"EPD_LOG_LEVEL": "debug"})
    assert dbg.returncode == 0 and "Running upgrade" in dbg.stderr
    quiet = cli("--data-dir", str(tmp_path / "fresh2"), "db", "upgrade")
    assert "Running upgrade" not in quiet.stderr


def test_a_bad_log_level_is_one_line(tmp_path):
    done = cli("--data-dir", str(tmp_path), "db", "upgrade", env={"EPD_LOG_LEVEL": "loud"})
    assert "loud" in one_clear_error(done)


@pytest.mark.parametrize("argv", [["valuesets", "--help"], ["valuesets", "show", "--help"],
                                  ["valuesets", "check", "--help"], ["--help"], ["db", "--help"]])
def test_help_is_plain_text(argv):
    done = cli(*argv)
    assert done.returncode == 0
    assert "``" not in done.stdout and ":class:" not in done.stdout


def test_valuesets_show_one_value_set_lists_its_codes():
    from profiles.ch.valuesets import ValueSets
    vs = ValueSets.load().get("confidentialityCode")
    done = cli("valuesets", "show", "confidentialityCode")
    assert done.returncode == 0, done.stderr
    assert vs.oid in done.stdout
    for c in vs.codes:
        row = next(line for line in done.stdout.splitlines() if line.split()[:1] == [c["code"]])
        assert (c.get("system") or "") in row
    assert "normal" in done.stdout.lower()          # the display names come along


def test_valuesets_show_unknown_value_set_names_the_known_ones():
    done = cli("valuesets", "show", "noSuchSet")
    line = one_clear_error(done)
    assert "noSuchSet" in line and "confidentialityCode" in line


def test_patient_add_help_and_readme_agree_on_required_options():
    done = cli("patient", "add", "--help")
    usage = " ".join(done.stdout.split("\n\n")[0].split())
    for opt in ("--epr-spid", "--family", "--given", "--birth-date", "--gender"):
        # argparse shows optional options in [brackets], required ones bare
        assert re.search(rf"(?<!\[){re.escape(opt)} ", usage), (opt, usage)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "--birth-date YYYY-MM-DD" in readme and "[--birth-date" not in readme
    missing = cli("patient", "add", "--epr-spid", SPID, "--family", "M", "--given", "A", "--data-dir", "/nonexistent")
    assert missing.returncode == 2 and "--birth-date" in missing.stderr
