"""``epd-gateway valuesets show`` / ``check FILE``."""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from gateway.commands import valuesets as cmd
from profiles.xds import constants as C

from . import builder as B

ROOT = Path(__file__).resolve().parents[2]


def run(argv, env=None):
    """Through the command's own argparse wiring (register), in process."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config")
    parser = argparse.ArgumentParser(prog="epd-gateway")
    cmd.register(parser.add_subparsers(dest="command", required=True), common)
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    old = dict(os.environ)
    try:
        os.environ.pop("EPD_VALUESETS_FILE", None)
        os.environ.pop("EPD_CONFIG", None)
        os.environ.update(env or {})
        rc = args.func(args, out=out, err=err)
    finally:
        os.environ.clear()
        os.environ.update(old)
    return rc, out.getvalue(), err.getvalue()


def test_show_lists_version_and_every_value_set(vs):
    rc, out, _ = run(["valuesets", "show"])
    assert rc == 0
    assert vs.version in out
    for v in vs:
        line = next(l for l in out.splitlines() if l.startswith(v.name + " "))
        assert v.oid in line and f" {len(v)} " in line


def test_show_json(vs):
    rc, out, _ = run(["valuesets", "show", "--json"])
    data = json.loads(out)
    assert rc == 0 and data["version"] == vs.version
    assert {r["name"] for r in data["valueSets"]} == set(vs.names())


def test_show_honours_the_valuesets_file_setting(tmp_path):
    data = json.loads((ROOT / "profiles/ch/data/annex3-valuesets.json").read_text(encoding="utf-8"))
    data["_meta"]["release"] = "operator release X"
    vsf = tmp_path / "vs.json"
    vsf.write_text(json.dumps(data), encoding="utf-8")
    toml = tmp_path / "epd-gateway.toml"
    toml.write_text(f'valuesets_file = "{vsf}"\n', encoding="utf-8")
    assert "operator release X" in run(["valuesets", "show", "--config", str(toml)])[1]
    assert "operator release X" in run(["valuesets", "show"], env={"EPD_VALUESETS_FILE": str(vsf)})[1]
    rc, _, err = run(["valuesets", "show", "--valuesets", str(tmp_path / "missing.json")])
    assert rc == 2 and "cannot read" in err


@pytest.mark.parametrize("form", ["envelope", "pnr", "sor"])
def test_check_accepts_the_sample_in_each_form(tmp_path, form):
    root = B.load_sample_root()
    if form == "pnr":
        root = next(root.iter("{%s}ProvideAndRegisterDocumentSetRequest" % C.NS_XDS))
    elif form == "sor":
        root = next(root.iter("{%s}SubmitObjectsRequest" % C.NS_LCM))
    f = tmp_path / "sub.xml"
    f.write_bytes(etree.tostring(root))
    # the sample is an ITI-41 submission: a bare SubmitObjectsRequest is checked by ITI-42 rules unless told
    extra = ["--transaction", "ITI-41"] if form == "sor" else []
    rc, out, _ = run(["valuesets", "check", str(f), *extra])
    assert rc == 0 and out.startswith("OK")


def test_check_applies_register_rules_to_a_bare_submit_objects_request(tmp_path):
    root = next(B.load_sample_root().iter("{%s}SubmitObjectsRequest" % C.NS_LCM))
    f = tmp_path / "sub.xml"
    f.write_bytes(etree.tostring(root))
    rc, out, _ = run(["valuesets", "check", str(f)])
    assert rc == 1
    assert all(word in out for word in ("hash", "size", "repositoryUniqueId"))


def test_check_prints_every_error_and_exits_1(tmp_path):
    sor = B.build_sor(2)
    d1, d2 = B.documents(sor)
    B.set_code(d1, C.DE_CLASS_CODE, "123", B.SNOMED)
    B.set_title(d2, None)
    f = tmp_path / "bad.xml"
    f.write_bytes(B.serialize_envelope(sor))
    rc, out, _ = run(["valuesets", "check", str(f)])
    assert rc == 1
    lines = out.splitlines()
    assert any(d1.get("id") in l and "classCode" in l and "XDSRegistryMetadataError" in l for l in lines)
    assert any(d2.get("id") in l and "title" in l for l in lines)
    assert "2 error(s)" in lines[-1]


def test_check_folders_follow_the_setting(tmp_path):
    from .test_swiss_rules import _add_folder
    sor = B.build_sor(1)
    _add_folder(sor)
    f = tmp_path / "fol.xml"
    f.write_bytes(B.serialize_envelope(sor))
    assert run(["valuesets", "check", str(f)])[0] == 1
    assert run(["valuesets", "check", str(f), "--allow-folders"])[0] == 0
    assert run(["valuesets", "check", str(f)], env={"EPD_ALLOW_FOLDERS": "true"})[0] == 0


def test_check_unusable_files_exit_2(tmp_path):
    (tmp_path / "x.xml").write_text("<a><b></a>", encoding="utf-8")
    assert run(["valuesets", "check", str(tmp_path / "x.xml")])[0] == 2
    (tmp_path / "y.xml").write_text("<a/>", encoding="utf-8")
    rc, _, err = run(["valuesets", "check", str(tmp_path / "y.xml")])
    assert rc == 2 and "SubmitObjectsRequest" in err
    assert run(["valuesets", "check", str(tmp_path / "nope.xml")])[0] == 2


def test_subprocess_entry_point(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPD_")}
    sample = str(B.SAMPLE)
    ok = subprocess.run([sys.executable, "-m", "gateway.commands.valuesets", "valuesets", "check", sample],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    sor = B.build_sor(1)
    B.documents(sor)[0].set("mimeType", "application/msword")
    bad = tmp_path / "bad.xml"
    bad.write_bytes(B.serialize_envelope(sor))
    res = subprocess.run([sys.executable, "-m", "gateway.commands.valuesets", "valuesets", "check", str(bad)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "mimeType" in res.stdout and "application/msword" in res.stdout
