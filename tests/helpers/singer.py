"""Run `tap-mindzpay` as a process and parse what it prints (piped into a target: `pipes`)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from .processes import PROJECT_ROOT, child_env, venv_script

DEFAULT_TIMEOUT = 300.0


def parse_messages(text: str) -> list[dict[str, Any]]:
    """Parse Singer messages, one JSON object a line; numbers with a point become Decimal."""
    messages = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            message = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            msg = f"stdout line {number} is not JSON ({exc}): {line[:300]!r}"
            raise AssertionError(msg) from exc
        if not isinstance(message, dict) or "type" not in message:
            msg = f"stdout line {number} is not a Singer message: {line[:300]!r}"
            raise AssertionError(msg)
        messages.append(message)
    return messages


@dataclass
class TapRun:
    """One finished tap process: its exit code, parsed messages and stderr."""

    argv: list[str]
    returncode: int
    messages: list[dict[str, Any]]
    stderr: str
    seconds: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Messages of one type ("RECORD", "STATE", "SCHEMA", ...)."""
        return [m for m in self.messages if m["type"] == kind]

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        """The `record` bodies of RECORD messages, in order (of one stream, if given)."""
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)
        ]

    def streams(self) -> set[str]:
        """Names of streams with at least one RECORD."""
        return {m["stream"] for m in self.messages if m["type"] == "RECORD"}

    def schemas(self) -> dict[str, dict[str, Any]]:
        """The last SCHEMA message of each stream."""
        return {m["stream"]: m for m in self.messages if m["type"] == "SCHEMA"}

    def key_properties(self) -> dict[str, list[str]]:
        """Primary keys of each stream, from its SCHEMA message."""
        return {name: list(m.get("key_properties") or []) for name, m in self.schemas().items()}

    @property
    def final_state(self) -> dict[str, Any] | None:
        """The value of the last STATE message (what a runner would save), or None."""
        states = self.of_type("STATE")
        return states[-1]["value"] if states else None

    def check(self) -> TapRun:
        """Raise with the tail of stderr unless the tap exited 0; return self for chaining."""
        if self.returncode != 0:
            msg = (
                f"{' '.join(self.argv)} exited {self.returncode}\n"
                f"stderr (tail):\n{self.stderr[-6000:]}"
            )
            raise AssertionError(msg)
        return self


def write_json(directory: Path, name: str, value: Any) -> Path:
    """Write `value` as JSON to `directory/name` and return the path."""
    path = directory / name
    path.write_text(json.dumps(value, default=str, indent=2), encoding="utf-8")
    return path


@cache
def tap_about() -> dict[str, Any]:
    """`tap-mindzpay --about --format=json`, run as a process (once per test session)."""
    completed = subprocess.run(
        [venv_script("tap-mindzpay"), "--about", "--format=json"],
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
        timeout=120,
    )
    return dict(json.loads(completed.stdout))


def run_tap_cli(
    *args: str, cwd: Path, timeout: float = 120.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tap-mindzpay <args>`` in ``cwd`` (text output captured, exit code not checked).

    ``env``: variables added to the child's environment (``TAP_MINDZPAY_*`` for ``--config ENV``).
    """
    return subprocess.run(
        [venv_script("tap-mindzpay"), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=child_env(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def tap_argv(
    config: dict[str, Any] | Path | None,
    workdir: Path,
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    extra_args: tuple[str, ...] = (),
) -> tuple[list[str], dict[str, Path]]:
    """Build `tap-mindzpay --config ... [--state ...] [--catalog ...]`, writing the JSON files."""
    files: dict[str, Path] = {}
    argv = [venv_script("tap-mindzpay")]
    if isinstance(config, dict):
        files["config"] = write_json(workdir, "config.json", config)
        argv += ["--config", str(files["config"])]
    elif isinstance(config, Path):
        argv += ["--config", str(config)]
    if state is not None:
        files["state"] = write_json(workdir, "state.json", state)
        argv += ["--state", str(files["state"])]
    if catalog is not None:
        files["catalog"] = write_json(workdir, "catalog.json", catalog)
        argv += ["--catalog", str(files["catalog"])]
    argv += list(extra_args)
    return argv, files


def run_tap(  # noqa: PLR0913 - mirrors the tap's CLI options
    config: dict[str, Any] | Path | None,
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    workdir: Path | None = None,
) -> TapRun:
    """Run `tap-mindzpay` to completion and return its parsed output (exit code not checked)."""
    import time  # noqa: PLC0415 - keep the module namespace small

    directory = workdir or Path(tempfile.mkdtemp(prefix="tap-mindzpay-run-"))
    directory.mkdir(parents=True, exist_ok=True)
    argv, files = tap_argv(config, directory, state=state, catalog=catalog, extra_args=extra_args)
    started = time.monotonic()
    with (directory / "stdout.jsonl").open("w+", encoding="utf-8") as out:
        completed = subprocess.run(
            argv,
            stdout=out,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=child_env(env),
            cwd=directory,
            timeout=timeout,
            check=False,
        )
        out.seek(0)
        text = out.read()
    seconds = time.monotonic() - started
    messages = parse_messages(text) if completed.returncode == 0 else _parse_lenient(text)
    return TapRun(argv, completed.returncode, messages, completed.stderr, seconds, files)


def _parse_lenient(text: str) -> list[dict[str, Any]]:
    # A failed run may have been cut mid-line; keep what parses, for the failure message.
    messages = []
    for line in text.splitlines():
        try:
            message = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict):
            messages.append(message)
    return messages


__all__ = [
    "PROJECT_ROOT",
    "TapRun",
    "parse_messages",
    "run_tap",
    "tap_about",
    "tap_argv",
    "write_json",
]
