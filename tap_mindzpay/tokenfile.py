"""The file of the setting ``refresh_token_file``: the latest refresh token, kept across runs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from singer_sdk.exceptions import FatalAPIError


def read_refresh_token_file(path: Path) -> str | None:
    """The refresh token kept in ``path``, or None when the file is missing or empty.

    Raises:
        FatalAPIError: The file exists but cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        msg = f"setting refresh_token_file: cannot read {path} ({exc.strerror or exc})"
        raise FatalAPIError(msg) from None
    return text or None


def write_refresh_token_file(path: Path, token: str) -> None:
    """Replace ``path`` with ``token`` atomically, readable by the owner only."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).chmod(0o600)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
