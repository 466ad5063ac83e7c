"""Access tokens and grants, end to end: the tap as a process against the sandbox as a process.

What the sandbox counts (``GET /_sandbox/stats``: requests by endpoint and status) is the proof:
token requests of a sync whose lifetime is short (one per lifetime, none answered 401), refresh
tokens rotated within a run and carried to the next run through ``refresh_token_file``, a spent
refresh token refused with one line, one token request for many concurrent 401s, and two shards
sharing one rotating refresh token through one ``refresh_token_file``, run at once, five times.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
from helpers import child_env, compare_with_truth, fold_messages, parse_messages, run_tap
from helpers.singer import tap_argv
from helpers.streams import ACCOUNT_STREAMS, CAPTURE_STREAMS

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import SandboxProcess, TapRun

pytestmark = pytest.mark.e2e

GRANTS_KEY = "POST /oauth/token"
DEMO_REFRESH = "mindzpay-demo-refresh"


def token_answers(sandbox: SandboxProcess) -> dict[str, int]:
    """Token requests by HTTP status ("0": connection dropped)."""
    return dict(sandbox.stats()["requests"].get(GRANTS_KEY, {}))


def answered_401(sandbox: SandboxProcess) -> int:
    """API requests (the token endpoint excluded) answered 401."""
    requests = sandbox.stats()["requests"]
    return sum(by_status.get("401", 0) for key, by_status in requests.items() if key != GRANTS_KEY)


def issued(sandbox: SandboxProcess) -> dict[str, Any]:
    return dict(sandbox.admin("GET", "/_sandbox/tokens"))


def assert_no_secret(sandbox: SandboxProcess, *texts: str) -> None:
    """No access token, refresh token or client secret the sandbox ever issued is in ``texts``."""
    tokens = issued(sandbox)
    secrets = [tokens["client_secret"], *tokens["access_tokens"], *tokens["refresh_tokens"]]
    assert len(secrets) > 2, "the sandbox issued no token: nothing to look for"
    for text in texts:
        for secret in secrets:
            assert secret not in text


def assert_matches_truth(sandbox: SandboxProcess, run: TapRun) -> None:
    folded = fold_messages(run.messages)
    for stream in ("accounts", *ACCOUNT_STREAMS):
        comparison = compare_with_truth(stream, folded.get(stream, {}), sandbox.truth(stream))
        assert comparison.ok, comparison.summary()


def summary_token_requests(run: TapRun) -> int:
    """The token requests the tap's own run summary reports."""
    (line,) = [line for line in run.stderr.splitlines() if "Run completed in" in line]
    return int(line.split(" token requests")[0].rsplit(" ", 1)[1].replace(",", ""))


def test_20_s_tokens_one_token_request_per_lifetime_and_no_401(
    sandbox_factory: Any,
    tmp_path: Path,
) -> None:
    # 320 ms per request, 10 records a page and one request at a time stretch a small sync
    # over several lifetimes.
    sandbox = sandbox_factory(
        seed=11,
        accounts=2,
        invoices_per_account=250,
        extra_args=("--token-ttl", "20", "--latency-ms", "320"),
    )
    run = run_tap(sandbox.tap_config(page_size=10, max_concurrency=1), workdir=tmp_path).check()
    lifetimes = run.seconds / 20
    answers = token_answers(sandbox)
    api_requests = sandbox.stats()["total_requests"] - sum(answers.values())
    assert lifetimes > 2, f"the sync took {run.seconds:.1f} s: it spans too few lifetimes"
    # A token lives 20 s and is renewed 2 s before its end: one every 18 s of the run (the
    # process's start and end, without requests, blur it by at most one).
    assert answers.keys() == {"200"}, answers
    assert abs(answers["200"] - run.seconds / 18) <= 1, (answers, run.seconds)
    assert answers["200"] >= math.ceil(lifetimes)
    assert answers["200"] * 10 < api_requests, "a token per call (or close to it)"
    # Early refresh: no request ever carried an expired token.
    assert answered_401(sandbox) == 0
    assert summary_token_requests(run) == answers["200"]
    assert_matches_truth(sandbox, run)


