"""tap-mindzpay as Meltano runs it: structured logs, typed SDK built-ins, settings from an env file.

Every run is a real `meltano run` of this project's meltano.yml (tap-mindzpay -> target-jsonl, the
prod environment) against a sandbox process. The test writes no logging config: Meltano turns on
the SDK's JSON log formatter for the tap because meltano.yml declares `structured-logging`, parses
the tap's lines, and `meltano --log-format=json` writes Meltano's own log as one JSON object per
line, which is what the test reads. Settings are given the way the README tells a user to: the
tap's variables copied from `.env.example` (uncommented, filled in) into an env file named with
`--env-file`, and the SDK built-ins with `meltano config set` (stored in that file).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from helpers import PROJECT_ROOT, SandboxProcess, child_env, venv_script
from helpers.meltano import MELTANO_WORKER, IsolatedMeltano, MeltanoResult
from helpers.services import require_loader
from helpers.streams import ACCOUNT_STREAMS, PLATFORM_STREAMS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, MELTANO_WORKER]

SECRET = "mysecret"  # noqa: S105 - the test sandbox's client secret
PROD_SECRET = "prod-only"  # noqa: S105 - a made-up secret for the env-file test
ACCOUNTS = 2
INVOICES = 240
#: A stream map a user would set: drop the subscriber's e-mail address.
STREAM_MAPS = {"subscriptions": {"customer_email": "__NULL__"}}


def env_file_from_example(path: Path, values: dict[str, str]) -> Path:
    """`.env.example` with the variable lines of `values` uncommented and filled in, at `path`."""
    lines = []
    found = set()
    for line in (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"# (TAP_MINDZPAY_[A-Z0-9_]+)=.*", line)
        if match and match.group(1) in values:
            found.add(match.group(1))
            lines.append(f"{match.group(1)}={values[match.group(1)]}")
        else:
            lines.append(line)
    assert found == set(values), f"not in .env.example: {sorted(set(values) - found)}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def meltano_log(result: MeltanoResult) -> list[dict[str, Any]]:
    """Meltano's log (`--log-format=json`): one JSON object per stderr line."""
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert entries, f"no JSON log lines in meltano's stderr:\n{result.stderr[-3000:]}"
    return entries


