"""`meltano run tap-mindzpay target-duckdb` against a sandbox process, compared with its truth.

Two rounds on a private frozen world: a full run, then `POST /_sandbox/advance?seconds=3600` and an
incremental run with the state Meltano saved. After each round every DuckDB table must hold exactly
the truth's ids (one row each; rows of records support deleted meanwhile are tolerated); after the
incremental one every status too, and every amount to the cent (DuckDB stores DOUBLE; cast to
DECIMAL(18,2) as docs/loaders.md advises). This is the test that catches target-duckdb 0.8.0
losing the first row of every batch with duckdb >= 1.3. The checks are `LoaderRoundsContract`'s.
"""

from __future__ import annotations

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
from helpers.warehouse import Tables, duckdb_target_env, read_duckdb

pytestmark = pytest.mark.e2e

SCHEMA = "mindzpay_e2e"


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> Rounds:
    skip_unless_installed("target-duckdb")
    workdir = tmp_path_factory.mktemp("duckdb")
    database = workdir / "warehouse.duckdb"
    with SandboxProcess.start(seed=11, accounts=3, invoices_per_account=150) as sandbox:
        meltano = IsolatedMeltano(
            workdir / "meltano",
            env={**sandbox.tap_env(), **duckdb_target_env(database, SCHEMA)},
        )

        def read() -> Tables:
            return read_duckdb(database, [SCHEMA])

        return full_then_incremental(meltano, sandbox, [Pipeline("target-duckdb")], read)


class TestDuckdbLoader(LoaderRoundsContract):
    """tap-mindzpay -> target-duckdb, one pipeline, every account."""
