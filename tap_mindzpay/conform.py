"""Record shaping: what ``post_process`` does to every record before the SDK writes it.

* Every record must carry ``created_at`` and ``updated_at`` (null is allowed, absence is not):
  change capture relies on them. A deletion marker needs neither.
* Money strings become ``Decimal`` (``MONEY``), or their exact decimal text with
  ``money_as_string``; a malformed amount is a malformed record.
* ``start_date`` filters the per-account streams' records by ``created_at``
  (``before_start_date``): a record created earlier is never emitted, never refreshed and
  never yields a status change; the accounts themselves are never filtered.
* Performance lever: the SDK's type conformance walks every property of every record and costs
  about a third of a full sync's CPU. For a flat schema it can change only three things in
  records decoded from JSON: properties missing from the schema (dropped, with one warning per
  new set of names; which names is one lookup per record, by its key tuple), booleans
  (``v != 0``) and non-finite numbers (null). With ``conform`` the shaper does exactly those
  and the stream switches the SDK's pass off (``MindzPayStream.fast_conformance``); a schema
  with nested objects or arrays keeps it.
* On that pass list pages are decoded by ``decoding.PageDecoder`` (``list_decoder``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_mindzpay.capture.state import DELETED_AT
from tap_mindzpay.decoding import FirstPageDecoder, PageDecoder
from tap_mindzpay.endpoints import INVOICE_STATUS_LABELS
from tap_mindzpay.errors import MalformedRecordError
from tap_mindzpay.run.summary import StreamDrift
from tap_mindzpay.schemas import money_text
from tap_mindzpay.timestamps import parse_timestamp

if TYPE_CHECKING:
    import logging
    from collections.abc import Mapping
    from datetime import datetime

BOOLEAN_TYPES = ({"boolean"}, {"boolean", "null"})
#: Key tuples whose undeclared properties are remembered (records of a stream share a few).
KEY_SETS_KEPT = 256
#: Pages decoded by ``PageDecoder`` between two reads for undeclared property names.


def json_types(prop: Mapping[str, Any]) -> set[str]:
    """The JSON Schema ``type`` of a property as a set (empty when it has none)."""
    kind = prop.get("type", ())
    return {kind} if isinstance(kind, str) else set(kind)


class RecordShaper:
    """The record shaping of one stream (see the module docstring).

    Args:
        stream: The stream's name (in messages).
        properties: The stream's schema properties (as emitted).
        money_fields: Its money properties.
        config: The run's settings (``money_as_string``, ``start_date``,
            ``skip_malformed_records``).
        per_account: Whether ``start_date`` applies (the per-account streams).
        logger: The stream's logger.
        drift: Where undeclared properties and skipped malformed records are counted for the
            run summary.
    """

    def __init__(  # noqa: PLR0913 - explicit parts of one stream
        self,
        *,
        stream: str,
        properties: Mapping[str, Mapping[str, Any]],
        money_fields: tuple[str, ...],
        config: Mapping[str, Any],
        per_account: bool,
        logger: logging.Logger,
        drift: StreamDrift | None = None,
    ) -> None:
        """Precompute what each record needs from the schema and the settings."""
        self.stream = stream
        self.logger = logger
        self.drift = drift or StreamDrift()
        self._money_fields = money_fields
        self._money_as_string = bool(config.get("money_as_string"))
        self._skip_malformed = bool(config.get("skip_malformed_records"))
        start_date = config.get("start_date")
        self._start_date: datetime | None = (
            parse_timestamp(start_date) if start_date and per_account else None
        )
        self._known_properties = frozenset(properties)
        self._boolean_properties = tuple(
            name for name, prop in properties.items() if json_types(prop) in BOOLEAN_TYPES
        )
        self._unknown_seen: set[frozenset[str]] = set()
        self._warned: set[frozenset[str]] = set()
        self._drop_by_keys: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._has_deletion_marker = DELETED_AT in properties
        self._has_status_label = "status_label" in properties
        #: No nested objects or arrays: the shaper can stand in for the SDK's conformance.
        self.flat = not any(json_types(p) & {"object", "array"} for p in properties.values())
        self.page_decoder = PageDecoder(self, tuple(properties), money_fields)

    def list_decoder(self, *, conforming: bool) -> PageDecoder | None:
        """The page decoder of a new list read, or ``None`` (plain JSON).

        Declared properties only and money decoded when the shaper stands in for the SDK's
        conformance (``conforming``), which would drop the other properties anyway.
        """
        if not conforming:
            return None
        self.page_decoder.restart()
        return self.page_decoder

    def first_page_decoder(self, *, conforming: bool) -> FirstPageDecoder | None:
        """The decoder of a first page fetched ahead of its read (``list_decoder``'s kind)."""
        return self.page_decoder.first_page if conforming else None

    def shape(self, row: dict[str, Any], *, conform: bool) -> dict[str, Any] | None:
        """Check timestamps, parse money, add derived fields; ``None``: skip the record."""
        missing = _missing_timestamp(row)
        if missing is not None:
            self.malformed(row, missing, "missing (the contract always sends it)")
            return None
        if not self._parse_money(row, conform=conform):
            return None
        if self._has_deletion_marker:
            row.setdefault(DELETED_AT, None)
        if conform:
            self._conform_names_and_booleans(row)
        elif tuple(row) not in self._drop_by_keys:
            # The SDK's conformance drops (and warns about) undeclared properties itself; the
            # run summary still counts them.
            self._undeclared(tuple(row), row.get("id"), warn=False)
        if self._has_status_label:
            status = row.get("status")
            if isinstance(status, int):
                row["status_label"] = INVOICE_STATUS_LABELS.get(status)
        return row

    def keeps(self, row: Mapping[str, Any]) -> bool:
        """Whether ``shape`` would keep the record, without a side effect or a warning.

        Only a kept parent's children are synced, so only theirs are fetched ahead (``platform``).
        """
        if _missing_timestamp(row) is not None:
            return False
        return all(_is_amount(row.get(field)) for field in self._money_fields)

    def _parse_money(self, row: dict[str, Any], *, conform: bool) -> bool:
        """Money strings into ``Decimal`` (or its text, ``money_as_string``) in place.

        Returns False if one is malformed (the record is skipped).
        """
        for field in self._money_fields:
            value = row.get(field)
            if value is None:
                continue
            if not isinstance(value, Decimal):
                try:
                    # The wire's money is a string; str() of anything else, as before.
                    value = Decimal(value if type(value) is str else str(value))
                except InvalidOperation:
                    self.malformed(row, field, f"{value!r} is not a decimal amount")
                    return False
                row[field] = value
            if self._money_as_string:
                row[field] = money_text(value)  # NaN/Infinity: null, as conformance does
            elif conform and not value.is_finite():
                row[field] = None  # as the SDK's conformance (NaN/Infinity have no JSON form)
        return True

    def _conform_names_and_booleans(self, row: dict[str, Any]) -> None:
        keys = tuple(row)
        drop = self._drop_by_keys.get(keys)
        if drop is None:
            drop = self._undeclared(keys, row.get("id"))
        for name in drop:
            del row[name]
        for name in self._boolean_properties:
            if name in row and row[name] is not None:
                row[name] = row[name] != 0

    def _undeclared(
        self, keys: tuple[str, ...], record_id: object, *, warn: bool = True
    ) -> tuple[str, ...]:
        """The properties of a record with ``keys`` the schema does not declare.

        Records of one stream come with the same keys in the same order, so the answer is
        kept per key tuple (up to ``KEY_SETS_KEPT`` of them): a record then costs one lookup.
        A new set of undeclared names is warned about once.
        """
        drop = tuple(name for name in keys if name not in self._known_properties)
        if len(self._drop_by_keys) < KEY_SETS_KEPT:
            self._drop_by_keys[keys] = drop
        unknown = frozenset(drop)
        if unknown and unknown not in self._unknown_seen:
            self._unknown_seen.add(unknown)
            self.drift.saw_undeclared(drop, record_id)
        if warn and unknown and unknown not in self._warned:
            self._warned.add(unknown)
            self.logger.warning(
                "Properties %s were present in the '%s' stream but not found in the "
                "schema; dropped (further records with them are dropped silently)",
                sorted(unknown),
                self.stream,
            )
        return drop

    def note_keys(self, keys: tuple[str, ...], record_id: object) -> None:
        """Warn about the undeclared properties of records with ``keys`` (once per new set)."""
        if keys not in self._drop_by_keys:
            self._undeclared(keys, record_id)

    def before_start_date(self, row: Mapping[str, Any]) -> bool:
        """Whether a per-account record was created before ``start_date`` (not to be emitted).

        A record whose ``created_at`` is null is kept (nothing says it is older); one that is
        not a timestamp is malformed.
        """
        if self._start_date is None:
            return False
        created = row.get("created_at")
        if not isinstance(created, str):
            return False
        try:
            return parse_timestamp(created) < self._start_date
        except ValueError:
            self.malformed(row, "created_at", f"{created!r} is not an ISO 8601 timestamp")
            return True

    def malformed(self, row: Mapping[str, Any], field: str, problem: str) -> None:
        """Fail on a malformed record, or skip it with a warning (``skip_malformed_records``).

        Raises:
            MalformedRecordError: Unless the setting ``skip_malformed_records`` is true.
        """
        msg = f"stream {self.stream}, record id {row.get('id')}, field {field}: {problem}"
        if not self._skip_malformed:
            raise MalformedRecordError(
                msg + " (set skip_malformed_records to skip such records with a warning)"
            )
        self.drift.skipped_malformed()
        self.logger.warning("Skipping malformed record: %s", msg)


def _missing_timestamp(row: Mapping[str, Any]) -> str | None:
    """The timestamp a record lacks (``created_at``, ``updated_at``), unless it is deleted."""
    if ("created_at" not in row or "updated_at" not in row) and not row.get(DELETED_AT):
        return "created_at" if "created_at" not in row else "updated_at"
    return None


def _is_amount(value: object) -> bool:
    """Whether a money value is absent or a decimal amount (``RecordShaper._parse_money``)."""
    if value is None or isinstance(value, Decimal):
        return True
    try:
        Decimal(value if type(value) is str else str(value))
    except InvalidOperation:
        return False
    return True


def catalog_conformance(
    level: TypeConformanceLevel,
    catalog_schema: Mapping[str, Any] | None,
    schema: Mapping[str, Any],
) -> TypeConformanceLevel:
    """The SDK's conformance level for a stream whose catalog may carry its own schema.

    The SDK conforms records to the catalog's schema; the shaper knows only the stream's, so a
    stream on the shaper's pass (``NONE``) with any other catalog schema gets the SDK's pass.
    """
    if (
        level is TypeConformanceLevel.NONE
        and catalog_schema is not None
        and catalog_schema.get("properties") != schema["properties"]
    ):
        return TypeConformanceLevel.RECURSIVE
    return level
