"""CH:PPQ over HTTP on a real server (127.0.0.1): PPQ-1 and PPQ-2 SOAP 1.2 round trips with
WS-Addressing, the Swiss wsa:Action values, faults for the refused."""
from __future__ import annotations

import select
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from lxml import etree

from gateway.store.db import make_engine, upgrade
from gateway.store.mpi import MpiStore
from profiles.adr import model as M
from profiles.adr import ppq as Q
from profiles.adr import xacml as X
from support.gateway_proc import post_raw

ROOT = Path(__file__).resolve().parents[2]
MPI_OID = "2.16.756.5.30.1.999.1.1"
SPID = "761337610000000019"
GLN = "7601000000019"
SOAP, WSA = "http://www.w3.org/2003/05/soap-envelope", "http://www.w3.org/2005/08/addressing"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('ppq')}/ppq.sqlite"
    upgrade(url)
    engine = make_engine(url)
    MpiStore(engine, MPI_OID).add_patient(SPID, "Muster", "Anna", None, "F")
    engine.dispose()
    proc = subprocess.Popen([sys.executable, "-m", "tests.adr.ppq_server_app", url, MPI_OID], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else b""
    if not line.startswith(b"LISTENING"):
        proc.kill()
        pytest.fail(f"server did not start: {line!r}")
    _, host, port = line.decode().split()
    yield f"http://{host}:{port}/ppq"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def envelope(action: str, body, role: str | None, user: str | None) -> bytes:
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"env": SOAP, "wsa": WSA})
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    etree.SubElement(header, f"{{{WSA}}}Action").text = action
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    if role:
        etree.SubElement(header, "{urn:test:principal}Principal", role=role, user=user, spid=SPID)
    etree.SubElement(env, f"{{{SOAP}}}Body").append(body)
    return etree.tostring(env)


def call(url, action, body, role="PAT", user=SPID):
    status, _ctype, data = post_raw(url, envelope(action, body, role, user))
    env = etree.fromstring(data)
    return status, env.findtext(f"{{{SOAP}}}Header/{{{WSA}}}Action"), env.find(f"{{{SOAP}}}Body")[0]


def test_ppq1_and_ppq2_round_trips(server):
    grant = M.hcp_access(SPID, GLN, "normal")
    status, action, body = call(server, Q.ACTION_ADD, Q.ppq1_request("add", [grant]))
    assert (status, action, body.get("status")) == (200, Q.ACTION_ADD + "Response", Q.STATUS_SUCCESS)
    status, action, body = call(server, Q.ACTION_QUERY, Q.ppq2_request(SPID))
    assert (status, action) == (200, Q.ACTION_QUERY + "Response")
    sets = [X.parse_policy_set(e) for e in body.iter(X.X + "PolicySet")]
    assert sorted(s.template for s in sets) == [201, 202, 203, 301]
    status, action, body = call(server, Q.ACTION_DELETE, Q.ppq1_request("delete", ids=[grant.policy_set_id]))
    assert (status, body.get("status")) == (200, Q.STATUS_SUCCESS)
    status, action, fault = call(server, Q.ACTION_DELETE, Q.ppq1_request("delete", ids=[grant.policy_set_id]))
    assert status == 400 and fault.tag == f"{{{SOAP}}}Fault"
    assert fault.find(f".//{{{Q.NS_EPR}}}UnknownPolicySetId") is not None


def test_professionals_and_anonymous_callers_are_refused(server):
    for role, user in (("HCP", GLN), (None, None)):
        status, _action, fault = call(server, Q.ACTION_QUERY, Q.ppq2_request(SPID), role=role, user=user)
        assert status == 400 and fault.tag == f"{{{SOAP}}}Fault"
