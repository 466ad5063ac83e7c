"""Stream maps of streams a run does not sync are set aside, with one line saying why.

The SDK builds a mapper for every stream the ``stream_maps`` setting names, selected or not, and
stops the run on a map of a stream the catalog does not select ("Invalid key properties ...
Property 'id' was not detected in schema"): a project that hashes ``users.email`` could then
not sync ``invoices`` alone. The maps of unselected streams are left out before the SDK sees
them; the maps of selected streams are applied as written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.singerlib import Catalog


def _source(name: str, stream_map: object) -> str:
    """The stream a map reads: its ``__source__``, else the stream of its own name."""
    if isinstance(stream_map, dict):
        source = stream_map.get("__source__")
        if isinstance(source, str):
            return source
    return name


def maps_of_synced_streams(
    stream_maps: dict[str, Any], catalog: Catalog | None, own_streams: Iterable[str]
) -> tuple[dict[str, Any], list[str]]:
    """``stream_maps`` without the maps that read a stream of this tap the catalog leaves out.

    Returns:
        The maps to apply, and the names of the maps set aside.
    """
    if catalog is None:
        return stream_maps, []
    own = set(own_streams)
    unselected = {
        name
        for name in own
        if (entry := catalog.get_stream(name)) is None or not entry.metadata.root.selected
    }
    aside = [
        name
        for name, stream_map in stream_maps.items()
        if _source(name, stream_map) in own and _source(name, stream_map) in unselected
    ]
    kept = {name: value for name, value in stream_maps.items() if name not in aside}
    return kept, aside


def set_aside_line(names: list[str]) -> str:
    """The one line naming the maps set aside, and why."""
    return (
        f"Stream maps not applied: {', '.join(names)} (their streams are not selected in this "
        "run; the Singer SDK stops a run on a map of an unselected stream)"
    )
