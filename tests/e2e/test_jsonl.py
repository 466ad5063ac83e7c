"""tap-mindzpay as a process, piped into the real target-jsonl, compared with the sandbox truth."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import TRUTH_STREAMS, SandboxProcess, compare_with_truth, fold, sync_into_jsonl

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def landed(
    sandbox: SandboxProcess, target_jsonl: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    """One full sync of the shared sandbox through target-jsonl: records per stream file."""
    workdir = tmp_path_factory.mktemp("jsonl")
    return sync_into_jsonl(sandbox.tap_config(), target_jsonl, workdir).rows


def test_jsonl_files_are_only_catalog_streams(
    landed: dict[str, list[dict[str, Any]]], catalog_keys: dict[str, list[str]]
) -> None:
    assert set(TRUTH_STREAMS) <= set(landed), f"stream files written: {sorted(landed)}"
    assert set(landed) <= set(catalog_keys), f"files for unknown streams: {sorted(landed)}"


@pytest.mark.parametrize("stream", TRUTH_STREAMS)
def test_jsonl_records_equal_sandbox_truth_after_folding(
    stream: str,
    sandbox: SandboxProcess,
    landed: dict[str, list[dict[str, Any]]],
    catalog_keys: dict[str, list[str]],
) -> None:
    keys = catalog_keys[stream]
    truth = sandbox.truth(stream)
    assert truth, f"the sandbox truth of {stream} is empty; the world is too small to prove much"
    comparison = compare_with_truth(stream, fold(landed.get(stream, []), keys), truth, keys)
    assert comparison.ok, comparison.summary()
