"""The store's layout rules: all SQL lives in store/, its modules import no circle, old stores upgrade."""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

from fashion_core.store import LabelStore, db

PACKAGE = Path(__file__).resolve().parents[3] / "fashion_core"
SQL = re.compile(r"execute|SELECT|INSERT|UPDATE ")
# modeling/embeddings.py keeps its own cache database (features per image, not studio state).
OWN_DATABASES = {"modeling/embeddings.py"}


def test_no_sql_outside_the_store() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("store/") or rel in OWN_DATABASES:
            continue
        offenders += [f"{rel}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1) if SQL.search(line)]
    assert offenders == []


def test_store_modules_do_not_import_the_store_class_back() -> None:
    # core.py mixes the others in; any of them importing core would make a circle.
    for name in ("edits", "runs", "maps", "gallery", "db"):
        tree = ast.parse((PACKAGE / "store" / f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {"fashion_core.store", "fashion_core.store.core"} & imported, name


def test_a_store_made_before_the_new_run_columns_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "studio.db"
    old_ddl = db.DDL.replace("    map_name TEXT,\n    files_json TEXT,\n    created_by TEXT\n", "").replace(
        "updated_at TEXT NOT NULL,\n);", "updated_at TEXT NOT NULL\n);")
    with sqlite3.connect(path) as conn:
        conn.executescript(old_ddl)
        conn.execute("INSERT INTO runs(id, status, run_dir, config_json, created_at, updated_at)"
                     " VALUES ('old', 'done', '/r/old', '{}', 'then', 'then')")
        assert "map_name" not in {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    store = LabelStore(path)
    run = store.run_row("old")
    assert (run.map_name, run.files_sha256, run.status) == (None, None, "done")
    store.update_run_row("old", map_name="m", files_sha256={"model.keras": "ab"})
    assert store.run_row("old").files_sha256 == {"model.keras": "ab"}
