"""The dbt package parses with Snowflake and BigQuery profiles (no warehouse connection).

`dbt parse` with the adapter installed (the dbt-parse utility of meltano.yml) renders every
model's and test's Jinja, resolving each `adapter.dispatch` macro for that adapter, and validates
the YAML. Compiling or building needs a connection (dbt asks the warehouse whether incremental
tables exist), which a test here cannot have; DuckDB and PostgreSQL are built in test_dbt.py.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest
from helpers.processes import PROJECT_ROOT, child_env, meltano_plugin_executable
from helpers.services import require_plugins

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

TRANSFORM = PROJECT_ROOT / "transform"


@pytest.mark.parametrize("warehouse", ["snowflake", "bigquery"])
def test_package_parses_with_the_warehouse_profile(warehouse: str, tmp_path: Path) -> None:
    require_plugins(("utilities", "dbt-parse", "dbt"))
    dbt = meltano_plugin_executable("utilities", "dbt-parse", "dbt")
    assert dbt is not None
    completed = subprocess.run(
        [
            str(dbt),
            "parse",
            *("--project-dir", str(TRANSFORM)),
            *("--profiles-dir", str(TRANSFORM / "profiles" / warehouse)),
            *("--target-path", str(tmp_path / "target")),
            *("--log-path", str(tmp_path / "logs")),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=child_env({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}),
        timeout=600,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert f"Registered adapter: {warehouse}" in output, output[-4000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["metadata"]["adapter_type"] == warehouse
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert models == {path.stem for path in (TRANSFORM / "models").rglob("*.sql")}
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    assert len(tests) >= 150, len(tests)
