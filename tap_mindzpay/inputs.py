"""Checks of the command's input before anything starts: ``--config`` and ``--catalog``.

Each problem is one line naming the file and what to do (``cli`` prints it); nothing of a
file's text is repeated, since a config file holds secrets.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from singer_sdk.singerlib import Catalog

if TYPE_CHECKING:
    from collections.abc import Collection

LOGGER = logging.getLogger("tap-mindzpay")


def typed_text_values(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Turn the texts ``true``/``false`` and JSON lists into values, in place.

    A plugin defined inline in Meltano (no setting kinds) gets every value as text:
    ``sandbox: true`` arrives as ``"true"``. Other texts (``yes``) are left to the validation.
    """
    for name, prop in schema.get("properties", {}).items():
        value = config.get(name)
        if not isinstance(value, str):
            continue
        types = prop.get("type", [])
        types = {types} if isinstance(types, str) else set(types)
        word = value.strip().lower()
        if "boolean" in types and word in {"true", "false"}:
            config[name] = word == "true"
        elif "array" in types and value.lstrip().startswith("["):
            with contextlib.suppress(ValueError):
                config[name] = json.loads(value)


class CatalogError(ValueError):
    """The ``--catalog`` input cannot be used; the message says where and what to do."""


def config_file_problem(path: str) -> str | None:
    """Why the ``--config`` file ``path`` cannot be read as a settings object, or ``None``."""
    where = f"config file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{where} was not found"
    except (OSError, UnicodeDecodeError) as exc:
        return f"{where} cannot be read ({type(exc).__name__}: {getattr(exc, 'strerror', exc)})"
    try:
        value = json.loads(text)
    except ValueError as exc:
        # The decoder's message gives the position only, never the text (it may be a secret).
        return (
            f"{where} is not JSON ({getattr(exc, 'msg', 'invalid')} at line "
            f"{getattr(exc, 'lineno', '?')} column {getattr(exc, 'colno', '?')})"
        )
    if not isinstance(value, dict):
        return f"{where} must hold a JSON object of settings, not {type(value).__name__}"
    return None


def read_catalog(text: str, source: str, streams: Collection[str]) -> Catalog:
    """The catalog in ``text`` (the contents of ``source``), checked before any request.

    ``streams``: the names of the tap's streams.

    Raises:
        CatalogError: Not JSON, not a catalog, or it selects no stream of this tap.
    """
    fix = "run tap-mindzpay --discover for a catalog of this tap and select streams in it"
    try:
        value = json.loads(text)
    except ValueError as exc:
        msg = f"catalog {source} is not JSON ({getattr(exc, 'msg', exc)}); {fix}"
        raise CatalogError(msg) from None
    entries = value.get("streams") if isinstance(value, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("tap_stream_id"), str) for e in entries
    ):
        msg = (
            f"catalog {source} must be an object with a list 'streams' of entries that each "
            f"have a 'tap_stream_id'; {fix}"
        )
        raise CatalogError(msg)
    try:
        catalog = Catalog.from_dict(value)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        msg = f"catalog {source} has an entry the SDK cannot read ({problem:.200}); {fix}"
        raise CatalogError(msg) from None
    # What Stream.selected computes from the entry's metadata.
    selected = [
        name for name, entry in catalog.items() if entry.metadata.resolve_selection().get((), True)
    ]
    foreign = [name for name in selected if name not in streams]
    if not any(name in streams for name in selected):
        chosen = f"only {', '.join(foreign)}" if foreign else "no stream"
        msg = (
            f"catalog {source} selects {chosen}, so the run would sync nothing; this tap's "
            f"streams are {', '.join(streams)}; {fix}"
        )
        raise CatalogError(msg)
    for name in foreign:
        close = difflib.get_close_matches(name, list(streams), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        LOGGER.warning(
            "catalog %s selects stream %r, which this tap does not have%s; it is ignored",
            source,
            name,
            hint,
        )
    return catalog
