"""The templates table: each template the appliance knows, what it was made from, and its sealed image
once it is ready (appliance/templates.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from appliance.engines.engine import TemplateImage
from appliance.store.write_behind import Write

if TYPE_CHECKING:
    from appliance.store.connection import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS templates (
    name        VARCHAR PRIMARY KEY,
    -- "config" (the configuration's templates), or "api" (built by POST /templates).
    origin      VARCHAR NOT NULL,
    -- What it is made from: an image's name, or the kind of recipe it was built from.
    source      VARCHAR NOT NULL,
    description VARCHAR NOT NULL DEFAULT '',
    -- "building", "ready" or "failed" (then error says why).
    state       VARCHAR NOT NULL,
    error       VARCHAR,
    -- The sealed image, and whom its agents run as: set once it is ready.
    image       VARCHAR,
    uid         INTEGER,
    gid         INTEGER,
    home        VARCHAR,
    path        VARCHAR,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class TemplateRow:
    name: str
    origin: str
    source: str
    description: str
    state: str
    error: str | None
    image: TemplateImage | None
    created_at: datetime | None = None


def template_recorded(row: TemplateRow) -> Write:
    """Record the template as it is now (made, or its state changed)."""
    image = row.image
    values = [row.name, row.origin, row.source, row.description, row.state, row.error]
    values += [image.image, image.uid, image.gid, image.home, image.path] if image else [None] * 5
    return lambda con: con.execute(
        """INSERT INTO templates (name, origin, source, description, state, error, image, uid, gid, home, path)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET origin = excluded.origin, source = excluded.source,
               description = excluded.description, state = excluded.state, error = excluded.error,
               image = excluded.image, uid = excluded.uid, gid = excluded.gid, home = excluded.home,
               path = excluded.path""",
        values,
    )


def template_removed(name: str) -> Write:
    return lambda con: con.execute("DELETE FROM templates WHERE name = ?", [name])


class Templates:
    """The store's templates (`store.templates`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def all(self) -> list[TemplateRow]:
        rows = await self._store.run(
            lambda con: con.execute(
                """SELECT name, origin, source, description, state, error, image, uid, gid, home, path,
                          created_at
                   FROM templates ORDER BY name"""
            ).fetchall()
        )
        return [
            TemplateRow(
                name,
                origin,
                source,
                description,
                state,
                error,
                TemplateImage(image, uid, gid, home, path) if image else None,
                created_at,
            )
            for name, origin, source, description, state, error, image, uid, gid, home, path, created_at in rows
        ]
