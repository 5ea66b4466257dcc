"""``epd-gateway policy ...``, ``notifications list`` and ``ratelimit list|unblock`` end to end (in
process, on a SQLite data directory)."""
from __future__ import annotations

import datetime as _dt
import json

import pytest

from gateway.cli import main
from gateway.config import load_settings
from gateway.store.db import make_engine
from gateway.store.policies import PolicyStore

SPID = "761337610000000019"
GLN = "7601000000019"


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    for k in ("EPD_DATABASE_URL", "EPD_CONFIG", "EPD_EMERGENCY_DEFAULT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("EPD_DATA_DIR", str(tmp_path))

    def run(*argv):
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def test_patient_add_opens_the_record_and_policy_commands_change_it(cli, tmp_path):
    code, out, _ = cli("patient", "add", "--epr-spid", SPID, "--family", "Muster", "--given", "Anna",
                       "--birth-date", "1980-01-02", "--gender", "F", "--email", "anna@example.ch")
    assert code == 0
    code, out, _ = cli("policy", "show", "--patient", SPID, "--json")
    shown = json.loads(out)
    assert shown["open"] and shown["emergency_level"] == "normal" and shown["default_confidentiality"] == "normal"
    assert sorted(p["template"] for p in shown["policy_sets"]) == [201, 202, 203]

    assert cli("policy", "grant", "--patient", SPID, "--gln", GLN, "--level", "restricted",
               "--until", "2027-01-31")[0] == 0
    assert cli("policy", "grant-group", "--patient", SPID, "--group", "2.999.1", "--level", "normal",
               "--until", "2027-01-31")[0] == 0
    assert cli("policy", "exclude", "--patient", SPID, "--gln", "7601000000026")[0] == 0
    assert cli("policy", "emergency", "--patient", SPID, "--level", "restricted")[0] == 0
    assert cli("policy", "representative", "--patient", SPID, "--id", "rep-1")[0] == 0
    assert cli("policy", "default-confidentiality", "--patient", SPID, "--level", "restricted")[0] == 0
    shown = json.loads(cli("policy", "show", "--patient", SPID, "--json")[1])
    kinds = sorted((p["template"], p["subject"], p["level"], p["end"]) for p in shown["policy_sets"])
    assert kinds == [(201, SPID, "full", None), (202, "", "restricted", None), (203, "", "restricted", None),
                     (301, GLN, "restricted", "2027-01-31"), (301, "7601000000026", "excluded", None),
                     (302, "2.999.1", "normal", "2027-01-31"), (303, "rep-1", "full", None)]
    code, out, _ = cli("policy", "show", "--patient", SPID)
    assert "emergency access restricted" in out and GLN in out and "excluded" in out

    assert cli("policy", "revoke", "--patient", SPID, "--gln", GLN)[0] == 0
    assert cli("policy", "emergency", "--patient", SPID, "--level", "off")[0] == 0
    shown = json.loads(cli("policy", "show", "--patient", SPID, "--json")[1])
    assert shown["emergency_level"] == "off"
    assert [p for p in shown["policy_sets"] if p["subject"] == GLN] == []

    # the e-mail address went into the MPI
    from gateway.store.mpi import MpiStore
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    assert MpiStore(engine, settings.mpi_oid).email_of(SPID) == "anna@example.ch"
    engine.dispose()


def test_errors_are_reported_not_raised(cli):
    code, _, err = cli("policy", "grant", "--patient", SPID, "--gln", GLN, "--level", "normal")
    assert code == 1 and "no patient" in err
    code, _, err = cli("policy", "show", "--patient", "761337610000000010")
    assert code == 2 and "EPR-SPID" in err
    with pytest.raises(SystemExit):
        cli("policy", "grant-group", "--patient", SPID, "--group", "2.999", "--level", "normal")  # --until required
    with pytest.raises(SystemExit):
        cli("policy", "grant", "--patient", SPID, "--gln", GLN, "--level", "secret")


def test_notifications_list_prints_one_line_per_access(cli):
    cli("patient", "add", "--epr-spid", SPID, "--family", "Muster", "--given", "Anna", "--birth-date", "1980-01-02", "--gender", "F")
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    store = PolicyStore(engine)
    store.record_notification(SPID, "ITI-43", GLN, "Dr. Hans Muster", "", "Spital Bern", ["1.2.3", "1.2.4"],
                              at=_dt.datetime(2026, 5, 1, 10, 0, tzinfo=_dt.timezone.utc))
    engine.dispose()
    code, out, _ = cli("notifications", "list", "--patient", SPID)
    assert code == 0
    assert out.splitlines() == [f"2026-05-01T10:00:00+00:00  {GLN} Dr. Hans Muster  Spital Bern  ITI-43  1.2.3, 1.2.4"]
    code, out, _ = cli("notifications", "list", "--patient", "761337610000000026")
    assert "no emergency access" in out


def test_ratelimit_list_and_unblock(cli):
    from gateway.ratelimit import ReadLimiter
    settings = load_settings()
    from gateway.store.db import upgrade
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    limiter = ReadLimiter(engine, 2, _dt.timedelta(hours=1), _dt.timedelta(hours=1))
    assert limiter.charge(GLN, 2).allowed
    assert not limiter.charge(GLN, 1).allowed
    engine.dispose()
    code, out, _ = cli("ratelimit", "list")
    assert code == 0 and out.startswith(GLN + "  blocked until ")
    assert cli("ratelimit", "unblock", "--user", GLN)[0] == 0
    assert cli("ratelimit", "list")[1].strip() == "no user is blocked"
    assert cli("ratelimit", "unblock", "--user", GLN)[0] == 1
