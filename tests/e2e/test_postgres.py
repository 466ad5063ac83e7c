"""`meltano run tap-mindzpay target-postgres` into a real PostgreSQL, compared with the truth.

The server is the session's `postgres_dsn`: `TAP_MINDZPAY_TEST_POSTGRES_DSN`
(`postgresql://user:pass@127.0.0.1:5432/db`) if set, else an embedded PostgreSQL 18 the tests start
themselves. Each run loads into its own schema, dropped afterwards. Two rounds as in the DuckDB
test: a full run, then an hour of simulated time and an incremental run, each compared whole row by
whole row with the truth; PostgreSQL keeps money as NUMERIC, compared exactly, and is read in a
session zone that is neither UTC nor the API's. The checks are `LoaderRoundsContract`'s.
"""

from __future__ import annotations

import uuid

import pytest
from helpers import SandboxProcess
from helpers.meltano import (
    IsolatedMeltano,
    LoaderRoundsContract,
    Pipeline,
    Rounds,
    full_then_incremental,
)
from helpers.services import postgres_target_env, require_loader
from helpers.warehouse import Tables, drop_postgres_schemas, read_postgres

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def rounds(postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Rounds:
    require_loader("target-postgres")
    dsn = postgres_dsn
    schema = f"mindzpay_e2e_{uuid.uuid4().hex[:8]}"
    workdir = tmp_path_factory.mktemp("postgres")

    def read() -> Tables:
        return read_postgres(dsn, [schema])

    try:
        with SandboxProcess.start(seed=23, accounts=3, invoices_per_account=150) as sandbox:
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
