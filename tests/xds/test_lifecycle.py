"""Document relationships and folders through the real service (SQLite and PostgreSQL):
APND, XFRM, XFRM_RPLC, signs, folders (when allowed), RPLC propagating into folders."""
from __future__ import annotations

import base64
import datetime as _dt

import pytest
import sqlalchemy as sa
from lxml import etree

from gateway.app import Gateway
from gateway.clients.submission import DocumentSpec, provide_and_register_request
from gateway.config import Settings
from profiles.xds import constants as C

R = C.rim


def _resolve(el):
    return base64.b64decode(el.text or "")


@pytest.fixture(params=[False, True], ids=["swiss", "folders-allowed"])
def gw(request, db_url, tmp_path):
    settings = Settings(data_dir=str(tmp_path), database_url=db_url, allow_folders=request.param)
    g = Gateway(settings)
    g.pid = str(g.mpi.add_patient("761337610411353650", "Muster", "Anna", _dt.date(1980, 1, 2), "F"))
    yield g
    g.engine.dispose()


def provide(gw, docs, extra=None):
    body, _ = provide_and_register_request(gw.pid, docs, inline=True)
    if extra is not None:
        extra(body.find(f"{{{C.NS_LCM}}}SubmitObjectsRequest/{R('RegistryObjectList')}"))
    return gw.xds.provide_and_register(body, _resolve)


def rows(gw, sql):
    with gw.engine.connect() as c:
        return c.execute(sa.text(sql)).fetchall()


def assoc(rol, kind, source, target):
    etree.SubElement(rol, R("Association"), id="urn:uuid:" + __import__("uuid").uuid4().__str__(),
                     associationType=kind, sourceObject=source, targetObject=target)


@pytest.mark.parametrize("kind,deprecates", [(C.ASSOC_APND, False), (C.ASSOC_XFRM, False),
                                             (C.ASSOC_SIGNS, False), (C.ASSOC_XFRM_RPLC, True)])
def test_document_relationships(gw, kind, deprecates):
    base = DocumentSpec(b"original")
    assert provide(gw, [base]) == []
    new = DocumentSpec(b"related")
    assert provide(gw, [new], extra=lambda rol: assoc(rol, kind, new.entry_id, base.entry_id)) == []
    status = dict(rows(gw, "select unique_id, status from xds_document"))
    assert status[base.unique_id] == ("Deprecated" if deprecates else "Approved")
    assert status[new.unique_id] == "Approved"
    types = {r[0] for r in rows(gw, "select type from xds_association")}
    assert kind in types


def test_apnd_to_a_deprecated_document_is_refused(gw):
    v1 = DocumentSpec(b"v1")
    assert provide(gw, [v1]) == []
    assert provide(gw, [DocumentSpec(b"v2", replaces=v1.entry_id)]) == []
    app = DocumentSpec(b"addendum")
    errors = provide(gw, [app], extra=lambda rol: assoc(rol, C.ASSOC_APND, app.entry_id, v1.entry_id))
    assert [e.code for e in errors] == ["XDSRegistryError"]


@pytest.mark.parametrize("kind", [C.ASSOC_XFRM, C.ASSOC_XFRM_RPLC, C.ASSOC_RPLC])
def test_transformation_of_a_deprecated_document_is_refused(gw, kind):
    """Issue 14 item 7 (NIST XDS test 11994, step xfrm_rplc): like RPLC and APND, an XFRM whose
    target is already Deprecated is refused, and nothing of the submission is stored."""
    v1 = DocumentSpec(b"v1")
    assert provide(gw, [v1]) == []
    assert provide(gw, [DocumentSpec(b"v2", replaces=v1.entry_id)]) == []
    before = rows(gw, "select count(*) from xds_document")[0][0]
    xfrm = DocumentSpec(b"transformed")
    errors = provide(gw, [xfrm], extra=lambda rol: assoc(rol, kind, xfrm.entry_id, v1.entry_id))
    assert [e.code for e in errors] == ["XDSRegistryError"] and "not Approved" in errors[0].context
    assert rows(gw, "select count(*) from xds_document")[0][0] == before


def _folder(rol, fid, pid, ss="SubmissionSet01"):
    f = etree.SubElement(rol, R("RegistryPackage"), id=fid)
    n = etree.SubElement(f, R("Name"))
    etree.SubElement(n, R("LocalizedString"), value="Episode 2026")
    cl = etree.SubElement(f, R("Classification"), classificationScheme=C.FOL_CODE_LIST, classifiedObject=fid,
                          nodeRepresentation="371531000", id=fid + "-code")
    s = etree.SubElement(cl, R("Slot"), name="codingScheme")
    etree.SubElement(etree.SubElement(s, R("ValueList")), R("Value")).text = "2.16.840.1.113883.6.96"
    for scheme, value in ((C.FOL_PATIENT_ID, pid), (C.FOL_UNIQUE_ID, "2.25." + str(__import__("uuid").uuid4().int))):
        etree.SubElement(f, R("ExternalIdentifier"), identificationScheme=scheme, value=value,
                         registryObject=fid, id=fid + scheme[-4:])
    etree.SubElement(rol, R("Classification"), classifiedObject=fid, classificationNode=C.FOLDER_NODE,
                     id=fid + "-node")
    a = etree.SubElement(rol, R("Association"), id=fid + "-ss", associationType=C.ASSOC_HAS_MEMBER,
                         sourceObject=ss, targetObject=fid)
    return f, a


def test_folders_refused_in_the_swiss_epr_and_work_when_allowed(gw):
    d = DocumentSpec(b"in a folder")

    def with_folder(rol):
        _folder(rol, "Folder01", gw.pid)
        assoc(rol, C.ASSOC_HAS_MEMBER, "Folder01", d.entry_id)

    errors = provide(gw, [d], extra=with_folder)
    if not gw.settings.allow_folders:
        assert errors and {e.code for e in errors} == {"XDSRegistryMetadataError"}
        assert any("older" in e.context for e in errors)
        assert rows(gw, "select count(*) from xds_document")[0][0] == 0
        return
    assert errors == []
    (fid, first_update), = rows(gw, "select entry_uuid, last_update_time from xds_folder")
    members = rows(gw, f"select target from xds_association where source = '{fid}'")
    assert len(members) == 1
    # RPLC of a foldered document puts the replacement into the folder too
    v2 = DocumentSpec(b"v2", replaces=d.entry_id)
    assert provide(gw, [v2]) == []
    members = {r[0] for r in rows(gw, f"select target from xds_association where source = '{fid}'")}
    assert len(members) == 2
    xml = rows(gw, "select xml from xds_folder")[0][0]
    assert "lastUpdateTime" in xml
