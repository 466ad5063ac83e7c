"""SQLite persistence for the sandbox world, so repeated demo runs see one world moving on.

One row per record (stream, id, partition, JSON body, hidden outcome), plus the clock, id
counters, transitions and deletions. Only records changed since the last save are written.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tap_mindzpay.sandbox.world import World, WorldConfig, insert_sorted

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    stream TEXT NOT NULL, id INTEGER NOT NULL, owner TEXT NOT NULL, body TEXT NOT NULL,
    hidden INTEGER, PRIMARY KEY (stream, id));
CREATE TABLE IF NOT EXISTS log (kind TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, seq));
"""


class Storage:
    """A world's SQLite file."""

    def __init__(self, path: Path) -> None:
        """Open (and create) the file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.executescript(SCHEMA)
        self._logged = {"transitions": 0, "deleted": 0}

    def meta(self) -> dict[str, str]:
        """The saved clock, counters and config."""
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def load(self) -> World | None:
        """The saved world, or None when the file is new."""
        meta = self.meta()
        if "config" not in meta:
            return None
        config = WorldConfig(**json.loads(meta["config"]))
        world = World(config, generate=False)
        world.now = datetime.fromisoformat(meta["now"])
        world.step = int(meta["step"])
        world.next_id.update(json.loads(meta["next_id"]))
        rows = self.db.execute("SELECT stream, id, owner, body, hidden FROM records ORDER BY id")
        for stream, record_id, owner, body, hidden in rows:
            world.records[stream][record_id] = json.loads(body)
            insert_sorted(world.by_account[stream].setdefault(owner, []), record_id)
            if hidden is not None:
                world.hidden[record_id] = hidden
        for kind in ("transitions", "deleted"):
            logged = self.db.execute(
                "SELECT body FROM log WHERE kind = ? ORDER BY seq", (kind,)
            ).fetchall()
            getattr(world, kind).extend(json.loads(b) for (b,) in logged)
            self._logged[kind] = len(logged)
        world.after_load()
        world.dirty.clear()
        return world

    def save(self, world: World, config: WorldConfig) -> None:
        """Write what changed since the last save, and the clock."""
        with self.db:
            for stream, record_id in sorted(world.dirty):
                record = world.records[stream].get(record_id)
                if record is None:
                    self.db.execute(
                        "DELETE FROM records WHERE stream = ? AND id = ?", (stream, record_id)
                    )
                    continue
                self.db.execute(
                    "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
                    (
                        stream,
                        record_id,
                        world.owner(stream, record),
                        json.dumps(record),
                        world.hidden.get(record_id) if stream == "invoices" else None,
                    ),
                )
            # Hidden outcomes change without touching the record: rewrite them all (small).
            self.db.execute("UPDATE records SET hidden = NULL WHERE stream = 'invoices'")
            self.db.executemany(
                "UPDATE records SET hidden = ? WHERE stream = 'invoices' AND id = ?",
                [(outcome, invoice_id) for invoice_id, outcome in world.hidden.items()],
            )
            for kind in ("transitions", "deleted"):
                entries: list[dict[str, Any]] = getattr(world, kind)
                start = self._logged[kind]
                self.db.executemany(
                    "INSERT OR REPLACE INTO log VALUES (?, ?, ?)",
                    [(kind, start + i, json.dumps(e)) for i, e in enumerate(entries[start:])],
                )
                self._logged[kind] = len(entries)
            meta = {
                "config": json.dumps(config.__dict__),
                "now": world.now.isoformat(),
                "step": str(world.step),
                "next_id": json.dumps(world.next_id),
                "saved_wall": repr(time.time()),
            }
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
        world.dirty.clear()
