"""The WSDLs served at ``?wsdl`` ship with a regular (non-editable) install, and are found there."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import gateway.resources as resources

ROOT = Path(__file__).resolve().parents[2]


def test_checkout_wsdl_dir_is_used_first():
    assert resources.wsdl_dir() == ROOT / "wsdl"


def test_installed_copy_is_found_without_a_checkout(tmp_path, monkeypatch):
    share = tmp_path / "prefix" / "share" / "epd-gateway" / "wsdl"
    share.mkdir(parents=True)
    (share / "xds-repository.wsdl").write_text("<definitions/>")
    monkeypatch.setattr(resources, "_CHECKOUT", tmp_path / "no-checkout" / "wsdl")
    monkeypatch.setattr(resources.sysconfig, "get_path", lambda name: str(tmp_path / "prefix"))
    assert resources.wsdl_dir() == share


def test_missing_wsdls_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "_CHECKOUT", tmp_path / "no-checkout" / "wsdl")
    monkeypatch.setattr(resources.sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setattr(resources.sys, "prefix", str(tmp_path))
    monkeypatch.setattr(resources.sys, "base_prefix", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="WSDLs are missing"):
        resources.wsdl_dir()


def test_wheel_carries_every_wsdl_and_schema(tmp_path):
    """Built from the project's own files with the venv's setuptools (no network)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=240)
    wheel = next(tmp_path.glob("epd_gateway-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f.relative_to(ROOT / "wsdl").as_posix() for f in (ROOT / "wsdl").rglob("*") if f.is_file()}
    assert expected, "no WSDL files in the checkout"
    prefix = next(n.split("/data/")[0] for n in names if ".data/data/" in n) + "/data/share/epd-gateway/wsdl/"
    shipped = {n[len(prefix):] for n in names if n.startswith(prefix)}
    assert shipped == expected
