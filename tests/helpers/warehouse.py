"""Read what a loader left in a warehouse and compare it with the sandbox truth, whole rows.

`read_duckdb` and `read_postgres` read every column of every stream's table from one or more
schemas (a sharded load is the union of its shards' schemas) into `Tables`. `Snapshot.check`
compares one truth stream with the truth, row by row and column by column:

* the table's columns are the stream schema's properties (plus the loader's own `_sdc_*`);
* one row per truth id, none for an id the API never had;
* every column equals the truth's value: money exactly (as `Decimal`; a DOUBLE must round-trip
  to the API's two-decimal string), timestamps as the same instant whatever zone the warehouse
  returns (a column without a zone holds UTC), dates, booleans (no int/bool confusion), nulls,
  the account key and id the tap adds from the parent account, the invoice `status_label`,
  arrays of ids (a JSON text column, as target-duckdb writes one, is read as its list), and
  `_sdc_deleted_at` null on a live record;
* the users' personal data is not a column: a default selection leaves it out
  (`fold.UNSELECTED_BY_DEFAULT`).

A warehouse keeps rows the API no longer returns (support deletes a few records as the clock
moves): those are tolerated as rows but reported, and `TableCheck.deleted_unmarked` lists the
ones that do not carry `_sdc_deleted_at`. `Snapshot.check_emitted` compares a stream the sandbox
has no truth for (`invoice_status_changes`) with the records the tap sent in the same runs.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .fold import UNSELECTED_BY_DEFAULT, values_equal
from .services import connect_postgres
from .streams import DERIVED_STREAMS, PRIMARY_KEYS, STREAM_SCHEMAS, TRUTH_STREAMS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path

#: Every table a full load writes: the truth streams and the derived ones (the status history).
STREAMS = (*TRUTH_STREAMS, *DERIVED_STREAMS)
DELETED_AT = "_sdc_deleted_at"
# The pt-BR label of each invoice status code (the index), as the API contract lists them.
INVOICE_STATUS_LABELS = (
    *("Pendente", "Em processo de emissão", "Emitida", "Falha ao emitir"),
    *("Em processo de cancelamento", "Cancelada", "Falha ao cancelar", "Não emitir"),
    *("Enviado por email", "Não emitida"),
)
_ABSENT = "<absent>"
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@dataclass
class TableCheck:
    """The rows of one warehouse table against the truth (or the emitted records) of a stream."""

    stream: str
    rows: int
    truth_count: int
    missing: list[Any] = field(default_factory=list)
    unexpected: list[Any] = field(default_factory=list)
    duplicated: list[Any] = field(default_factory=list)
    deleted_kept: list[Any] = field(default_factory=list)
    #: Rows of records support deleted whose `_sdc_deleted_at` is null (or has no such column).
    deleted_unmarked: list[Any] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    #: (key, column, expected, warehouse value) for every differing cell.
    wrong_values: list[tuple[Any, str, Any, Any]] = field(default_factory=list)
    compared: int = 0  # rows compared cell by cell

    @property
    def ok(self) -> bool:
        """The same rows as the truth (deleted ones tolerated), the same columns and values."""
        return not (
            self.missing
            or self.unexpected
            or self.duplicated
            or self.missing_columns
            or self.extra_columns
            or self.wrong_values
        )

    def wrong(self, column: str) -> list[tuple[Any, str, Any, Any]]:
        """The differing cells of one column."""
        return [cell for cell in self.wrong_values if cell[1] == column]

    def summary(self, limit: int = 10) -> str:
        """One line per finding, bounded."""
        by_column = Counter(cell[1] for cell in self.wrong_values)
        lines = [
            (
                f"table {self.stream!r}: {self.rows} rows, truth {self.truth_count}, compared "
                f"{self.compared}; missing {len(self.missing)}, unexpected "
                f"{len(self.unexpected)}, duplicated {len(self.duplicated)}, deleted-but-kept "
                f"{len(self.deleted_kept)} ({len(self.deleted_unmarked)} without "
                f"{DELETED_AT}), wrong cells {len(self.wrong_values)} {dict(by_column)}"
            )
        ]
        for label, found in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("duplicated", self.duplicated),
            ("deleted without marker", self.deleted_unmarked),
            ("missing columns", self.missing_columns),
            ("extra columns", self.extra_columns),
        ):
            if found:
                lines.append(f"  {label} (first {limit}): {sorted(found, key=str)[:limit]}")
        lines.extend(
            f"  {key}: {column} expected {want!r}, warehouse has {got!r}"
            for key, column, want, got in self.wrong_values[:limit]
        )
        return "\n".join(lines)


@dataclass
class Tables:
    """Every stream's table as a warehouse holds it (the union of `schemas`), whole rows."""

    schemas: tuple[str, ...]
    records: dict[str, list[dict[str, Any]]]  # stream -> every row (duplicates kept)
    columns: dict[str, set[str]]  # stream -> the table's columns (empty: no table)

    @property
    def rows(self) -> dict[str, list[Any]]:
        """Stream -> the id of every row (truth streams; duplicates kept)."""
        return {
            stream: [row["id"] for row in self.records.get(stream, [])] for stream in TRUTH_STREAMS
        }


