"""Pipe hand-written Singer messages with money columns into each installed loader.

Shows, for every candidate JSON schema of a money field, whether the loader accepts the records
and which column type and values it stores. The findings are written up in docs/loaders.md.

Run after `meltano install`:  .venv/bin/python scripts/probe_money_types.py
PostgreSQL is probed only when TAP_MINDZPAY_TEST_POSTGRES_DSN is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOADERS = ROOT / ".meltano" / "loaders"
# Values that a float cannot hold exactly, a trailing zero, and a large amount.
VALUES = ["1234.50", "0.10", "0.07", "99999999999.99", "19.99"]

CANDIDATES: dict[str, tuple[dict[str, Any], bool]] = {
    # name: (schema of the `amount` property, whether the value is sent as a JSON string)
    "number": ({"type": ["number", "null"]}, False),
    "number+multipleOf": ({"type": ["number", "null"], "multipleOf": 0.01}, False),
    "number, value as string": ({"type": ["number", "null"]}, True),
    "string": ({"type": ["string", "null"]}, True),
    "string+format decimal": ({"type": ["string", "null"], "format": "decimal"}, True),
    "string+x-singer.decimal": (
        {"type": ["string", "null"], "format": "x-singer.decimal"},
        True,
    ),
    "string+x-singer.decimal(18,2)": (
        {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 18, "scale": 2},
        True,
    ),
}


def messages(stream: str, schema: dict[str, Any], *, as_string: bool) -> str:
    """Return SCHEMA + RECORD lines, the money written as raw JSON text (no float round-trip)."""
    lines = [
        json.dumps(
            {
                "type": "SCHEMA",
                "stream": stream,
                "key_properties": ["id"],
                "schema": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "amount": schema},
                },
            }
        )
    ]
    for number, value in enumerate(VALUES, start=1):
        money = json.dumps(value) if as_string else value
        lines.append(
            f'{{"type": "RECORD", "stream": "{stream}", "record": {{"id": {number}, '
            f'"amount": {money}}}}}'
        )
    return "\n".join(lines) + "\n"


def run_target(name: str, config: dict[str, Any], stdin: str) -> tuple[bool, str]:
    """Run one loader from its Meltano venv; return (succeeded, last stderr line)."""
    executable = LOADERS / name / "venv" / "bin" / name
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    result = subprocess.run(
        [str(executable), "--config", handle.name],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    Path(handle.name).unlink()
    errors = [line for line in result.stderr.splitlines() if "rror" in line]
    return result.returncode == 0, (errors[-1] if errors else "")[-160:]


def probe_duckdb(workdir: Path) -> None:
    """Load every candidate into DuckDB and print the column type and stored values."""
    import duckdb  # noqa: PLC0415 - test dependency, only needed here

    path = workdir / "money.duckdb"
    for index, (label, (schema, as_string)) in enumerate(CANDIDATES.items()):
        stream = f"c{index}"
        config = {"filepath": str(path), "default_target_schema": "probe", "validate_records": True}
        ok, error = run_target(
            "target-duckdb", config, messages(stream, schema, as_string=as_string)
        )
        if not ok:
            print(f"duckdb   | {label:32} | FAILED: {error}")
            continue
        with duckdb.connect(str(path), read_only=True) as con:
            kind = con.execute(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_schema = 'probe' AND table_name = ? AND column_name = 'amount'",
                [stream],
            ).fetchone()
            rows = con.execute(f"SELECT amount FROM probe.{stream} ORDER BY id").fetchall()  # noqa: S608
        print(f"duckdb   | {label:32} | {kind[0] if kind else '?':10} | {[r[0] for r in rows]}")


def probe_postgres(dsn: str) -> None:
    """Load every candidate into PostgreSQL and print the column type and stored values."""
    import psycopg  # noqa: PLC0415 - test dependency, only needed here

    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    for index, (label, (schema, as_string)) in enumerate(CANDIDATES.items()):
        stream = f"c{index}"
        config = {"sqlalchemy_url": url, "default_target_schema": "probe"}
        ok, error = run_target(
            "target-postgres", config, messages(stream, schema, as_string=as_string)
        )
        if not ok:
            print(f"postgres | {label:32} | FAILED: {error}")
            continue
        with psycopg.connect(dsn) as con:
            kind = con.execute(
                "SELECT data_type, numeric_precision, numeric_scale "
                "FROM information_schema.columns WHERE table_schema = 'probe' "
                "AND table_name = %s AND column_name = 'amount'",
                [stream],
            ).fetchone()
            rows = con.execute(f"SELECT amount::text FROM probe.{stream} ORDER BY id").fetchall()  # noqa: S608
            con.execute(f"DROP TABLE probe.{stream}")
        print(f"postgres | {label:32} | {kind} | {[r[0] for r in rows]}")


def probe_jsonl(workdir: Path) -> None:
    """Load every candidate into JSONL files and print the stored text."""
    for index, (label, (schema, as_string)) in enumerate(CANDIDATES.items()):
        stream = f"c{index}"
        config = {"destination_path": str(workdir), "do_timestamp_file": False}
        ok, error = run_target(
            "target-jsonl", config, messages(stream, schema, as_string=as_string)
        )
        if not ok:
            print(f"jsonl    | {label:32} | FAILED: {error}")
            continue
        text = (workdir / f"{stream}.jsonl").read_text(encoding="utf-8").splitlines()
        print(f"jsonl    | {label:32} | {[line.split(': ', 2)[-1][:-1] for line in text]}")


def main() -> int:
    """Probe every installed loader."""
    if not LOADERS.is_dir():
        print("run `meltano install` first", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        probe_duckdb(workdir)
        probe_jsonl(workdir)
    dsn = os.environ.get("TAP_MINDZPAY_TEST_POSTGRES_DSN")
    if dsn:
        probe_postgres(dsn)
    else:
        print("postgres | skipped: TAP_MINDZPAY_TEST_POSTGRES_DSN is not set")
    return 0


if __name__ == "__main__":
    sys.exit(main())
