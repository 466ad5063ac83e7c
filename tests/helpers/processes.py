"""Environment and executables for the child processes the tests start."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1,localhost"

# Variables that would change what a child process does behind the test's back.
_DROPPED_PREFIXES = ("TAP_MINDZPAY_", "TARGET_", "MELTANO_")


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment for a tap, sandbox, target or meltano child process.

    Settings inherited from the developer's shell (`TAP_MINDZPAY_*`, `TARGET_*`, `MELTANO_*`) are
    dropped so only what the test passes counts; proxies are bypassed for loopback, and Meltano
    never phones home.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env["NO_PROXY"] = env["no_proxy"] = LOOPBACK
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def venv_script(name: str) -> str:
    """Path of a console script from the venv running the tests (falls back to PATH)."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return str(script)
    found = shutil.which(name)
    if found:
        return found
    msg = f"console script {name!r} not found next to {sys.executable} nor on PATH"
    raise FileNotFoundError(msg)


def meltano_plugin_executable(kind: str, name: str, executable: str | None = None) -> Path | None:
    """The executable of a plugin Meltano installed in this project, or None if not installed.

    Args:
        kind: Meltano plugin type folder: "extractors" or "loaders".
        name: The plugin name in meltano.yml, e.g. "target-jsonl".
        executable: The executable name when it differs from the plugin name.
    """
    path = PROJECT_ROOT / ".meltano" / kind / name / "venv" / "bin" / (executable or name)
    return path if path.exists() else None


def structured_logging(workdir: Path) -> dict[str, str]:
    """The environment of a tap logging JSON lines, as Meltano configures SDK taps."""
    path = workdir / "tap.singer_sdk_logging.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {
                    "singer_formatter": {"()": "singer_sdk.logging.StructuredFormatter"}
                },
                "handlers": {
                    "console": {
                        "class": "logging.StreamHandler",
                        "formatter": "singer_formatter",
                        "stream": "ext://sys.stderr",
                    }
                },
                "root": {"handlers": ["console"], "level": "INFO"},
            }
        ),
        encoding="utf-8",
    )
    return {"SINGER_SDK_LOG_CONFIG": str(path)}