def read_tables(
    query: Callable[[str], tuple[list[str], Iterable[tuple[Any, ...]]]],
    schemas_: Sequence[str],
) -> Tables:
    """Read every column of every stream's table in each of `schemas_`.

    `query` runs one SQL text and returns (column names, rows). A missing table reads as empty.
    Timestamps without a zone are taken as UTC (what both loaders write; see docs/loaders.md).
    """
    _, listing = query("SELECT table_schema, table_name FROM information_schema.tables")
    existing = {(schema, table) for schema, table in listing}
    tables = Tables(tuple(schemas_), {}, {})
    for stream in STREAMS:
        records: list[dict[str, Any]] = []
        columns: set[str] = set()
        for schema in schemas_:
            if (schema, stream) not in existing:
                continue
            names, rows = query(f'SELECT * FROM "{schema}"."{stream}"')  # noqa: S608 - fixed names
            columns.update(names)
            records.extend(
                {name: _as_utc(value) for name, value in zip(names, row, strict=True)}
                for row in rows
            )
        tables.records[stream], tables.columns[stream] = records, columns
    return tables


def _as_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def expected_row(
    stream: str, truth_row: Mapping[str, Any], accounts: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """What the warehouse row of `truth_row` must hold in each schema column (`_ABSENT`: no
    truth to compare with, itself a finding)."""
    key_of = {a["id"]: a["key"] for a in accounts}
    id_of = {a["key"]: a["id"] for a in accounts}
    derived: dict[str, Any] = {DELETED_AT: None}
    if "account_key" in truth_row:
        derived["account_id"] = id_of.get(truth_row["account_key"], _ABSENT)
    if "account_id" in truth_row and stream != "accounts":
        derived["account_key"] = key_of.get(truth_row["account_id"], _ABSENT)
    if stream == "invoices" and isinstance(truth_row.get("status"), int):
        derived["status_label"] = INVOICE_STATUS_LABELS[truth_row["status"]]
    return {
        name: truth_row[name] if name in truth_row else derived.get(name, _ABSENT)
        for name in loaded_columns(stream)
    }


def loaded_columns(stream: str) -> list[str]:
    """The schema properties a default selection loads (personal data left out)."""
    left_out = UNSELECTED_BY_DEFAULT.get(stream, ())
    return [name for name in STREAM_SCHEMAS[stream]["properties"] if name not in left_out]


def _check_columns(check: TableCheck, stream: str, columns: set[str]) -> None:
    wanted = set(loaded_columns(stream))
    check.missing_columns = sorted(wanted - columns)
    check.extra_columns = sorted(c for c in columns - wanted if not c.startswith("_sdc_"))


def _compare_cells(
    check: TableCheck, key: Any, want: Mapping[str, Any], got: Mapping[str, Any]
) -> None:
    check.compared += 1
    for column, value in want.items():
        actual = _array_value(value, got.get(column, _ABSENT))
        if (
            value is _ABSENT
            or actual is _ABSENT
            or not values_equal(value, actual, same_offset=False)
        ):
            check.wrong_values.append((key, column, value, actual))


def _array_value(expected: Any, actual: Any) -> Any:
    """An array column as a list: target-duckdb stores a JSON array as its text (VARCHAR)."""
    if isinstance(expected, list) and isinstance(actual, str):
        try:
            return json.loads(actual)
        except ValueError:
            return actual
    return actual


@dataclass
class Snapshot:
    """The sandbox truth and what the warehouse held at one moment (and what the tap had sent)."""

    truth: dict[str, list[dict[str, Any]]]
    deleted: list[dict[str, Any]]
    tables: Tables
    #: Stream -> every record the tap sent in the runs so far (in order), for derived streams.
    emitted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def check(self, stream: str) -> TableCheck:
        """The table of truth stream `stream` against the truth: ids, columns, every cell."""
        truth = self.truth[stream]
        rows = self.tables.records.get(stream, [])
        counts = Counter(row["id"] for row in rows)
        truth_ids = {row["id"] for row in truth}
        deleted_ids = {row["id"] for row in self.deleted if row.get("stream") == stream}
        check = TableCheck(stream, len(rows), len(truth_ids))
        check.missing = sorted(truth_ids - counts.keys())
        check.unexpected = sorted(counts.keys() - truth_ids - deleted_ids)
        check.duplicated = sorted(k for k, n in counts.items() if n > 1)
        check.deleted_kept = sorted(counts.keys() & (deleted_ids - truth_ids))
        _check_columns(check, stream, self.tables.columns.get(stream, set()))
        by_id = {row["id"]: row for row in rows}
        check.deleted_unmarked = [i for i in check.deleted_kept if by_id[i].get(DELETED_AT) is None]
        for truth_row in truth:
            if (got := by_id.get(truth_row["id"])) is not None:
                want = expected_row(stream, truth_row, self.truth["accounts"])
                _compare_cells(check, truth_row["id"], want, got)
        return check

    def check_emitted(self, stream: str) -> TableCheck:
        """The table of `stream` against the tap's records of it, folded by primary key."""
        keys = PRIMARY_KEYS[stream]
        expected: dict[tuple[Any, ...], dict[str, Any]] = {}
        for record in self.emitted.get(stream, []):
            expected[tuple(_key_part(record[k]) for k in keys)] = record
        rows = self.tables.records.get(stream, [])
        counts = Counter(tuple(_key_part(row[k]) for k in keys) for row in rows)
        check = TableCheck(stream, len(rows), len(expected))
        check.missing = sorted(expected.keys() - counts.keys(), key=str)
        check.unexpected = sorted(counts.keys() - expected.keys(), key=str)
        check.duplicated = sorted((k for k, n in counts.items() if n > 1), key=str)
        _check_columns(check, stream, self.tables.columns.get(stream, set()))
        by_key = {tuple(_key_part(row[k]) for k in keys): row for row in rows}
        for key, record in expected.items():
            if (got := by_key.get(key)) is not None:
                want = {name: record.get(name) for name in STREAM_SCHEMAS[stream]["properties"]}
                _compare_cells(check, key, want, got)
        return check


def _key_part(value: Any) -> Any:
    """A primary-key value comparable across the wire and a warehouse (instants in UTC)."""
    if isinstance(value, str) and _DATETIME.match(value):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return _as_utc(value).astimezone(timezone.utc)
    return value


# -- DuckDB ---------------------------------------------------------------------------------------


def duckdb_target_env(path: Path, schema: str) -> dict[str, str]:
    """target-duckdb variables that load into `schema` of the DuckDB file `path`."""
    return {
        "TARGET_DUCKDB_FILEPATH": str(path),
        "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": schema,
    }


def read_duckdb(path: Path, schemas_: Sequence[str]) -> Tables:
    """Every stream's table of a DuckDB file (money is DOUBLE there, timestamps UTC)."""
    import duckdb  # noqa: PLC0415 - only the DuckDB tests need it

    with duckdb.connect(str(path), read_only=True) as connection:

        def query(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            cursor = connection.execute(sql)
            return [d[0] for d in cursor.description], cursor.fetchall()

        return read_tables(query, schemas_)


# -- PostgreSQL -----------------------------------------------------------------------------------

#: The session zone the tests read PostgreSQL in: neither UTC nor the API's -03:00, so a
#: `timestamptz` column comes back in a third zone and only an instant comparison passes
#: (target-postgres writes `timestamp` without zone, in UTC: read as UTC).
READ_TIME_ZONE = "Asia/Kolkata"


def read_postgres(dsn: str, schemas_: Sequence[str]) -> Tables:
    """Every stream's table of `schemas_` in PostgreSQL (money is exact NUMERIC there)."""
    with connect_postgres(dsn, options=f"-c TimeZone={READ_TIME_ZONE}") as connection:

        def query(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            cursor = connection.execute(sql)
            return [d.name for d in cursor.description], cursor.fetchall()

        return read_tables(query, schemas_)


def drop_postgres_schemas(dsn: str, schemas_: Iterable[str]) -> None:
    """Drop `schemas_` and everything in them (a test's own schemas, at its end)."""
    with connect_postgres(dsn) as connection:
        for schema in schemas_:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
