"""`meltano run tap-mindzpay target-postgres` into a real PostgreSQL, compared with the truth.

The server is the session's `postgres_dsn`: `TAP_MINDZPAY_TEST_POSTGRES_DSN`
(`postgresql://user:pass@127.0.0.1:5432/db`) if set, else an embedded PostgreSQL 18 the tests start
themselves. Each run loads into its own schema, dropped afterwards. Two rounds as in the DuckDB
test: a full run, then an hour of simulated time and an incremental run, each compared whole row by
whole row with the truth; PostgreSQL keeps money as NUMERIC, compared exactly, and is read in a
session zone that is neither UTC nor the API's. The checks are `LoaderRoundsContract`'s.

With the setting `money_as_string` the tap sends money as strings with `"format":
"x-singer.decimal"`; a separate full run proves target-postgres still makes those columns NUMERIC
holding the API's exact decimal (scale included).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from helpers import SandboxProcess
from helpers.meltano import (
    MELTANO_WORKER,
    IsolatedMeltano,
    LoaderRoundsContract,
    Pipeline,
    Round,
    Rounds,
    full_then_incremental,
    run_round,
)
from helpers.services import connect_postgres, postgres_target_env, require_loader
from helpers.streams import ACCOUNT_STREAMS, STREAM_SCHEMAS
from helpers.warehouse import Tables, drop_postgres_schemas, read_postgres

from tap_mindzpay.schemas import money_fields

pytestmark = [pytest.mark.e2e, MELTANO_WORKER]


@pytest.fixture(scope="module")
def rounds(postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Rounds:
    require_loader("target-postgres")
    dsn = postgres_dsn
    schema = f"mindzpay_e2e_{uuid.uuid4().hex[:8]}"
    workdir = tmp_path_factory.mktemp("postgres")

    def read() -> Tables:
        return read_postgres(dsn, [schema])

    try:
        with SandboxProcess.start(seed=21, accounts=3, invoices_per_account=150) as sandbox:
            meltano = IsolatedMeltano(
                workdir / "meltano",
                env={
                    **sandbox.tap_env(),
                    **postgres_target_env(dsn),
                    "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
                },
            )
            return full_then_incremental(meltano, sandbox, [Pipeline("target-postgres")], read)
    finally:
        drop_postgres_schemas(dsn, [schema])


class TestPostgresLoader(LoaderRoundsContract):
    """tap-mindzpay -> target-postgres, one pipeline, every account."""


#: The money columns of the MindzPay lists, as their schemas declare them.
MONEY_COLUMNS = {s: money_fields(STREAM_SCHEMAS[s]) for s in ACCOUNT_STREAMS}


@pytest.fixture(scope="module")
def money_as_string_round(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Round, dict[tuple[str, str], str]]:
    """One full `meltano run` with `money_as_string: true`; the round and the money column types."""
    require_loader("target-postgres")
    dsn = postgres_dsn
    schema = f"mindzpay_money_{uuid.uuid4().hex[:8]}"
    workdir = tmp_path_factory.mktemp("postgres-money")
    try:
        with SandboxProcess.start(seed=29, accounts=2, invoices_per_account=120) as sandbox:
            meltano = IsolatedMeltano(
                workdir / "meltano",
                env={
                    **sandbox.tap_env(),
                    "TAP_MINDZPAY_MONEY_AS_STRING": "true",
                    **postgres_target_env(dsn),
                    "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
                },
            )
            run = run_round(
                meltano,
                sandbox,
                [Pipeline("target-postgres")],
                lambda: read_postgres(dsn, [schema]),
            )
        with connect_postgres(dsn) as connection:
            types = {
                (table, column): f"{data_type}({precision},{scale})"
                for table, column, data_type, precision, scale in connection.execute(
                    "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
                    "FROM information_schema.columns WHERE table_schema = %s",
                    [schema],
                ).fetchall()
            }
        return run, types
    finally:
        drop_postgres_schemas(dsn, [schema])


def test_money_as_string_is_sent_as_x_singer_decimal_strings(
    money_as_string_round: tuple[Round, dict[tuple[str, str], str]],
) -> None:
    run, _ = money_as_string_round
    for stream, columns in MONEY_COLUMNS.items():
        records = run.sent[stream]
        assert records, stream
        for column in columns:
            values = [r[column] for r in records if r.get(column) is not None]
            assert values, (stream, column)
            assert all(type(v) is str for v in values), (stream, column, values[:5])


@pytest.mark.parametrize("stream", list(MONEY_COLUMNS))
def test_money_as_string_lands_in_numeric_columns_with_the_exact_value(
    stream: str, money_as_string_round: tuple[Round, dict[tuple[str, str], str]]
) -> None:
    run, types = money_as_string_round
    for column in MONEY_COLUMNS[stream]:
        # NUMERIC with no precision or scale: every decimal exact, not a float, not text.
        assert types[stream, column] == "numeric(None,None)", (
            stream,
            column,
            types[stream, column],
        )
    check = run.check(stream)
    assert check.compared == len(run.truth[stream]) > 0, check.summary()
    assert check.ok, check.summary()
    for column in MONEY_COLUMNS[stream]:
        landed = {r["id"]: r[column] for r in run.snapshot.tables.records[stream]}
        for row in run.truth[stream]:
            if row[column] is not None:
                # Exactly the API's decimal, scale included ("10.50" stays 10.50, not 10.5).
                assert landed[row["id"]] == Decimal(row[column]), (stream, row["id"])
                assert str(landed[row["id"]]) == row[column], (stream, row["id"])
