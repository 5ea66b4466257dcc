"""``epd-gateway xua issue|cert|verify``: the development X-Assertion Provider."""
from __future__ import annotations

import stat

import pytest

from gateway.cli import main
from gateway.security.provider import DevelopmentProvider

SPID = "761337610411353650"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    for k in [k for k in __import__("os").environ if k.startswith("EPD_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("EPD_DATA_DIR", str(tmp_path))
    return tmp_path


def _issue(capsys, *args) -> tuple[int, str, str]:
    code = main(["xua", "issue", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_issue_creates_the_key_pair_once_owner_only_and_signs(data_dir, capsys, tmp_path):
    code, out, err = _issue(capsys, "--role", "HCP", "--subject", "7601000000019", "--name", "Dr. A",
                            "--patient", SPID, "--organization", "2.16.756.5.30.1.999.7")
    assert code == 0 and out.startswith("<saml2:Assertion") and "NOT FOR PRODUCTION" in err
    provider = DevelopmentProvider(data_dir)
    assert stat.S_IMODE(provider.key_path.stat().st_mode) == 0o600
    cert = provider.cert_path.read_bytes()
    code, out2, _ = _issue(capsys, "--role", "PAT", "--subject", SPID, "--patient", SPID)
    assert code == 0 and provider.cert_path.read_bytes() == cert      # same key pair reused
    path = tmp_path / "pat.xml"
    path.write_text(out2)
    assert main(["xua", "verify", str(path)]) == 1                   # not trusted without --demo
    assert "FailedAuthentication" in capsys.readouterr().err
    assert main(["xua", "verify", "--demo", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "role: PAT" in shown and f"patient (EPR-SPID): {SPID}" in shown
    assert main(["xua", "cert"]) == 0 and capsys.readouterr().out.encode() == cert


@pytest.mark.parametrize("args,message", [
    (["--role", "ASS", "--subject", "7601000000002", "--patient", SPID, "--organization", "1.2.3"],
     "--principal-gln"),
    (["--role", "HCP", "--subject", "7601000000019", "--patient", SPID], "--organization"),
    (["--role", "HCP", "--subject", "7601000000019", "--patient", SPID, "--organization", "1.2.3",
      "--purpose", "AUTO"], "not allowed for HCP"),
    (["--role", "PAT", "--subject", SPID, "--patient", SPID, "--principal-gln", "7601000000019"],
     "ASS and TCU only"),
])
def test_issue_refuses_what_ch_xua_does_not_allow(data_dir, capsys, args, message):
    code, out, err = _issue(capsys, *args)
    assert code == 2 and out == "" and message in err


def test_issued_tcu_and_ass_read_back_as_delegations(data_dir, capsys, tmp_path):
    for args, role, acting in (
            (["--role", "TCU", "--subject", "urn:oid:1.2.3.4", "--principal-gln", "7601000000019"], "TCU",
             "urn:oid:1.2.3.4"),
            (["--role", "ASS", "--subject", "7601000000002", "--principal-gln", "7601000000019",
              "--organization", "1.2.3", "--purpose", "EMER"], "ASS", "7601000000002")):
        code, out, _ = _issue(capsys, *args, "--patient", SPID)
        assert code == 0
        path = tmp_path / f"{role}.xml"
        path.write_text(out)
        assert main(["xua", "verify", "--demo", str(path)]) == 0
        shown = capsys.readouterr().out
        assert f"role: {role}" in shown and f"acting: {acting}" in shown and "user: 7601000000019" in shown
