"""Headless Chromium for the tests that open a page: the DOM after its scripts ran.

Chromium comes from Debian (`apt-get install chromium`; `make test` installs it as root when it
is missing); Playwright's browser download is not used. Without it a test fails under CI=true and
skips elsewhere (`services.unavailable`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from typing import TYPE_CHECKING

from .processes import child_env
from .services import unavailable

if TYPE_CHECKING:
    from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    """Path of the chromium executable (or fail in CI / skip elsewhere)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        unavailable("chromium is not installed (apt-get install chromium; `make test` does it)")
    return found


def rendered_dom(page: Path, *, timeout: float = 120.0) -> str:
    """The DOM of the local file `page` once its scripts ran (`--dump-dom`), in a fresh profile.

    `--virtual-time-budget` lets the page's timers and promises settle before the dump.
    """
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        completed = subprocess.run(
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--virtual-time-budget=20000",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            timeout=timeout,
            check=False,
        )
    if completed.returncode != 0 or "<html" not in completed.stdout:
        msg = f"chromium exited {completed.returncode}: {completed.stderr[-2000:]}"
        raise AssertionError(msg)
    return completed.stdout
