"""Label-map rows of the label store: every save of a named map is a new version."""

from __future__ import annotations

from dataclasses import dataclass

from fashion_core.access import require_acting
from fashion_core.store.db import utc_now


@dataclass(frozen=True)
class MapRow:
    """One saved version of a label map as stored (``spec_json``: the map without its version)."""

    name: str
    version: int
    spec_json: str
    note: str | None
    created_at: str
    created_by: str | None = None


class MapRowsMixin:
    """Label-map methods of LabelStore (kept apart so each file has one job)."""

    def insert_map_version(self, name: str, spec_json: str, note: str | None) -> int:
        """Save ``spec_json`` as the next version of map ``name`` (1 for a new name); return it."""
        who = require_acting("regroup").name
        with self.transaction() as conn:  # the write lock makes "max + 1" safe with two savers
            version = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM label_maps WHERE name = ?", (name,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO label_maps(name, version, spec_json, note, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, version, spec_json, note, utc_now(), who),
            )
        return int(version)

    def map_row(self, name: str, version: int | None = None) -> MapRow | None:
        """A map's latest version (or the one asked for); None if there is no such row."""
        sql, params = "SELECT * FROM label_maps WHERE name = ?", (name,)
        if version is not None:
            sql, params = sql + " AND version = ?", (name, int(version))
        row = self.conn.execute(sql + " ORDER BY version DESC LIMIT 1", params).fetchone()
        return None if row is None else _map_row(row)

    def map_rows(self, name: str | None = None) -> list[MapRow]:
        """The latest version of every map by name, or every version of map ``name`` (oldest first)."""
        if name is not None:
            rows = self.conn.execute("SELECT * FROM label_maps WHERE name = ? ORDER BY version", (name,))
            return [_map_row(r) for r in rows]
        rows = self.conn.execute(
            "SELECT m.* FROM label_maps m JOIN (SELECT name, MAX(version) AS v FROM label_maps"
            " GROUP BY name) last ON last.name = m.name AND last.v = m.version ORDER BY m.name"
        )
        return [_map_row(r) for r in rows]

    def map_names(self) -> list[str]:
        """The names of all saved maps, sorted."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT name FROM label_maps ORDER BY name")]

    def map_versions(self, name: str) -> list[int]:
        """The saved version numbers of one map, oldest first."""
        cur = self.conn.execute("SELECT version FROM label_maps WHERE name = ? ORDER BY version", (name,))
        return [int(r[0]) for r in cur]

    def delete_map_rows(self, name: str) -> int:
        """Delete every version of a map; return how many there were (callers check it is unused)."""
        require_acting("delete_map")
        with self.transaction() as conn:
            return conn.execute("DELETE FROM label_maps WHERE name = ?", (name,)).rowcount


def _map_row(row) -> MapRow:
    return MapRow(row["name"], int(row["version"]), row["spec_json"], row["note"], row["created_at"],
                  row["created_by"])