def test_refresh_token_rotates_within_a_run_and_the_file_carries_it_to_the_next_run(
    sandbox_factory: Any,
    tmp_path: Path,
) -> None:
    # 2 s tokens over a sync of several seconds (one request at a time): the refresh_token
    # grant runs several times in one run, each time with the token the previous answer rotated
    # (the sandbox refuses a used one, so one stale token would fail the run).
    sandbox = sandbox_factory(
        seed=12,
        accounts=2,
        invoices_per_account=150,
        extra_args=("--token-ttl", "2", "--latency-ms", "60"),
    )
    token_file = tmp_path / "secrets" / "refresh-token"
    token_file.parent.mkdir()
    config = sandbox.tap_config(
        refresh_token=DEMO_REFRESH,
        refresh_token_file=str(token_file),
        page_size=10,
        max_concurrency=1,
    )
    first = run_tap(config, workdir=tmp_path / "first").check()
    grants = token_answers(sandbox)
    assert grants.keys() == {"200"}, grants
    assert grants["200"] >= 3, f"{first.seconds:.1f} s sync, {grants}: no rotation within it"
    rotated = issued(sandbox)["refresh_tokens"]
    # The demo token, then one new refresh token per grant; the file holds the last one.
    assert len(rotated) == 1 + grants["200"]
    assert token_file.read_text(encoding="utf-8").strip() == rotated[-1]
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert_matches_truth(sandbox, first)

    # The next run starts from the file (the configured demo token is spent by now).
    sandbox.reset_stats()
    second = run_tap(config, state=first.final_state, workdir=tmp_path / "second").check()
    assert token_answers(sandbox) == {"200": len(issued(sandbox)["refresh_tokens"]) - len(rotated)}
    assert token_file.read_text(encoding="utf-8").strip() == issued(sandbox)["refresh_tokens"][-1]
    state_text = json.dumps(second.final_state)
    assert_no_secret(
        sandbox, first.stderr, second.stderr, json.dumps(first.messages, default=str), state_text
    )


def test_spent_refresh_token_is_refused_with_one_line_and_a_non_zero_exit(
    sandbox_factory: Any,
    tmp_path: Path,
) -> None:
    sandbox = sandbox_factory(seed=13, accounts=2, invoices_per_account=50)
    config = sandbox.tap_config(refresh_token=DEMO_REFRESH)
    run_tap(config, workdir=tmp_path / "first").check()  # spends the demo token (rotation)
    spent = run_tap(config, workdir=tmp_path / "second")
    assert spent.returncode != 0
    assert spent.records() == [], "records synced with a refused credential"
    last = spent.stderr.strip().splitlines()[-1]
    assert "ERROR" in last
    assert "MindzPay refused the refresh token" in last
    assert "invalid_grant" in last
    assert "setting refresh_token," in last
    assert "Traceback" not in spent.stderr
    # No fallback to another grant: the one refused refresh_token request and nothing else.
    assert token_answers(sandbox) == {"200": 1, "400": 1}
    assert_no_secret(sandbox, spent.stderr, json.dumps(spent.messages, default=str))

    # The same from a file holding a spent token: the line names the file setting.
    token_file = tmp_path / "refresh-token"
    token_file.write_text(DEMO_REFRESH + "\n", encoding="utf-8")
    from_file = run_tap(
        sandbox.tap_config(refresh_token_file=str(token_file)), workdir=tmp_path / "third"
    )
    assert from_file.returncode != 0
    last = from_file.stderr.strip().splitlines()[-1]
    assert "MindzPay refused the refresh token" in last
    assert "setting refresh_token_file" in last
    assert "Traceback" not in from_file.stderr
    assert_no_secret(sandbox, from_file.stderr)


