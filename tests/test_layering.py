"""The house's layering rules, checked on the sources: profiles/ is transport-free, bench/ stands on the
package alone (nothing from tests/)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_PROFILES = ("gateway", "twisted", "sqlalchemy", "zeep", "psycopg", "conformance")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_profiles_import_no_transport_or_storage():
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & set(FORBIDDEN_IN_PROFILES))
                 for p in (ROOT / "profiles").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_bench_imports_nothing_from_tests():
    offenders = []
    for p in (ROOT / "bench").glob("*.py"):
        text = p.read_text(encoding="utf-8")
        if '"tests"' in text or "'tests'" in text or _imports(p) & {"support", "tests", "annex3", "query", "mpi"}:
            offenders.append(p.name)
    assert offenders == []
