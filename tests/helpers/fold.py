"""Fold Singer records by primary key and compare them with the sandbox's ground truth.

Folding applies records in order: the last record seen for a key wins, as a target that upserts
by primary key would. The comparison is field by field over the truth's fields: money (the API's
two-decimal strings) as `Decimal`, timestamps as the same instant with the same UTC offset, and
everything else by plain equality with no int/bool confusion. Fields the tap adds (for example a
status label) are allowed; a truth field missing from a record is a mismatch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .streams import PRIMARY_KEYS as TAP_PRIMARY_KEYS
from .streams import TRUTH_STREAMS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

Key = tuple[Any, ...]

#: Primary keys of the streams the sandbox has truth for, as the tap declares them; other
#: callers pass their own.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {s: TAP_PRIMARY_KEYS[s] for s in TRUTH_STREAMS}
#: The key of a stream the tap does not declare.
ID_KEY: tuple[str, ...] = ("id",)
#: Truth fields a default selection leaves out: personal data under the LGPD (the
#: contract's list, written out here so a test fails if the tap selects a different set).
UNSELECTED_BY_DEFAULT: dict[str, tuple[str, ...]] = {
    "users": (
        *("cpf_cnpj", "phone", "birth_date"),
        *("zip_code", "street", "house_number", "complement", "district"),
    ),
    "emails": ("email", "first_name", "last_name"),
}

_MONEY = re.compile(r"^-?\d+\.\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def record_key(record: Mapping[str, Any], key_properties: Sequence[str]) -> Key:
    """The primary-key tuple of `record`; raises if a key property is absent or null."""
    try:
        key = tuple(record[name] for name in key_properties)
    except KeyError as exc:
        msg = f"record lacks primary-key property {exc}: {dict(record)!r:.300}"
        raise AssertionError(msg) from exc
    if any(part is None for part in key):
        msg = f"record has a null primary key {key_properties}: {dict(record)!r:.300}"
        raise AssertionError(msg)
    return key


def fold(
    records: Iterable[Mapping[str, Any]], key_properties: Sequence[str]
) -> dict[Key, dict[str, Any]]:
    """Apply `records` in order by primary key; the last one for each key wins."""
    if not key_properties:
        msg = "folding needs at least one key property"
        raise ValueError(msg)
    folded: dict[Key, dict[str, Any]] = {}
    for record in records:
        folded[record_key(record, key_properties)] = dict(record)
    return folded


def fold_messages(
    messages: Iterable[Mapping[str, Any]],
    key_properties: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, dict[Key, dict[str, Any]]]:
    """Fold the RECORD messages of every stream, keyed by the SCHEMA messages' key_properties.

    `key_properties` overrides (or supplies, for streams without a SCHEMA message) the keys.
    """
    keys: dict[str, Sequence[str]] = dict(key_properties or {})
    folded: dict[str, dict[Key, dict[str, Any]]] = {}
    for message in messages:
        kind = message.get("type")
        stream = message.get("stream")
        if kind == "SCHEMA" and stream not in (key_properties or {}):
            keys[stream] = list(message.get("key_properties") or [])
        elif kind == "RECORD":
            stream_keys = keys.get(stream) or PRIMARY_KEYS.get(stream)
            if not stream_keys:
                msg = f"RECORD of stream {stream!r} before any SCHEMA with key_properties"
                raise AssertionError(msg)
            record = message["record"]
            folded.setdefault(stream, {})[record_key(record, stream_keys)] = dict(record)
    return folded


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal, str)):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    if isinstance(value, float):
        # A float on the wire is itself a finding, but compare its shortest repr exactly.
        return Decimal(repr(value))
    return None


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def values_equal(expected: Any, actual: Any, *, same_offset: bool = True) -> bool:  # noqa: PLR0911
    """Whether `actual` (what landed) equals `expected` (the truth's value) for our API types."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, str) and _MONEY.match(expected):
        got = _as_decimal(actual)
        return got is not None and got == Decimal(expected)
    if isinstance(expected, str) and _DATETIME.match(expected):
        want, got = _as_datetime(expected), _as_datetime(actual)
        if want is None or got is None or got.tzinfo is None:
            return False
        return want == got and (not same_offset or want.utcoffset() == got.utcoffset())
    if isinstance(expected, str) and _DATE.match(expected) and isinstance(actual, date):
        return actual.isoformat()[:10] == expected
    if isinstance(expected, (int, Decimal)) and isinstance(actual, (int, Decimal)):
        return Decimal(expected) == Decimal(actual)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            values_equal(e, a, same_offset=same_offset)
            for e, a in zip(expected, actual, strict=False)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() <= actual.keys() and all(
            values_equal(v, actual[k], same_offset=same_offset) for k, v in expected.items()
        )
    return type(expected) is type(actual) and expected == actual


@dataclass(frozen=True)
class FieldMismatch:
    """One field of one record that differs from the truth."""

    key: Key
    field: str
    expected: Any
    actual: Any


_ABSENT = "<absent>"


@dataclass
class Comparison:
    """Folded records of one stream against the truth: what is missing, extra or stale."""

    stream: str
    expected_count: int
    actual_count: int
    missing: list[Key] = field(default_factory=list)
    extra: list[Key] = field(default_factory=list)
    stale: list[FieldMismatch] = field(default_factory=list)
    added_fields: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """True when every truth record landed with equal fields and nothing else did."""
        return not (self.missing or self.extra or self.stale)

    @property
    def stale_keys(self) -> list[Key]:
        """Keys of records with at least one differing field, in order."""
        return list(dict.fromkeys(m.key for m in self.stale))

    def summary(self, limit: int = 10) -> str:
        """A precise, bounded report for an assertion message."""
        lines = [
            (
                f"stream {self.stream!r}: truth has {self.expected_count} records, "
                f"folded output has {self.actual_count}; missing {len(self.missing)}, "
                f"extra {len(self.extra)}, stale {len(self.stale_keys)} records "
                f"({len(self.stale)} fields)"
            )
        ]
        if self.missing:
            lines.append(f"  missing keys (first {limit}): {sorted(self.missing)[:limit]}")
        if self.extra:
            lines.append(f"  extra keys (first {limit}): {sorted(self.extra)[:limit]}")
        by_field: dict[str, int] = {}
        for mismatch in self.stale:
            by_field[mismatch.field] = by_field.get(mismatch.field, 0) + 1
        if by_field:
            lines.append(f"  stale fields by name: {dict(sorted(by_field.items()))}")
        lines.extend(
            f"  key {m.key}: {m.field} expected {m.expected!r}, got {m.actual!r}"
            for m in self.stale[:limit]
        )
        return "\n".join(lines)


def compare_with_truth(  # noqa: PLR0913 - the comparison and its two options
    stream: str,
    folded: Mapping[Key, Mapping[str, Any]],
    truth: Iterable[Mapping[str, Any]],
    key_properties: Sequence[str] | None = None,
    *,
    same_offset: bool = True,
    unselected: Sequence[str] | None = None,
) -> Comparison:
    """Compare folded records of `stream` with the truth's records, field by field.

    Truth fields in `unselected` (default: `UNSELECTED_BY_DEFAULT` of the stream) must be
    absent from the records; pass `()` when a catalog selected them.
    """
    keys = key_properties or PRIMARY_KEYS.get(stream, ID_KEY)
    left_out = set(UNSELECTED_BY_DEFAULT.get(stream, ()) if unselected is None else unselected)
    expected = fold(truth, keys)
    comparison = Comparison(stream, len(expected), len(folded))
    comparison.missing = [k for k in expected if k not in folded]
    comparison.extra = [k for k in folded if k not in expected]
    for key, want in expected.items():
        got = folded.get(key)
        if got is None:
            continue
        comparison.added_fields.update(set(got) - set(want))
        for name, value in want.items():
            actual = got.get(name, _ABSENT)
            if name in left_out:
                if actual is not _ABSENT:
                    comparison.stale.append(FieldMismatch(key, name, _ABSENT, actual))
            elif actual is _ABSENT or not values_equal(value, actual, same_offset=same_offset):
                comparison.stale.append(FieldMismatch(key, name, value, actual))
    return comparison
