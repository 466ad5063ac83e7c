"""The catalog `tap-mindzpay --discover` prints, compared with `tests/snapshots/catalog.json`.

Any change of a schema, key or replication rule shows up as a diff of that file in review.
Regenerate it with `UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_discovery_snapshot.py`.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

from helpers.streams import MINDZPAY_STREAMS

SNAPSHOT = Path(__file__).parent / "snapshots" / "catalog.json"


def _render(catalog: dict[str, Any]) -> str:
    return json.dumps(catalog, indent=2, sort_keys=True) + "\n"


def test_discovered_catalog_matches_snapshot(discovered_catalog: dict[str, Any]) -> None:
    rendered = _render(discovered_catalog)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(rendered, encoding="utf-8")
    assert SNAPSHOT.exists(), (
        f"{SNAPSHOT} is missing; create it with UPDATE_SNAPSHOTS=1 and review the file"
    )
    expected = SNAPSHOT.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            rendered.splitlines(keepends=True),
            "snapshots/catalog.json",
            "tap-mindzpay --discover",
            n=2,
        )
    )
    assert not diff, (
        "the discovered catalog changed; if intended, run with UPDATE_SNAPSHOTS=1 and commit "
        f"tests/snapshots/catalog.json:\n{diff[:8000]}"
    )


def test_discovered_catalog_lists_every_stream_with_a_primary_key(
    catalog_keys: dict[str, list[str]],
) -> None:
    assert set(MINDZPAY_STREAMS) <= set(catalog_keys)
    assert all(catalog_keys.values()), f"streams without key_properties: {catalog_keys}"
