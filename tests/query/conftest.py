"""The ITI-18 fixture registry ("world"), registered once per backend (SQLite, PostgreSQL) per module."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from gateway.store.db import make_engine
from support.db import empty_database
from profiles.xds import constants as C

from .registry_fixture import LOINC, SNOMED, Doc, Folder, Sub, pid, register

CONF = "2.16.756.5.30.1.127.3.10.1"
A, B, CC = ("A1", SNOMED), ("B1", SNOMED), ("C1", SNOMED)
N, R = ("17621005", SNOMED), ("263856008", SNOMED)
E1, E2 = ("E1", "2.999.5"), ("E2", "2.999.5")
FC1, FC2 = ("FC1", LOINC), ("FC2", LOINC)


@dataclass
class World:
    engine: object
    backend: str
    d: SimpleNamespace = field(default_factory=SimpleNamespace)
    ss: SimpleNamespace = field(default_factory=SimpleNamespace)
    f: SimpleNamespace = field(default_factory=SimpleNamespace)
    subs: dict = field(default_factory=dict)


def build_world(engine, backend: str) -> World:
    w = World(engine, backend)
    p1 = pid(1)
    d = w.d
    d.d1 = Doc(p1, class_code=A, type_code=("T1", LOINC), format_code=("F1", "1.2.3"),
               practice_setting=("PS1", SNOMED), facility_type=("H1", SNOMED), confidentiality=[N], events=[E1],
               authors=["^Muster^Max^^^Dr."], creation_time="20240105103000", service_start="20240101",
               service_stop="20240102", reference_ids=["R1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession"],
               title="d1")
    d.d2 = Doc(p1, class_code=B, type_code=("T2", LOINC), format_code=("F2", "1.2.3"),
               practice_setting=("PS2", SNOMED), facility_type=("H2", SNOMED), confidentiality=[R],
               events=[E1, E2], authors=["^Smith^John^^^", "^Muster^Anna^^^"], creation_time="20231231",
               reference_ids=["R2"], title="d2")
    d.d3 = Doc(p1, class_code=A, on_demand=True, creation_time=None, title="d3 on demand")
    w.f.f1 = Folder(p1, codes=[FC1], title="F1")
    s1 = Sub(p1, docs=[d.d1, d.d2, d.d3], folders=[w.f.f1], folder_members=[(w.f.f1.entry_uuid, d.d1.entry_uuid)],
             source_id="2.999.1.1", submission_time="20240110090000", authors=["^Author^SS^^^"],
             content_type=("CT1", SNOMED))
    register(engine, s1, now="20240110090000")

    d.d4 = Doc(p1, class_code=A, confidentiality=[N, R], creation_time="20240201", title="d4 replaces d1")
    d.d5 = Doc(p1, class_code=CC, creation_time="20240202", title="d5 appends d2")
    w.f.f2 = Folder(p1, codes=[FC1, FC2], title="F2")
    s2 = Sub(p1, docs=[d.d4, d.d5], folders=[w.f.f2], folder_members=[(w.f.f2.entry_uuid, d.d5.entry_uuid)],
             associations=[(C.ASSOC_RPLC, d.d4.entry_uuid, d.d1.entry_uuid),
                           (C.ASSOC_APND, d.d5.entry_uuid, d.d2.entry_uuid)],
             source_id="2.999.1.2", submission_time="20240201080000", authors=["^Other^X^^^"],
             content_type=("CT2", SNOMED))
    register(engine, s2, now="20240201080000")

    d.d6 = Doc(p1, class_code=A, creation_time="20240301", title="d6 transforms d4")
    s3 = Sub(p1, docs=[d.d6], associations=[(C.ASSOC_XFRM, d.d6.entry_uuid, d.d4.entry_uuid)],
             submission_time="20240301080000")
    register(engine, s3, now="20240301080000")

    d.d7 = Doc(pid(2), class_code=A, title="d7 other patient")
    s4 = Sub(pid(2), docs=[d.d7], submission_time="20240115000000")
    register(engine, s4, now="20240115000000")
    w.ss.s1, w.ss.s2, w.ss.s3, w.ss.s4 = s1, s2, s3, s4
    return w


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    url = empty_database(request, request.param, tmp_path_factory.mktemp("world"))
    engine = make_engine(url)
    w = build_world(engine, request.param)
    yield w
    engine.dispose()
