"""The Mindz platform streams: links that resolve, personal data left out by default, few requests.

`tap-mindzpay` runs as a process against sandbox processes. The links test syncs one private
world in full, moves its clock twice and syncs incrementally each time (the state of the run
before); after each run, what the runs sent, folded by id, must hold a target for every link
(`LINKS`: a user for every `client_id` of invoices and payments, a plan for every
subscription's `plan_id`, a payment for every enrollment's `payment_id`, a course for every
grade, a grade for every lesson, ...), and every platform stream, nested ones included, must
equal the truth on whole rows (users removed on an LGPD request, and lessons, teachers,
contacts and campaign targets removed from their lists, marked `_sdc_deleted_at`). The last
incremental run has no sweep due: it must read each platform-wide list with a handful of
requests, a parent of nested lists in full (a page per `PAGE_SIZE` parents), and each nested
list with one request per parent. With the sweep due, a nested list whose first page holds it
whole is swept from that page: one list request per parent there too.

The personal-data tests run on the shared frozen sandbox: a default sync leaves the users'
personal data out of the SCHEMA and every RECORD, so does a catalog that selects it (with one
line saying so), `include_personal_data` gets what it names equal to the truth, and the
README's stream map hashes `email`.
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from helpers import SandboxProcess, compare_with_truth, fold_messages, run_tap
from helpers.sandbox import MAY_BE_EMPTY
from helpers.streams import LIST_TEMPLATES, PARENTS, PLATFORM_STREAMS

from tap_mindzpay.streams import STREAM_TYPES

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import TapRun

pytestmark = pytest.mark.e2e

#: The users' personal data under the LGPD, as the contract names it.
PERSONAL = (
    *("cpf_cnpj", "phone", "birth_date"),
    *("zip_code", "street", "house_number", "complement", "district"),
)
#: The contacts' personal data, declared as the users' are.
CONTACT_PERSONAL = ("email", "first_name", "last_name")
#: Every link between synced records: (stream, field, target stream).
LINKS = (
    ("invoices", "client_id", "users"),
    ("payments", "client_id", "users"),
    ("subscriptions", "plan_id", "plans"),
    ("enrollments", "payment_id", "payments"),
    ("course_grades", "course_id", "courses"),
    ("course_grade_details", "grade_id", "course_grades"),
    ("course_grade_details", "course_id", "courses"),
    ("course_teachers", "course_id", "courses"),
    ("course_teachers", "user_id", "users"),
    ("teams", "user_id", "users"),
    ("emails", "email_list_id", "email_lists"),
    ("emails", "user_id", "users"),
    ("email_campaign_courses", "email_campaign_id", "email_campaigns"),
    ("email_campaign_courses", "course_id", "courses"),
    ("email_campaign_plans", "plan_id", "plans"),
    ("email_campaign_lists", "email_list_id", "email_lists"),
    ("email_campaign_excluded_courses", "course_id", "courses"),
    ("email_campaign_excluded_plans", "plan_id", "plans"),
    ("email_campaign_excluded_lists", "email_list_id", "email_lists"),
)
#: Small pages, so that a full sync of the platform lists takes several requests each.
PAGE_SIZE = 10
#: Requests an incremental run with no sweep due may make per platform list.
HANDFUL = 3


def _folded(runs: list[TapRun]) -> dict[str, dict[Any, dict[str, Any]]]:
    return fold_messages([message for run in runs for message in run.messages])


def _live_ids(folded: dict[str, dict[Any, dict[str, Any]]], stream: str) -> set[int]:
    return {k[0] for k, r in folded.get(stream, {}).items() if not r.get("_sdc_deleted_at")}


def _broken_links(folded: dict[str, dict[Any, dict[str, Any]]]) -> dict[str, list[Any]]:
    """Links that name no landed record: `stream.field` -> the values, and how many resolved."""
    broken: dict[str, list[Any]] = {}
    for stream, field, target in LINKS:
        targets = _live_ids(folded, target)
        values = [
            r[field]
            for r in folded.get(stream, {}).values()
            if not r.get("_sdc_deleted_at") and r.get(field) is not None
        ]
        assert values or stream in MAY_BE_EMPTY, f"no {stream}.{field} landed: nothing proven"
        broken[f"{stream}.{field}"] = sorted({v for v in values if v not in targets})
    return {link: values for link, values in broken.items() if values}


def _platform_requests(sandbox: SandboxProcess) -> dict[str, int]:
    requests = sandbox.stats()["requests"]
    return {s: sum(requests.get(LIST_TEMPLATES[s], {}).values()) for s in PLATFORM_STREAMS}


def _quiet_run_requests_within_bounds(sandbox: SandboxProcess, requests: dict[str, int]) -> None:
    """Nothing swept: a handful per list, a parent's whole list, one request per parent."""
    parents = set(PARENTS.values())
    for stream, count in requests.items():
        live = len(sandbox.truth(stream))
        if stream in PARENTS:
            expected = len(sandbox.truth(PARENTS[stream]))
            assert count == expected, (stream, count, expected)
        elif stream in parents:
            assert 0 < count <= live // PAGE_SIZE + 2, (stream, count, live)
        else:
            assert 0 < count <= HANDFUL, (stream, count)


