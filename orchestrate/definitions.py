"""Dagster definitions: one job per shard of `account_keys`, each running its Meltano job.

The shards are the jobs of meltano.yml whose extractor is a `tap-mindzpay--shard-<name>`
(docs/scaling.md). Each becomes the Dagster job `mindzpay_shard_<name>`, one op that runs
`meltano --environment=<env> run mindzpay-shard-<name>` as a subprocess in the project, tagged
`mindzpay/shard: <name>` so the run queue (orchestrate/dagster.yaml) keeps one run per shard at
a time. Each Meltano schedule of such a job becomes a Dagster schedule, running by default only
when the shard's `account_keys` is set in that environment: a shard without it would sync every
account, so its schedule starts stopped until the shard is configured (or it is turned on).

Start the UI and the scheduler from the project root:

    DAGSTER_HOME=$PWD/orchestrate dagster dev -m orchestrate.definitions
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import yaml

if TYPE_CHECKING:
    import logging
    from collections.abc import Collection, Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARD_TAG = "mindzpay/shard"
_SHARD_EXTRACTOR = re.compile(r"^tap-mindzpay--shard-(?P<name>[a-z0-9][a-z0-9_-]*)$")
# Meltano's interval presets as cron (Dagster takes cron strings).
_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}
_OUTPUT_TAIL_LINES = 40
_STOP_GRACE_SECONDS = 30.0


def _default_meltano() -> str:
    beside = Path(sys.executable).parent / "meltano"
    return str(beside) if beside.exists() else "meltano"


class MeltanoProject(dg.ConfigurableResource["MeltanoProject"]):
    """A Meltano project on this machine: where it is, which environment, which `meltano`.

    `env` adds variables to every `meltano` it starts (the process environment is inherited);
    keep secrets in the environment or the project's `.env`, not here: resource values can show
    in Dagster's UI.
    """

    project_dir: str = str(PROJECT_ROOT)
    environment: str = "prod"
    executable: str = _default_meltano()
    env: dict[str, str] = {}  # noqa: RUF012 - pydantic copies field defaults

    def _argv(self, *args: str) -> list[str]:
        return [self.executable, f"--environment={self.environment}", *args]

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.env, "MELTANO_PROJECT_ROOT": self.project_dir}

    def run_job(self, job: str, log: logging.Logger) -> None:
        """`meltano run <job>`; its output goes to the op's stderr (the run's compute log).

        No `--force`: Meltano refuses to start a pipeline whose state ID has a run in progress,
        on this machine or another sharing the system database. Raises `dagster.Failure` with
        the output's last lines unless meltano exits 0; an interrupted op stops meltano first.
        """
        argv = self._argv("run", job)
        log.info("running %s in %s", " ".join(argv[1:]), self.project_dir)
        tail: deque[str] = deque(maxlen=_OUTPUT_TAIL_LINES)
        with subprocess.Popen(  # noqa: S603 - argv is the configured meltano and a job name
            argv,
            cwd=self.project_dir,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        ) as process:
            try:
                assert process.stdout is not None  # noqa: S101 - stdout=PIPE
                for line in process.stdout:
                    sys.stderr.write(line)
                    tail.append(line.rstrip("\n"))
                returncode = process.wait()
            finally:
                _stop(process)
        if returncode != 0:
            raise dg.Failure(
                description=f"meltano run {job} exited {returncode}",
                metadata={"output (last lines)": dg.MetadataValue.text("\n".join(tail))},
            )
        log.info("meltano run %s finished", job)

    def account_keys(self, extractor: str) -> list[str] | None:
        """The extractor's `account_keys` in this environment (None: unset or unreadable).

        Meltano resolves it (variables, `.env`, meltano.yml); secrets stay redacted.
        """
        completed = subprocess.run(  # noqa: S603 - argv is the configured meltano
            self._argv("config", "print", extractor, "--format=json"),
            cwd=self.project_dir,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if completed.returncode != 0:
            return None
        try:
            keys = json.loads(completed.stdout).get("account_keys")
        except (ValueError, AttributeError):
            return None
        return [str(key) for key in keys] if isinstance(keys, list) and keys else None


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop meltano and its children if still running: SIGTERM, then SIGKILL after a grace."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass(frozen=True)
class Shard:
    """One shard: its Meltano job and extractor, and the crons of the job's Meltano schedules."""

    name: str
    meltano_job: str
    extractor: str
    schedules: tuple[tuple[str, str], ...]  # (Meltano schedule name, cron)

    @property
    def job_name(self) -> str:
        """The Dagster job's name (Dagster names allow letters, digits and underscores)."""
        return _dagster_name(self.meltano_job)


