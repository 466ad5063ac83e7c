"""`meltano run tap-mindzpay target-duckdb` against a sandbox process, compared with its truth.

Two rounds on a private frozen world: a full run, then `POST /_sandbox/advance?seconds=3600` and an
incremental run with the state Meltano saved. After each round every DuckDB table must hold exactly
the truth's rows (one per id; rows of records support deleted meanwhile are kept, marked
`_sdc_deleted_at`), every column equal to the truth's value (DuckDB stores money as DOUBLE, which
must round-trip to the API's two-decimal amount, and timestamps as UTC TIMESTAMP), and
`invoice_status_changes` equal to what the tap sent. This is the test that catches target-duckdb
0.8.0 losing the first row of every batch with duckdb >= 1.3. The checks are
`LoaderRoundsContract`'s.
"""

from __future__ import annotations

import pytest
from helpers import SandboxProcess
from helpers.meltano import (
    MELTANO_WORKER,
    IsolatedMeltano,
    LoaderRoundsContract,
    Pipeline,
    Rounds,
    full_then_incremental,
)
from helpers.services import require_loader
from helpers.warehouse import Tables, duckdb_target_env, read_duckdb

pytestmark = [pytest.mark.e2e, MELTANO_WORKER]

SCHEMA = "mindzpay_e2e"


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> Rounds:
    require_loader("target-duckdb")
    workdir = tmp_path_factory.mktemp("duckdb")
    database = workdir / "warehouse.duckdb"
    with SandboxProcess.start(seed=12, accounts=3, invoices_per_account=150) as sandbox:
        meltano = IsolatedMeltano(
            workdir / "meltano",
            env={**sandbox.tap_env(), **duckdb_target_env(database, SCHEMA)},
        )

        def read() -> Tables:
            return read_duckdb(database, [SCHEMA])

        return full_then_incremental(meltano, sandbox, [Pipeline("target-duckdb")], read)


class TestDuckdbLoader(LoaderRoundsContract):
    """tap-mindzpay -> target-duckdb, one pipeline, every account."""
