"""Where a real MindzPay differs from the contract, the run still ends, and says what it met.

`tap-mindzpay` runs as a process against one small sandbox process whose fault switches model a
platform that differs: `reset_header_epoch` (the rate-limit reset sent as a Unix time, under a
rate limit small enough that the tap must wait for it), `forbidden_resources` (a credential
without permission on some platform resources) and `poison_invoices` (invoices whose Refresh
and Get always answer 500). Each run's output is compared with the sandbox's truth on whole
rows, and its summary with what happened.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

import pytest
from helpers import SandboxProcess, compare_with_truth, fold_messages, run_tap
from helpers.streams import PLATFORM_STREAMS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from helpers import TapRun

pytestmark = pytest.mark.e2e

#: Invoice statuses in flight (the ones a run refreshes).
IN_FLIGHT = {0, 1, 4}


@pytest.fixture(scope="module")
def world() -> Iterator[SandboxProcess]:
    """A small frozen world; each test sets its faults and clears them."""
    with SandboxProcess.start(seed=5, accounts=2, invoices_per_account=40) as sandbox:
        yield sandbox


@pytest.fixture
def faults(world: SandboxProcess) -> Iterator[Any]:
    def switch(**switches: Any) -> None:
        world.admin("POST", "/_sandbox/faults", body={"seed": 1, **switches})
        world.reset_stats()

    yield switch
    world.admin("POST", "/_sandbox/faults", body={})


def warnings(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "| WARNING " in line]


def run_summary(run: TapRun) -> str:
    lines = [line for line in run.stderr.splitlines() if "Run completed in " in line]
    assert len(lines) == 1, run.stderr[-3000:]
    return lines[0]


def assert_equals_truth(world: SandboxProcess, run: TapRun, streams: tuple[str, ...]) -> None:
    folded = fold_messages(run.messages)
    for stream in streams:
        comparison = compare_with_truth(stream, folded.get(stream, {}), world.truth(stream))
        assert comparison.ok, comparison.summary()


def test_epoch_rate_limit_reset_is_waited_for_as_a_moment_and_the_sync_completes(
    tmp_path: Path,
) -> None:
    # 10 requests per 1 s window: a full sync needs many windows, so the tap waits for the
    # reset the header announces. Read as seconds, that epoch would be a wait of 56 years;
    # not waited for at all, the sandbox would answer 429s.
    with SandboxProcess.start(
        seed=5,
        accounts=2,
        invoices_per_account=40,
        extra_args=(
            "--rate-limit",
            "40",
            "--rate-window",
            "2",
            "--faults",
            '{"reset_header_epoch": 1}',
        ),
    ) as sandbox:
        run = run_tap(sandbox.tap_config(page_size=10), workdir=tmp_path, timeout=300).check()
        requests = sandbox.stats()["requests"]
        assert sum(sum(by_status.values()) for by_status in requests.values()) > 3 * 10
        assert not [key for key, by_status in requests.items() if "429" in by_status], requests
        assert_equals_truth(sandbox, run, ("accounts", "payments", *PLATFORM_STREAMS))
    assert not [line for line in warnings(run) if "X-RateLimit-Reset" in line]


def test_platform_streams_refused_with_403_are_skipped_and_the_rest_syncs(
    world: SandboxProcess, faults: Any, tmp_path: Path
) -> None:
    faults(forbidden_resources="users,plans")
    run = run_tap(world.tap_config(), workdir=tmp_path, timeout=180).check()
    skipped = [line for line in warnings(run) if "Skipping stream " in line]
    assert len(skipped) == 2, warnings(run)
    for stream in ("users", "plans"):
        (line,) = [line for line in skipped if f"Skipping stream {stream}: " in line]
        assert f"MindzPay denied GET /{stream} (stream {stream}; HTTP 403, forbidden: " in line
        assert "under Configurações > API (per-resource permissions)" in line
        assert f"or deselect the stream {stream}" in line
        assert run.records(stream) == []
    assert "; skipped streams (HTTP 403): plans, users" in run_summary(run)
    readable = ("accounts", "invoices", "payments", "courses", "bundles", "enrollments")
    assert_equals_truth(world, run, readable)


def test_a_run_whose_every_selected_stream_is_refused_fails_with_one_line(
    world: SandboxProcess, faults: Any, discovered_catalog: dict[str, Any], tmp_path: Path
) -> None:
    catalog = copy.deepcopy(discovered_catalog)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = entry["tap_stream_id"] in {"users", "plans"}
    faults(forbidden_resources="users,plans")
    run = run_tap(world.tap_config(), catalog=catalog, workdir=tmp_path, timeout=120)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "| ERROR " in line]
    assert "No selected stream could be read: MindzPay denied GET /plans " in errors[0]
    assert run.records() == []


def test_a_404_on_a_platform_list_still_stops_the_run(
    world: SandboxProcess, faults: Any, tmp_path: Path
) -> None:
    faults()
    # Every API path moves under /missing (the token endpoint stays): the lists answer 404.
    config = world.tap_config(
        api_url=world.api_url + "/missing", token_url=world.api_url + "/oauth/token"
    )
    run = run_tap(config, workdir=tmp_path, timeout=120)
    assert run.returncode != 0
    assert "with HTTP 404, not_found: No route GET /missing/" in run.stderr


def test_an_invoice_whose_refresh_always_fails_is_deferred_and_refreshed_next_run(
    world: SandboxProcess, faults: Any, tmp_path: Path
) -> None:
    # Being issued (1), the provider not yet decided: refreshed by every sync, unlike an
    # invoice at 0 that waits on its payment and may be left for a later sync by the schedule.
    world.admin("POST", "/_sandbox/in_flight", params={"count": 6, "decided": 0})
    moving = sorted(r["id"] for r in world.truth("invoices") if r["status"] in {1, 4})
    assert len(moving) >= 3, moving  # two to poison, one to refresh
    poison = [moving[0], moving[-1]]
    faults(poison_invoices=",".join(map(str, poison)))
    first = run_tap(world.tap_config(max_retries=1), workdir=tmp_path / "first", timeout=180)
    first.check()
    for invoice_id in poison:
        lines = [line for line in warnings(first) if f": id {invoice_id} still fails" in line]
        assert len(lines) == 1, warnings(first)
        assert "(last: HTTP 500); deferred: it stays in the state and is tried again" in lines[0]
    assert "; deferred ids 2" in run_summary(first)
    refreshed = {r["invoice_id"] for r in world.stats()["refreshes"]}
    assert refreshed
    assert not refreshed & set(poison)
    # Everything else landed as the API has it.
    folded = fold_messages(first.messages)
    others = {k: r for k, r in folded["invoices"].items() if k[0] not in poison}
    truth = [r for r in world.truth("invoices") if r["id"] not in poison]
    comparison = compare_with_truth("invoices", others, truth)
    assert comparison.ok, comparison.summary()

    # The platform answers again: the next run refreshes exactly the deferred ids it kept.
    faults()
    second = run_tap(
        world.tap_config(max_retries=1),
        state=first.final_state,
        workdir=tmp_path / "second",
        timeout=180,
    ).check()
    refreshed = {r["invoice_id"] for r in world.stats()["refreshes"]}
    assert set(poison) <= refreshed
    folded = fold_messages([*first.messages, *second.messages])
    comparison = compare_with_truth("invoices", folded["invoices"], world.truth("invoices"))
    assert comparison.ok, comparison.summary()
    assert "deferred" not in run_summary(second)


def test_a_platform_bookmark_after_the_newest_record_gets_one_warning(
    world: SandboxProcess, faults: Any, discovered_catalog: dict[str, Any], tmp_path: Path
) -> None:
    faults()
    catalog = copy.deepcopy(discovered_catalog)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = entry["tap_stream_id"] == "courses"
    future = "2099-01-01T00:00:00-03:00"
    state = {
        "bookmarks": {"courses": {"replication_key": "updated_at", "replication_key_value": future}}
    }
    run = run_tap(world.tap_config(), state=state, catalog=catalog, workdir=tmp_path).check()
    lines = [line for line in warnings(run) if "The bookmark of stream courses" in line]
    assert len(lines) == 1, warnings(run)
    newest = max(r["updated_at"] for r in world.truth("courses"))
    assert "(updated_at 2099-01-01T00:00:00-03:00) is after the newest record" in lines[0]
    assert f"the API returned ({newest})" in lines[0]


def test_an_invoices_bookmark_after_every_id_gets_one_warning_naming_its_account(
    world: SandboxProcess, faults: Any, tmp_path: Path
) -> None:
    faults()
    account = min(world.truth("accounts"), key=lambda a: a["id"])
    far = 10**12
    assert far > max(r["id"] for r in world.truth("invoices"))
    partition = {
        "context": {"account_id": account["id"], "account_key": account["key"]},
        "replication_key": "id",
        "replication_key_value": far,
    }
    state = {"bookmarks": {"invoices": {"partitions": [partition]}}}
    run = run_tap(world.tap_config(), state=state, workdir=tmp_path).check()
    lines = [line for line in warnings(run) if "The bookmark of stream " in line]
    assert len(lines) == 1, warnings(run)
    assert f"stream invoices, account {account['key']} (id {far}) is after the newest" in lines[0]
    listed = re.search(r"the API listed \(id (\d+)\)", lines[0])
    assert listed is not None, lines[0]
    assert int(listed[1]) in {r["id"] for r in world.truth("invoices")}
