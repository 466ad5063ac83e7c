"""Read what a loader left in a warehouse and compare it with the sandbox truth, by primary key.

`read_duckdb` and `read_postgres` read the four truth streams' tables (id, status, amount) from
one or more schemas (a sharded load is the union of its shards' schemas) into `Tables`.
`Snapshot.check` compares one stream with the truth.

A warehouse keeps rows the API no longer returns (support deletes a few records as the clock
moves) unless the pipeline propagates deletions, so those rows are tolerated but reported; every
other difference is a failure: a missing row (e.g. a loader dropping the first row of a batch), a
row for an id the API never had, two rows for one id, a stale status or an inexact amount.
"""

from __future__ import annotations

import os
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from .sandbox import TRUTH_STREAMS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path

POSTGRES_DSN_VARIABLE = "TAP_MINDZPAY_TEST_POSTGRES_DSN"
# Streams with a money column `amount` (accounts have none).
AMOUNT_STREAMS = ("invoices", "payments", "subscriptions")
# The pt-BR label of each invoice status code (the index), as the API contract lists them.
INVOICE_STATUS_LABELS = (
    *("Pendente", "Em processo de emissão", "Emitida", "Falha ao emitir"),
    *("Em processo de cancelamento", "Cancelada", "Falha ao cancelar", "Não emitir"),
    *("Enviado por email", "Não emitida"),
)


