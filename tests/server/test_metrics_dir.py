"""The Prometheus multiprocess directory: emptied of an earlier run's values, nothing else touched."""
from __future__ import annotations

import os

import pytest

from gateway.http.metrics import MULTIPROC_ENV, prepare_multiprocess_dir


@pytest.fixture(autouse=True)
def _restore_value_class(monkeypatch):
    """prepare_multiprocess_dir switches prometheus_client to files: switch this process back."""
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    yield
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    import sys
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        values.ValueClass = values.get_value_class()


def test_prepare_removes_only_value_files(tmp_path, monkeypatch):
    d = tmp_path / "metrics"
    d.mkdir()
    (d / "counter_123.db").write_bytes(b"x" * 16)
    (d / "histogram_456.db").write_bytes(b"x" * 16)
    (d / "keep.txt").write_text("an operator's file")
    (d / "sub").mkdir()
    prepare_multiprocess_dir(d)
    assert sorted(p.name for p in d.iterdir()) == ["keep.txt", "sub"]
    assert os.environ[MULTIPROC_ENV] == str(d)


def test_prepare_creates_the_directory(tmp_path, monkeypatch):
    d = tmp_path / "a" / "b"
    prepare_multiprocess_dir(d)
    assert d.is_dir()


def test_worker_loads_are_shared(tmp_path):
    from gateway.http.site import WorkerLoads
    path = str(tmp_path / "loads")
    WorkerLoads.create(path, 3)
    a, b, c = (WorkerLoads(path, 3, i) for i in range(3))
    a.publish(5)
    b.publish(2)
    c.publish(7)
    assert (a.fewest_elsewhere(), b.fewest_elsewhere(), c.fewest_elsewhere()) == (2, 5, 2)
    b.publish(9)
    assert a.fewest_elsewhere() == 7
    alone = tmp_path / "one"
    WorkerLoads.create(str(alone), 1)
    assert WorkerLoads(str(alone), 1, 0).fewest_elsewhere() is None