def test_many_concurrent_401s_after_a_revocation_cost_one_token_request(
    sandbox_factory: Any,
    tmp_path: Path,
) -> None:
    sandbox = sandbox_factory(
        seed=14, accounts=1, invoices_per_account=200, extra_args=("--latency-ms", "100")
    )
    first = run_tap(sandbox.tap_config(), workdir=tmp_path / "first").check()
    # 150 invoices back in flight: the next run's sweep finds them and refreshes them 8 at a
    # time, for about two seconds.
    sandbox.admin("POST", "/_sandbox/in_flight", params={"count": 150})
    sandbox.reset_stats()
    config = sandbox.tap_config(max_concurrency=8, sweep_interval_hours=0)
    argv, _ = tap_argv(config, tmp_path, state=first.final_state)
    stdout_path, stderr_path = tmp_path / "stdout.jsonl", tmp_path / "stderr.txt"
    with stdout_path.open("w") as out, stderr_path.open("w") as err:
        process = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=child_env(), cwd=tmp_path
        )
        try:
            deadline = time.monotonic() + 60
            # Revoke while the refresh phase runs: 8 requests are then on their way.
            while refreshed(sandbox) < 40:
                assert process.poll() is None, "the run ended before the refresh phase"
                assert time.monotonic() < deadline, "the refresh phase never started"
                time.sleep(0.05)
            before = answered_401(sandbox)
            sandbox.admin("POST", "/_sandbox/revoke")
            returncode = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    stderr = stderr_path.read_text(encoding="utf-8")
    assert returncode == 0, stderr[-4000:]
    assert before == 0
    # Every refresh request on its way when the token was revoked got a 401 ...
    assert answered_401(sandbox) >= 4, sandbox.stats()["requests"]
    # ... and they shared one new token: the grant of the run's start plus one.
    assert token_answers(sandbox) == {"200": 2}
    assert refreshed(sandbox) >= 150
    messages = parse_messages(stdout_path.read_text(encoding="utf-8"))
    folded = fold_messages(first.messages + messages)
    for stream in CAPTURE_STREAMS:
        comparison = compare_with_truth(stream, folded.get(stream, {}), sandbox.truth(stream))
        assert comparison.ok, comparison.summary()


def refreshed(sandbox: SandboxProcess) -> int:
    """Invoice refresh requests the sandbox answered 200."""
    by_status = sandbox.stats()["requests"].get(
        "POST /mindzpay/accounts/{account_key}/invoices/{invoice_id}/refresh", {}
    )
    return int(by_status.get("200", 0))


#: Rounds of two shards at once sharing one rotating refresh token (each round grants many times).
SHARD_ROUNDS = 5


def test_two_shards_sharing_a_rotating_refresh_token_file_run_at_once_without_a_refused_grant(
    sandbox_factory: Any,
    tmp_path: Path,
) -> None:
    # 2 s tokens over runs of several seconds: each shard grants again and again, each grant
    # spends the file's token and rotates it, and the two shards' grants interleave.
    sandbox = sandbox_factory(
        seed=21,
        accounts=2,
        invoices_per_account=60,
        extra_args=("--token-ttl", "2", "--latency-ms", "40"),
    )
    keys = sorted(r["key"] for r in sandbox.truth("accounts"))
    token_file = tmp_path / "refresh-token"
    token_file.write_text(DEMO_REFRESH + "\n", encoding="utf-8")
    configs = [
        sandbox.tap_config(
            refresh_token_file=str(token_file),
            account_keys=[key],
            page_size=10,
            max_concurrency=1,
        )
        for key in keys
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for round_number in range(SHARD_ROUNDS):
            workdirs = [tmp_path / f"round-{round_number}-{shard}" for shard in range(2)]
            runs = list(
                pool.map(
                    lambda config, workdir: run_tap(config, workdir=workdir), configs, workdirs
                )
            )
            grants = token_answers(sandbox)
            assert grants.keys() == {"200"}, (round_number, grants, runs[0].stderr[-2000:])
            for run in runs:
                assert run.returncode == 0, run.stderr[-3000:]
            folded = fold_messages([m for run in runs for m in run.messages])
            for stream in ("accounts", *ACCOUNT_STREAMS):
                truth = sandbox.truth(stream)
                comparison = compare_with_truth(stream, folded.get(stream, {}), truth)
                assert comparison.ok, comparison.summary()
    rotated = issued(sandbox)["refresh_tokens"]
    # Every grant rotated the token (the demo token, then one per grant); the file holds the
    # last, and more than one grant per run shows the two shards' grants interleaved.
    assert len(rotated) == 1 + grants["200"]
    assert grants["200"] > 2 * SHARD_ROUNDS, grants
    assert token_file.read_text(encoding="utf-8").strip() == rotated[-1]