@dataclass
class TableCheck:
    """The rows of one warehouse table against the truth of the same stream."""

    stream: str
    rows: int
    truth_count: int
    missing: list[Any] = field(default_factory=list)
    unexpected: list[Any] = field(default_factory=list)
    duplicated: list[Any] = field(default_factory=list)
    deleted_kept: list[Any] = field(default_factory=list)
    stale_status: list[tuple[Any, Any, Any]] = field(default_factory=list)
    wrong_amount: list[tuple[Any, Any, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No missing, unexpected or duplicated rows, no stale status, no inexact amount."""
        return not (
            self.missing
            or self.unexpected
            or self.duplicated
            or self.stale_status
            or self.wrong_amount
        )

    def summary(self, limit: int = 10) -> str:
        """One line per finding, bounded."""
        lines = [
            (
                f"table {self.stream!r}: {self.rows} rows, truth {self.truth_count}; missing "
                f"{len(self.missing)}, unexpected {len(self.unexpected)}, duplicated "
                f"{len(self.duplicated)}, deleted-but-kept {len(self.deleted_kept)}, "
                f"stale status {len(self.stale_status)}, wrong amount {len(self.wrong_amount)}"
            )
        ]
        for label, ids in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("duplicated", self.duplicated),
        ):
            if ids:
                lines.append(f"  {label} ids (first {limit}): {sorted(ids)[:limit]}")
        for label, found in (("status", self.stale_status), ("amount", self.wrong_amount)):
            lines.extend(
                f"  id {key}: {label} expected {want!r}, warehouse has {got!r}"
                for key, want, got in found[:limit]
            )
        return "\n".join(lines)


def check_table(
    stream: str,
    landed_ids: Iterable[Any],
    truth: Iterable[Mapping[str, Any]],
    deleted: Iterable[Mapping[str, Any]] = (),
    *,
    key: str = "id",
) -> TableCheck:
    """Compare the ids of a table with the truth ids (deleted records of `stream` tolerated)."""
    counts = Counter(landed_ids)
    truth_ids = {row[key] for row in truth}
    deleted_ids = {row["id"] for row in deleted if row.get("stream") == stream}
    check = TableCheck(stream, sum(counts.values()), len(truth_ids))
    check.missing = sorted(truth_ids - counts.keys())
    check.unexpected = sorted(counts.keys() - truth_ids - deleted_ids)
    check.duplicated = sorted(k for k, n in counts.items() if n > 1)
    check.deleted_kept = sorted(counts.keys() & (deleted_ids - truth_ids))
    return check


def check_statuses(
    check: TableCheck,
    landed: Mapping[Any, Any],
    truth: Iterable[Mapping[str, Any]],
    *,
    key: str = "id",
    field_name: str = "status",
) -> TableCheck:
    """Add to `check` every truth record whose status differs from the warehouse row's."""
    for row in truth:
        if row[key] in landed and landed[row[key]] != row[field_name]:
            check.stale_status.append((row[key], row[field_name], landed[row[key]]))
    return check


def check_amounts(
    check: TableCheck,
    landed: Mapping[Any, Decimal | None],
    truth: Iterable[Mapping[str, Any]],
    *,
    key: str = "id",
) -> TableCheck:
    """Add to `check` every truth record whose amount is not exactly the warehouse row's."""
    for row in truth:
        if row[key] in landed and landed[row[key]] != Decimal(row["amount"]):
            check.wrong_amount.append((row[key], Decimal(row["amount"]), landed[row[key]]))
    return check


@dataclass
class Tables:
    """The truth streams' tables as a warehouse holds them (the union of `schemas`)."""

    schemas: tuple[str, ...]
    rows: dict[str, list[Any]]  # stream -> every id, one per row (duplicates kept)
    statuses: dict[str, dict[Any, Any]]  # stream -> {id: status}
    amounts: dict[str, dict[Any, Decimal | None]]  # stream -> {id: amount}, AMOUNT_STREAMS only
    labels: dict[Any, tuple[Any, Any]] = field(
        default_factory=dict
    )  # invoice id -> (status, label)


def read_tables(
    execute: Callable[[str], Iterable[tuple[Any, ...]]],
    schemas: Sequence[str],
    *,
    amount_sql: str = "amount",
) -> Tables:
    """Read id, status and amount of every truth stream's table in each of `schemas`.

    `execute` runs one SQL text and returns its rows; `amount_sql` is the expression that turns
    the loader's amount column into an exact decimal. A missing table reads as empty.
    """
    existing = {
        (schema, table)
        for schema, table in execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        )
    }
    tables = Tables(tuple(schemas), {}, {}, {})
    for stream in TRUTH_STREAMS:
        rows: list[Any] = []
        statuses: dict[Any, Any] = {}
        amounts: dict[Any, Decimal | None] = {}
        amount = amount_sql if stream in AMOUNT_STREAMS else "NULL"
        for schema in schemas:
            if (schema, stream) not in existing:
                continue
            query = f'SELECT id, status, {amount} FROM "{schema}"."{stream}"'  # noqa: S608 - fixed names
            for row_id, status, value in execute(query):
                rows.append(row_id)
                statuses[row_id] = status
                if stream in AMOUNT_STREAMS:
                    amounts[row_id] = value
            if stream == "invoices":
                query = f'SELECT id, status, status_label FROM "{schema}".invoices'  # noqa: S608 - fixed names
                tables.labels.update((i, (code, label)) for i, code, label in execute(query))
        tables.rows[stream], tables.statuses[stream] = rows, statuses
        if stream in AMOUNT_STREAMS:
            tables.amounts[stream] = amounts
    return tables


@dataclass
class Snapshot:
    """The sandbox truth and what the warehouse held at one moment."""

    truth: dict[str, list[dict[str, Any]]]
    deleted: list[dict[str, Any]]
    tables: Tables

    def check(self, stream: str, *, statuses: bool = True, amounts: bool = True) -> TableCheck:
        """Ids of `stream` against the truth, plus statuses and exact amounts unless told not."""
        truth = self.truth[stream]
        check = check_table(stream, self.tables.rows[stream], truth, self.deleted)
        if statuses:
            check_statuses(check, self.tables.statuses[stream], truth)
        if amounts and stream in AMOUNT_STREAMS:
            check_amounts(check, self.tables.amounts[stream], truth)
        return check


# -- DuckDB ---------------------------------------------------------------------------------------


def duckdb_target_env(path: Path, schema: str) -> dict[str, str]:
    """target-duckdb variables that load into `schema` of the DuckDB file `path`."""
    return {
        "TARGET_DUCKDB_FILEPATH": str(path),
        "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": schema,
    }


def read_duckdb(path: Path, schemas: Sequence[str]) -> Tables:
    """The truth streams' tables of a DuckDB file (amounts are DOUBLE there: cast to cents)."""
    import duckdb  # noqa: PLC0415 - only the DuckDB tests need it

    with duckdb.connect(str(path), read_only=True) as connection:
        return read_tables(
            lambda sql: connection.execute(sql).fetchall(),
            schemas,
            amount_sql="CAST(amount AS DECIMAL(18, 2))",
        )


# -- PostgreSQL -----------------------------------------------------------------------------------


def connect_postgres(dsn: str) -> Any:
    """An autocommit psycopg connection (5 s connect timeout)."""
    import psycopg  # noqa: PLC0415 - only when a server is configured

    return psycopg.connect(dsn, connect_timeout=5, autocommit=True)


def postgres_dsn_or_skip() -> str:
    """`TAP_MINDZPAY_TEST_POSTGRES_DSN` if set and answering; otherwise skip with the reason."""
    value = os.environ.get(POSTGRES_DSN_VARIABLE)
    if not value:
        pytest.skip(f"{POSTGRES_DSN_VARIABLE} is not set: no PostgreSQL server to load into")
    try:
        with connect_postgres(value) as connection:
            connection.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means skip
        host = urllib.parse.urlsplit(value).hostname
        pytest.skip(f"PostgreSQL from {POSTGRES_DSN_VARIABLE} (host {host}) is unreachable: {exc}")
    return value


def postgres_connection_env(dsn: str, prefix: str = "TARGET_POSTGRES") -> dict[str, str]:
    """`<prefix>_HOST`, `_PORT`, `_USER`, `_PASSWORD` and `_DATABASE` from a DSN."""
    parts = urllib.parse.urlsplit(dsn)
    return {
        f"{prefix}_HOST": parts.hostname or "127.0.0.1",
        f"{prefix}_PORT": str(parts.port or 5432),
        f"{prefix}_USER": urllib.parse.unquote(parts.username or ""),
        f"{prefix}_PASSWORD": urllib.parse.unquote(parts.password or ""),
        f"{prefix}_DATABASE": parts.path.lstrip("/"),
    }


def read_postgres(dsn: str, schemas: Sequence[str]) -> Tables:
    """The truth streams' tables of `schemas` in PostgreSQL (amounts are exact NUMERIC there)."""
    with connect_postgres(dsn) as connection:
        return read_tables(lambda sql: connection.execute(sql).fetchall(), schemas)


def drop_postgres_schemas(dsn: str, schemas: Iterable[str]) -> None:
    """Drop `schemas` and everything in them (a test's own schemas, at its end)."""
    with connect_postgres(dsn) as connection:
        for schema in schemas:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