def tap_lines(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries Meltano logged from the tap's stderr."""
    return [e for e in entries if e.get("name") == "tap-mindzpay"]


def reports(entries: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The tap's progress / summary / run_summary lines, as Meltano logged them."""
    return [e for e in tap_lines(entries) if e.get("report") == kind]


@dataclass
class Project:
    """The isolated Meltano project, its env file and the sandbox it points at."""

    meltano: IsolatedMeltano
    env_file: Path
    sandbox: SandboxProcess
    output: Path

    def meltano_args(self, *args: str) -> tuple[str, ...]:
        """`meltano --env-file ... --environment=prod <args>`."""
        return ("--env-file", str(self.env_file), "--environment=prod", *args)

    def run_args(self, suffix: str) -> tuple[str, ...]:
        """`meltano run tap-mindzpay target-jsonl` with Meltano's log as JSON lines."""
        return self.meltano_args(
            "--log-format=json",
            "run",
            "--no-install",
            "--state-id-suffix",
            suffix,
            "tap-mindzpay",
            "target-jsonl",
        )

    def run(self, suffix: str, env: dict[str, str] | None = None) -> MeltanoResult:
        """One `meltano run` (see `run_args`) to its end."""
        return self.meltano.run(*self.run_args(suffix), env=env)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A sandbox slow enough for progress lines, and the settings a user would write for it."""
    require_loader("target-jsonl")
    workdir = tmp_path_factory.mktemp("meltano-plugin")
    output = workdir / "jsonl"
    output.mkdir()
    with SandboxProcess.start(
        seed=5,
        accounts=ACCOUNTS,
        invoices_per_account=INVOICES,
        # Each invoices and payments partition takes more than PROGRESS_SECONDS (5 s) at two
        # records a page and one request at a time, so it logs progress lines.
        extra_args=("--latency-ms", "40", "--client-secret", SECRET),
    ) as sandbox:
        env_file = env_file_from_example(
            workdir / ".env.prod",
            {
                "TAP_MINDZPAY_API_URL": sandbox.api_url,
                "TAP_MINDZPAY_CLIENT_ID": "mindzpay-demo",
                "TAP_MINDZPAY_CLIENT_SECRET": SECRET,
                "TAP_MINDZPAY_PAGE_SIZE": "2",
                "TAP_MINDZPAY_MAX_CONCURRENCY": "1",
                "TAP_MINDZPAY_SWEEP_INTERVAL_HOURS": "0",
            },
        )
        meltano = IsolatedMeltano(workdir, {"TARGET_JSONL_DESTINATION_PATH": str(output)})
        yield Project(meltano, env_file, sandbox, output)


@dataclass
class Sync:
    """The full run, with SDK built-ins set by `meltano config set`, and what it produced."""

    result: MeltanoResult
    log: list[dict[str, Any]]
    config: dict[str, Any]
    landed: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def sync(project: Project) -> Sync:
    """`meltano config set` two SDK built-ins (into the env file), then one full run."""
    for name, value in (
        ("stream_maps", json.dumps(STREAM_MAPS)),
        ("flattening_enabled", "true"),
        ("flattening_max_depth", "1"),
    ):
        project.meltano.run(
            *project.meltano_args("config", "set", "--store=dotenv", "tap-mindzpay", name, value)
        ).check()
    printed = project.meltano.run(*project.meltano_args("config", "print", "tap-mindzpay"))
    config = json.loads(printed.check().stdout[printed.stdout.index("{") :])
    result = project.run("structured").check()
    landed = {
        path.stem: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for path in project.output.glob("*.jsonl")
    }
    return Sync(result, meltano_log(result), config, landed)


def test_meltano_config_set_stores_sdk_builtins_with_their_kinds(sync: Sync) -> None:
    """An object stays an object, a boolean a boolean, an integer an integer."""
    assert sync.config["stream_maps"] == STREAM_MAPS
    assert sync.config["flattening_enabled"] is True
    assert sync.config["flattening_max_depth"] == 1


def test_the_run_applies_the_stream_map_set_through_meltano(sync: Sync, project: Project) -> None:
    """Every subscription landed, none with the e-mail address the map removes."""
    truth = project.sandbox.truth("subscriptions")
    assert truth
    assert all("customer_email" in record for record in truth)
    landed = sync.landed["subscriptions"]
    assert sorted(r["id"] for r in landed) == sorted(r["id"] for r in truth)
    assert not [r["id"] for r in landed if "customer_email" in r]
    assert all("plan_id" in r for r in landed)


def test_every_tap_line_reaches_meltano_parsed(sync: Sync) -> None:
    """No tap line is left as raw text: each came through the SDK's JSON formatter."""
    lines = tap_lines(sync.log)
    assert lines
    raw = [e["event"] for e in lines if "plugin_logger" not in e]
    assert not raw, raw[:5]


def test_progress_fields_are_json_fields_in_meltanos_log(sync: Sync, project: Project) -> None:
    """Progress lines carry done/total/percent/rate/ETA as numbers, per stream and account."""
    progress = reports(sync.log, "progress")
    invoices = [p for p in progress if p["stream_name"] == "invoices" and p["phase"] == "new"]
    assert invoices, f"no invoices progress line; progress seen: {progress}"
    keys = {a["key"] for a in project.sandbox.truth("accounts")}
    for line in invoices:
        assert line["level"] == "info"
        assert line["plugin_logger"] == "tap-mindzpay.progress"
        assert line["account"] in keys
        assert isinstance(line["done"], int)
        assert line["total"] == INVOICES
        assert 0 < line["done"] <= line["total"]
        assert line["percent"] == round(100.0 * line["done"] / line["total"], 1)
        assert isinstance(line["rate_per_second"], float)
        assert line["event"].startswith(f"Progress invoices [{line['account']}] new: ")


def test_summary_fields_are_json_fields_and_count_what_the_sandbox_holds(
    sync: Sync, project: Project
) -> None:
    """One summary per partition; its `new` counts add up to the truth of each stream."""
    summaries = reports(sync.log, "summary")
    assert len(summaries) == 1 + ACCOUNTS * len(ACCOUNT_STREAMS) + len(PLATFORM_STREAMS)
    assert all(s["level"] == "info" and s["status"] == "done" for s in summaries)
    for stream in ("accounts", *ACCOUNT_STREAMS, *PLATFORM_STREAMS):
        new = sum(s["new"] for s in summaries if s["stream_name"] == stream)
        assert new == len(project.sandbox.truth(stream)), stream
    for s in summaries:
        assert isinstance(s["requests"], int)
        assert s["requests"] > 0
        assert isinstance(s["duration_seconds"], float)
    [run] = reports(sync.log, "run_summary")
    assert run["level"] == "info"
    assert run["outcome"] == "completed"
    assert run["new"] == sum(s["new"] for s in summaries)
    assert run["partitions"] == len(summaries)
    assert run["token_requests"] >= 1


def test_the_taps_error_lines_reach_meltano_at_error_level(project: Project) -> None:
    """A refused credential: the tap's ERROR lines are errors in Meltano's log, not info."""
    wrong = project.env_file.with_name(".env.wrong")
    wrong.write_text(
        project.env_file.read_text(encoding="utf-8").replace(
            f"TAP_MINDZPAY_CLIENT_SECRET={SECRET}\n", "TAP_MINDZPAY_CLIENT_SECRET=not-it\n"
        ),
        encoding="utf-8",
    )
    assert "not-it" in wrong.read_text(encoding="utf-8")
    result = project.meltano.run(
        "--env-file",
        str(wrong),
        "--environment=prod",
        "--log-format=json",
        "run",
        "--no-install",
        "--state-id-suffix",
        "refused",
        "tap-mindzpay",
        "target-jsonl",
    )
    assert result.returncode != 0
    lines = tap_lines(meltano_log(result))
    errors = [e for e in lines if e["level"] == "error"]
    assert errors, [(e["level"], e["event"]) for e in lines]
    [run] = [e for e in lines if e.get("report") == "run_summary"]
    assert run["level"] == "error"
    assert run["outcome"] == "stopped"
    assert "client_id" in run["reason"] or "client_secret" in run["reason"], run["reason"]
    # The credential's rejection is said once at error level by the tap, never as info.
    rejected = [e for e in lines if "client_secret" in e["event"] and e is not run]
    assert rejected, [(e["level"], e["event"]) for e in lines]
    assert {e["level"] for e in rejected} == {"error"}, [(e["level"], e["event"]) for e in lines]
    assert not [e for e in lines if "not-it" in json.dumps(e)], "the secret reached the log"


def read_jsonl(directory: Path, stream: str) -> list[dict[str, Any]]:
    path = directory / f"{stream}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_sigterm_to_the_tap_under_meltano_keeps_the_state_and_the_rerun_resumes(
    project: Project, tmp_path: Path
) -> None:
    """The README's way to stop a `meltano run`: SIGTERM to the tap alone (not Ctrl-C).

    The tap stops at a request boundary with a STATE, the target emits it, Meltano saves it; the
    rerun starts from it (less than everything is new) and nothing is lost.
    """
    output = tmp_path / "jsonl"
    output.mkdir()
    env = {"TARGET_JSONL_DESTINATION_PATH": str(output)}
    suffix = "sigterm"
    log = tmp_path / "meltano.stderr"
    with log.open("w", encoding="utf-8") as stderr:
        meltano = subprocess.Popen(
            [venv_script("meltano"), *project.run_args(suffix)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=child_env({**project.meltano.env, **env}),
            cwd=PROJECT_ROOT,
        )
        try:
            # Mid-run: the first invoices progress line comes 5 s into the first invoices
            # partition (payments, synced before invoices, log theirs earlier).
            deadline = time.monotonic() + 120
            while not _invoices_progress(log.read_text(encoding="utf-8")):
                assert meltano.poll() is None, "meltano ended before an invoices progress line"
                assert time.monotonic() < deadline, "no progress line within 120 s"
                time.sleep(0.2)
            # The README's command, limited to this meltano's children (-P): other tests'
            # runs of the same project may be going on.
            pattern = ".meltano/run/tap-mindzpay/tap."
            kill = ["pkill", "-TERM", "-P", str(meltano.pid), "-f", pattern]
            subprocess.run(kill, check=True, timeout=30)
            returncode = meltano.wait(timeout=120)
        finally:
            if meltano.poll() is None:
                meltano.kill()
                meltano.wait()
    stopped = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    assert returncode != 0
    [summary] = reports(stopped, "run_summary")
    assert summary["outcome"] == "stopped"
    assert "SIGTERM" in summary["reason"]
    state = project.meltano.state_get(f"prod:tap-mindzpay-to-target-jsonl:{suffix}")
    partitions = state["singer_state"]["bookmarks"]["invoices"]["partitions"]
    assert partitions, state
    first = {r["id"] for r in read_jsonl(output, "invoices")}
    truth = {r["id"] for r in project.sandbox.truth("invoices")}
    assert first < truth, "the stopped run had already loaded every invoice: nothing proven"

    rerun = project.run(suffix, env=env).check()
    again = [s for s in reports(meltano_log(rerun), "summary") if s["stream_name"] == "invoices"]
    assert sum(s["new"] for s in again) < len(truth), "the rerun started over"
    assert {r["id"] for r in read_jsonl(output, "invoices")} == truth


def _invoices_progress(text: str) -> bool:
    """Whether Meltano's log `text` holds a progress line of the invoices stream."""
    return any(
        '"report": "progress"' in line and '"stream_name": "invoices"' in line
        for line in text.splitlines()
    )


def config_print(
    meltano: IsolatedMeltano, *args: str, env: dict[str, str] | None = None, unsafe: bool = False
) -> dict[str, Any]:
    """`meltano <args> config print tap-mindzpay`, parsed."""
    safety = ["--unsafe"] if unsafe else []
    printed = meltano.run(*args, "config", *safety, "print", "tap-mindzpay", env=env).check()
    return dict(json.loads(printed.stdout[printed.stdout.index("{") :]))


def test_an_environment_variable_switches_the_dev_environment_off_the_sandbox(
    tmp_path: Path,
) -> None:
    """The README's switch: TAP_MINDZPAY_SANDBOX=false wins over the dev environment's true."""
    meltano = IsolatedMeltano(tmp_path)
    assert config_print(meltano, "--environment=dev")["sandbox"] is True
    switched = config_print(meltano, "--environment=dev", env={"TAP_MINDZPAY_SANDBOX": "false"})
    assert switched["sandbox"] is False


def test_a_secret_set_for_prod_goes_to_the_env_file_named_not_to_dotenv(tmp_path: Path) -> None:
    """`meltano --env-file .env.prod --environment=prod config set ... client_secret` (README)."""
    meltano = IsolatedMeltano(tmp_path)
    env_file = tmp_path / ".env.prod"
    env_file.write_text("", encoding="utf-8")
    dotenv = PROJECT_ROOT / ".env"
    before = dotenv.read_text(encoding="utf-8") if dotenv.exists() else None
    args = ("--env-file", str(env_file), "--environment=prod")
    meltano.run(*args, "config", "set", "tap-mindzpay", "client_secret", PROD_SECRET).check()
    assert f"TAP_MINDZPAY_CLIENT_SECRET='{PROD_SECRET}'" in env_file.read_text(encoding="utf-8")
    after = dotenv.read_text(encoding="utf-8") if dotenv.exists() else None
    assert after == before
    assert config_print(meltano, *args, unsafe=True)["client_secret"] == PROD_SECRET
