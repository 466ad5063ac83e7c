"""`meltano run tap-mindzpay target-postgres` into a real PostgreSQL, compared with the truth.

The server comes from `TAP_MINDZPAY_TEST_POSTGRES_DSN` (`postgresql://user:pass@127.0.0.1:5432/db`,
set by `.ci/run`); without it, or when it does not answer, the test is skipped with the reason.
Each run loads into its own schema, dropped afterwards. Two rounds as in the DuckDB test: a full
run, then an hour of simulated time and an incremental run, each compared id by id with the truth;
PostgreSQL keeps money as NUMERIC, so amounts are compared exactly with no cast. The checks are
`LoaderRoundsContract`'s.
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
    skip_unless_installed,
)
from helpers.warehouse import (
    Tables,
    drop_postgres_schemas,
    postgres_connection_env,
    postgres_dsn_or_skip,
    read_postgres,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dsn() -> str:
    return postgres_dsn_or_skip()


@pytest.fixture(scope="module")
def rounds(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Rounds:
    skip_unless_installed("target-postgres")
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
                    **postgres_connection_env(dsn),
                    "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
                },
            )
            return full_then_incremental(meltano, sandbox, [Pipeline("target-postgres")], read)
    finally:
        drop_postgres_schemas(dsn, [schema])


class TestPostgresLoader(LoaderRoundsContract):
    """tap-mindzpay -> target-postgres, one pipeline, every account."""
