"""orchestrate/: the Dagster jobs and schedules read from meltano.yml, the op's `meltano run`, and
the run queue of orchestrate/dagster.yaml (no Meltano run here; tests/e2e/test_orchestrate.py
runs the jobs against the sandbox)."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from typing import TYPE_CHECKING

import dagster as dg
import pytest
from helpers.processes import PROJECT_ROOT

from orchestrate.definitions import SHARD_TAG, MeltanoProject, build_definitions, read_shards

if TYPE_CHECKING:
    from pathlib import Path


def test_read_shards_finds_the_two_shard_jobs_of_meltano_yml_with_their_hourly_schedules() -> None:
    shards = read_shards(PROJECT_ROOT / "meltano.yml")
    assert [(s.name, s.meltano_job, s.extractor, s.schedules) for s in shards] == [
        (
            "a",
            "mindzpay-shard-a",
            "tap-mindzpay--shard-a",
            (("mindzpay-shard-a-hourly", "0 * * * *"),),
        ),
        (
            "b",
            "mindzpay-shard-b",
            "tap-mindzpay--shard-b",
            (("mindzpay-shard-b-hourly", "0 * * * *"),),
        ),
    ]


def test_read_shards_skips_jobs_that_are_not_one_shard_pipeline(tmp_path: Path) -> None:
    meltano_yml = tmp_path / "meltano.yml"
    meltano_yml.write_text(
        textwrap.dedent(
            """
            jobs:
            - name: mindzpay-shard-c
              tasks: [tap-mindzpay--shard-c target-postgres--shard-c]
            - name: demo
              tasks: [tap-mindzpay target-duckdb dbt-duckdb:build]
            - name: two-steps
              tasks: [tap-mindzpay--shard-d target-postgres, dbt-postgres:build]
            schedules:
            - name: shard-c-daily
              interval: '@daily'
              job: mindzpay-shard-c
            - name: shard-c-at-five
              interval: 5 * * * *
              job: mindzpay-shard-c
            """
        ),
        encoding="utf-8",
    )
    (shard,) = read_shards(meltano_yml)
    assert (shard.name, shard.job_name) == ("c", "mindzpay_shard_c")
    assert shard.schedules == (("shard-c-daily", "0 0 * * *"), ("shard-c-at-five", "5 * * * *"))


def test_each_shard_is_a_job_tagged_with_its_shard_running_one_meltano_op() -> None:
    defs = build_definitions(configured=())
    for name in ("a", "b"):
        job = defs.resolve_job_def(f"mindzpay_shard_{name}")
        assert job.tags[SHARD_TAG] == name
        assert [node.name for node in job.nodes] == [f"meltano_run_mindzpay_shard_{name}"]


@pytest.mark.parametrize(
    ("configured", "running"),
    [
        ((), set()),
        ({"a"}, {"mindzpay_shard_a_hourly"}),
        ({"a", "b"}, {"mindzpay_shard_a_hourly", "mindzpay_shard_b_hourly"}),
    ],
)
def test_a_schedule_runs_by_default_only_when_its_shard_is_configured(
    configured: set[str], running: set[str]
) -> None:
    defs = build_definitions(configured=configured)
    statuses = {s.name: s.default_status for s in defs.schedules or []}
    assert set(statuses) == {"mindzpay_shard_a_hourly", "mindzpay_shard_b_hourly"}
    assert {n for n, s in statuses.items() if s == dg.DefaultScheduleStatus.RUNNING} == running
    assert {n for n, s in statuses.items() if s == dg.DefaultScheduleStatus.STOPPED} == (
        set(statuses) - running
    )


def test_dagster_yaml_queues_runs_two_at_a_time_and_one_per_shard(tmp_path: Path) -> None:
    shutil.copy2(PROJECT_ROOT / "orchestrate" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        assert queue.max_concurrent_runs == 2
        assert list(queue.tag_concurrency_limits) == [
            {"key": SHARD_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]


def _fake_meltano(tmp_path: Path, exit_code: int) -> tuple[str, Path]:
    """An executable standing in for meltano: records its argv and cwd, prints, exits."""
    record = tmp_path / "argv.json"
    script = tmp_path / "meltano"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps([sys.argv[1:], os.getcwd(),"
        " os.environ.get('MELTANO_PROJECT_ROOT'), os.environ.get('EXTRA')]))\n"
        "for n in range(100): print(f'line {n}', file=sys.stderr)\n"
        f"sys.exit({exit_code})\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return str(script), record


def test_the_op_runs_meltano_run_of_the_job_without_force_in_the_project(tmp_path: Path) -> None:
    executable, record = _fake_meltano(tmp_path, 0)
    project = MeltanoProject(project_dir=str(tmp_path), executable=executable, env={"EXTRA": "1"})
    project.run_job("mindzpay-shard-a", dg.get_dagster_logger())
    argv, cwd, root, extra = json.loads(record.read_text(encoding="utf-8"))
    assert argv == ["--environment=prod", "run", "mindzpay-shard-a"]
    assert (cwd, root, extra) == (str(tmp_path), str(tmp_path), "1")


def test_a_failed_meltano_run_fails_the_op_with_its_exit_code_and_last_lines(
    tmp_path: Path,
) -> None:
    executable, _ = _fake_meltano(tmp_path, 3)
    project = MeltanoProject(project_dir=str(tmp_path), executable=executable)
    with pytest.raises(dg.Failure) as failure:
        project.run_job("mindzpay-shard-b", dg.get_dagster_logger())
    assert failure.value.description == "meltano run mindzpay-shard-b exited 3"
    tail = failure.value.metadata["output (last lines)"].value
    assert tail.splitlines() == [f"line {n}" for n in range(60, 100)]