def _swept_nested_lists_cost_one_request_per_parent(
    sandbox: SandboxProcess, requests: dict[str, int]
) -> None:
    """A nested list that fits one page is swept from its newest-first read's page."""
    types = {t.name: t for t in STREAM_TYPES}
    checked = []
    for stream, parent in PARENTS.items():
        field = next(key for key, value in types[parent].child_context.items() if value == "id")
        sizes = Counter(record[field] for record in sandbox.truth(stream))
        if max(sizes.values(), default=0) <= PAGE_SIZE:
            parents = len(sandbox.truth(parent))
            assert requests[stream] == parents, (stream, requests[stream], parents)
            checked.append(stream)
    assert len(checked) >= len(PARENTS) // 2, f"few nested lists fit one page: {checked}"


def _check_platform_against_truth(
    sandbox: SandboxProcess, folded: dict[str, dict[Any, dict[str, Any]]]
) -> None:
    deleted = {s: {d["id"] for d in sandbox.deleted(s)} for s in PLATFORM_STREAMS}
    for stream in PLATFORM_STREAMS:
        records = folded.get(stream, {})
        live = {k: r for k, r in records.items() if not r.get("_sdc_deleted_at")}
        comparison = compare_with_truth(stream, live, sandbox.truth(stream))
        assert comparison.ok, comparison.summary()
        marked = {k[0] for k, r in records.items() if r.get("_sdc_deleted_at")}
        assert marked == deleted[stream] & {k[0] for k in records}, (stream, marked)


