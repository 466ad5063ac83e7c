"""Personal data (LGPD): declared per stream, never emitted unless the settings ask for it.

A stream names its personal properties in ``personal_data`` (``MindzPayStream``); nothing else
is needed for a new stream to be covered. Discovery still lists them (in the schema, marked
``selected-by-default: false``), but a run emits them only when the setting
``include_personal_data`` is ``true`` (all of them) or lists them (``cpf_cnpj`` or
``users.cpf_cnpj``). A catalog that selects them is not enough: Meltano's default ``*.*``
select marks every property selected, so a catalog cannot tell a choice from a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from singer_sdk.singerlib import Metadata

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.singerlib import Catalog, MetadataMapping

SETTING = "include_personal_data"
#: Personal properties of each stream: stream name -> property names.
Declared = Mapping[str, tuple[str, ...]]


def included(value: object, stream: str, fields: Iterable[str]) -> frozenset[str]:
    """The personal ``fields`` of ``stream`` the setting's ``value`` lets a run emit."""
    if value is True:
        return frozenset(fields)
    if not isinstance(value, list):
        return frozenset()
    names = set(value)
    return frozenset(f for f in fields if f in names or f"{stream}.{f}" in names)


def unknown_names(value: object, declared: Declared) -> list[str]:
    """One line per name of the setting's list that is no stream's personal property."""
    if not isinstance(value, list):
        return []
    known = {f for fields in declared.values() for f in fields}
    known |= {f"{stream}.{f}" for stream, fields in declared.items() for f in fields}
    return [
        f"setting {SETTING}: {name!r} is not a personal-data property; the tap's are "
        f"{', '.join(sorted(f'{s}.{f}' for s, fields in declared.items() for f in fields))}"
        for name in value
        if name not in known
    ]


def withhold(metadata: MetadataMapping, value: object, stream: str, fields: Iterable[str]) -> None:
    """Deselect in ``metadata`` the personal ``fields`` the setting does not include.

    Called on an input catalog's metadata: whatever the catalog selected, the SDK's selection
    mask then drops these properties from the SCHEMA and every RECORD (stream maps included).
    """
    allowed = included(value, stream, fields)
    for name in fields:
        if name in allowed:
            continue
        breadcrumb = ("properties", name)
        entry = metadata.get(breadcrumb)
        if entry is None:
            metadata[breadcrumb] = Metadata(selected=False)
        else:
            entry.selected = False


def mark_defaults(
    metadata: MetadataMapping, value: object, stream: str, fields: Iterable[str]
) -> None:
    """Discovery's metadata: the personal ``fields`` not included are not selected by default.

    A run without a catalog follows these defaults, and so leaves them out too.
    """
    allowed = included(value, stream, fields)
    for name in fields:
        metadata[("properties", name)].selected_by_default = name in allowed


def withhold_in_catalog(catalog: Catalog | None, value: object, declared: Declared) -> None:
    """``withhold`` for every stream of ``catalog`` that has personal properties."""
    if catalog is None:
        return
    for stream, fields in declared.items():
        entry = catalog.get_stream(stream)
        if entry is not None and fields:
            withhold(entry.metadata, value, stream, fields)


def synced(catalog: Catalog | None, declared: Declared) -> Declared:
    """The personal properties of the streams a run syncs (all of them without a catalog)."""
    if catalog is None:
        return declared
    return {
        stream: fields
        for stream, fields in declared.items()
        if (entry := catalog.get_stream(stream)) is not None and entry.metadata.root.selected
    }


def left_out_line(value: object, selected: Declared) -> str | None:
    """The run's one line naming the personal properties it leaves out, or ``None``.

    Args:
        value: The setting's value.
        selected: The personal properties of each stream the run syncs.
    """
    left = [
        f"{stream}.{name}"
        for stream, fields in selected.items()
        for name in fields
        if name not in included(value, stream, fields)
    ]
    if not left:
        return None
    return (
        f"Personal data (LGPD) left out of this run: {', '.join(left)}; set the setting "
        f"{SETTING} to true, or to a list of these properties, to sync them"
    )