def _dagster_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def read_shards(meltano_yml: Path) -> list[Shard]:
    """The shard jobs of a meltano.yml: jobs whose one task starts a `tap-mindzpay--shard-*`."""
    project = yaml.safe_load(meltano_yml.read_text(encoding="utf-8")) or {}
    crons: dict[str, list[tuple[str, str]]] = {}
    for schedule in project.get("schedules") or []:
        if schedule.get("job") and schedule.get("interval"):
            cron = _PRESETS.get(schedule["interval"], schedule["interval"])
            crons.setdefault(schedule["job"], []).append((schedule["name"], cron))
    shards = []
    for job in project.get("jobs") or []:
        tasks = job.get("tasks") or []
        words = tasks[0].split() if len(tasks) == 1 and isinstance(tasks[0], str) else []
        if words and (match := _SHARD_EXTRACTOR.match(words[0])):
            shards.append(
                Shard(match["name"], job["name"], words[0], tuple(crons.get(job["name"], ())))
            )
    return shards


def shard_job(shard: Shard) -> dg.JobDefinition:
    """The Dagster job of one shard: one op running its Meltano job."""

    @dg.op(name=f"meltano_run_{shard.job_name}", tags={"kind": "meltano"})
    def meltano_run(meltano: MeltanoProject) -> None:
        meltano.run_job(shard.meltano_job, dg.OpExecutionContext.get().log)

    @dg.job(
        name=shard.job_name,
        description=f"Runs the Meltano job `{shard.meltano_job}` (extractor {shard.extractor}).",
        tags={SHARD_TAG: shard.name},
    )
    def run_shard() -> None:
        meltano_run()

    return run_shard


def shard_schedules(shard: Shard, *, configured: bool) -> list[dg.ScheduleDefinition]:
    """The shard's schedules: running by default only if its `account_keys` is set."""
    status = dg.DefaultScheduleStatus.RUNNING if configured else dg.DefaultScheduleStatus.STOPPED
    return [
        dg.ScheduleDefinition(
            name=_dagster_name(name),
            job_name=shard.job_name,
            cron_schedule=cron,
            default_status=status,
            description=f"Meltano schedule `{name}`.",
        )
        for name, cron in shard.schedules
    ]


def build_definitions(
    project: MeltanoProject | None = None, configured: Collection[str] | None = None
) -> dg.Definitions:
    """Jobs and schedules of every shard of `project` (the one this file is in by default).

    `configured` names the shards whose schedules run by default; None asks Meltano which
    shards have `account_keys` set (one `meltano config print` per shard, in parallel).
    """
    project = project or MeltanoProject()
    shards = read_shards(Path(project.project_dir) / "meltano.yml")
    if configured is None:
        with ThreadPoolExecutor(max_workers=max(1, len(shards))) as pool:
            keys = pool.map(project.account_keys, [shard.extractor for shard in shards])
            configured = {shard.name for shard, found in zip(shards, keys, strict=True) if found}
    resources: Mapping[str, Any] = {"meltano": project}
    return dg.Definitions(
        jobs=[shard_job(shard) for shard in shards],
        schedules=[
            schedule
            for shard in shards
            for schedule in shard_schedules(shard, configured=shard.name in configured)
        ],
        resources=resources,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What `dagster dev -m orchestrate.definitions` loads (environment: MELTANO_ENVIRONMENT)."""
    return build_definitions(
        MeltanoProject(environment=os.environ.get("MELTANO_ENVIRONMENT", "prod"))
    )