def test_links_resolve_and_platform_streams_equal_truth_after_full_and_incremental_syncs(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    world = sandbox_factory(seed=7, accounts=3, invoices_per_account=200)
    swept = world.tap_config(page_size=PAGE_SIZE, sweep_interval_hours=0)
    world.reset_stats()
    runs = [run_tap(swept, workdir=tmp_path / "full").check()]
    full_requests = _platform_requests(world)
    folded = _folded(runs)
    assert not _broken_links(folded), _broken_links(folded)
    _check_platform_against_truth(world, folded)

    applied = world.advance(12 * 3600)
    assert applied["applied"].get("lgpd_delete"), f"no user removed in 12 hours: {applied}"
    assert applied["applied"].get("profile_edit"), applied
    removed = ("lesson_removed", "contact_removed")
    assert all(applied["applied"].get(kind) for kind in removed), applied
    world.reset_stats()
    runs.append(run_tap(swept, state=runs[-1].final_state, workdir=tmp_path / "second").check())
    _swept_nested_lists_cost_one_request_per_parent(world, _platform_requests(world))
    folded = _folded(runs)
    assert not _broken_links(folded), _broken_links(folded)
    _check_platform_against_truth(world, folded)
    assert _live_ids(folded, "users") == {r["id"] for r in world.truth("users")}

    # No sweep due (the default interval): only what changed since the bookmark is read.
    applied = world.advance(3600)
    world.reset_stats()
    quiet = world.tap_config(page_size=PAGE_SIZE)
    runs.append(run_tap(quiet, state=runs[-1].final_state, workdir=tmp_path / "third").check())
    _quiet_run_requests_within_bounds(world, _platform_requests(world))
    assert full_requests["users"] >= 2 * HANDFUL, full_requests
    folded = _folded(runs)
    assert not _broken_links(folded), _broken_links(folded)
    for stream in PLATFORM_STREAMS:
        # Removed since the last sweep: still live downstream until the next sweep marks them.
        removed_now = {d["id"] for d in world.deleted(stream)} - {
            k[0] for k, r in folded.get(stream, {}).items() if r.get("_sdc_deleted_at")
        }
        live = {
            k: r
            for k, r in folded.get(stream, {}).items()
            if not r.get("_sdc_deleted_at") and k[0] not in removed_now
        }
        comparison = compare_with_truth(stream, live, world.truth(stream))
        assert comparison.ok, comparison.summary()


# -- personal data ---------------------------------------------------------------------------


def _users_only(catalog: dict[str, Any], *, personal: bool) -> dict[str, Any]:
    """The discovered catalog with only `users` selected, its personal data too if asked."""
    chosen = copy.deepcopy(catalog)
    for entry in chosen["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = entry["tap_stream_id"] == "users"
            elif personal and item["breadcrumb"][-1] in PERSONAL:
                item["metadata"]["selected"] = True
    return chosen


def test_discovery_marks_exactly_the_personal_data_not_selected_by_default(
    discovered_catalog: dict[str, Any],
) -> None:
    by_default = {
        (entry["tap_stream_id"], item["breadcrumb"][-1]): item["metadata"].get(
            "selected-by-default", True
        )
        for entry in discovered_catalog["streams"]
        for item in entry["metadata"]
        if item["breadcrumb"]
    }
    unselected = sorted((stream, name) for (stream, name), on in by_default.items() if not on)
    expected = [("users", name) for name in PERSONAL] + [("emails", n) for n in CONTACT_PERSONAL]
    assert unselected == sorted(expected)


def test_default_sync_leaves_personal_data_out_of_schema_and_records(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    run = run_tap(sandbox.tap_config(), workdir=tmp_path).check()
    properties = run.schemas()["users"]["schema"]["properties"]
    assert not set(PERSONAL) & set(properties), sorted(properties)
    assert {"email", "first_name", "city", "state", "person_type"} <= set(properties)
    records = run.records("users")
    assert records, "no users synced"
    assert all(not set(PERSONAL) & set(record) for record in records)
    folded = fold_messages(run.messages).get("users", {})
    comparison = compare_with_truth("users", folded, sandbox.truth("users"), unselected=PERSONAL)
    assert comparison.ok, comparison.summary()


def test_catalog_selecting_personal_data_without_the_setting_gets_none_and_one_line(
    sandbox: SandboxProcess, discovered_catalog: dict[str, Any], tmp_path: Path
) -> None:
    """Meltano's default `*.*` selects every property: a catalog's selection is not consent."""
    catalog = _users_only(discovered_catalog, personal=True)
    run = run_tap(sandbox.tap_config(), catalog=catalog, workdir=tmp_path).check()
    assert run.streams() == {"users"}
    assert not set(PERSONAL) & set(run.schemas()["users"]["schema"]["properties"])
    assert all(not set(PERSONAL) & set(record) for record in run.records("users"))
    folded = fold_messages(run.messages)["users"]
    comparison = compare_with_truth("users", folded, sandbox.truth("users"), unselected=PERSONAL)
    assert comparison.ok, comparison.summary()
    told = [line for line in run.stderr.splitlines() if "Personal data (LGPD) left out" in line]
    assert len(told) == 1, run.stderr[-3000:]
    assert "users.cpf_cnpj" in told[0]
    assert "include_personal_data" in told[0]


@pytest.mark.parametrize(
    ("setting", "emitted"),
    [
        (True, PERSONAL),
        ("true", PERSONAL),  # what an inline Meltano definition (no kinds) passes
        (["users.cpf_cnpj", "phone"], ("cpf_cnpj", "phone")),
    ],
    ids=["true", "text-true", "list"],
)
def test_include_personal_data_emits_what_it_names_equal_to_truth(
    setting: object,
    emitted: tuple[str, ...],
    sandbox: SandboxProcess,
    discovered_catalog: dict[str, Any],
    tmp_path: Path,
) -> None:
    catalog = _users_only(discovered_catalog, personal=True)
    config = sandbox.tap_config(include_personal_data=setting)
    run = run_tap(config, catalog=catalog, workdir=tmp_path).check()
    properties = set(run.schemas()["users"]["schema"]["properties"])
    assert set(PERSONAL) & properties == set(emitted)
    folded = fold_messages(run.messages)["users"]
    truth = sandbox.truth("users")
    assert any(row["cpf_cnpj"] for row in truth)
    left_out = tuple(name for name in PERSONAL if name not in emitted)
    comparison = compare_with_truth("users", folded, truth, unselected=left_out)
    assert comparison.ok, comparison.summary()


def test_include_personal_data_naming_an_unknown_property_is_one_line(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    config = sandbox.tap_config(include_personal_data=["users.cpff"])
    run = run_tap(config, workdir=tmp_path)
    assert run.returncode == 1
    assert run.messages == []
    assert "Traceback" not in run.stderr
    told = [line for line in run.stderr.splitlines() if "config error" in line]
    assert told == [
        "tap-mindzpay: config error: setting include_personal_data: 'users.cpff' is not a "
        "personal-data property; the tap's are "
        + ", ".join(sorted(f"{s.name}.{name}" for s in STREAM_TYPES for name in s.personal_data))
    ]


def test_stream_map_from_the_readme_hashes_email(
    sandbox: SandboxProcess, discovered_catalog: dict[str, Any], tmp_path: Path
) -> None:
    config = sandbox.tap_config(stream_maps={"users": {"email": "md5(email)"}})
    catalog = _users_only(discovered_catalog, personal=False)
    run = run_tap(config, catalog=catalog, workdir=tmp_path).check()
    landed = {r["id"]: r["email"] for r in run.records("users")}
    truth = {r["id"]: r["email"] for r in sandbox.truth("users")}
    assert landed.keys() == truth.keys()
    assert landed == {i: hashlib.md5(e.encode()).hexdigest() for i, e in truth.items()}  # noqa: S324
