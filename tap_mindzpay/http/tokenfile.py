"""The file of the setting ``refresh_token_file``: the latest refresh token, kept across runs.

Shards of one app may share the file (the API rotates the refresh token on every grant, and a
spent token is refused): each grant holds an exclusive lock (``fcntl.flock``) on a lock file
next to it (``.<name>.lock``, because the token file itself is replaced on every write), reads
the token the file holds now, makes the grant and writes the rotated token before it lets go.
So two shards never spend the same token, and one that grants after another uses the other's
rotated token. Shards may also keep one file each (one app authorisation per shard).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from singer_sdk.exceptions import FatalAPIError

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterator


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


def first_refresh_token(path: Path, configured: str | None) -> str:
    """The refresh token a run starts from: the file's, else ``configured`` (which seeds it).

    Raises:
        FatalAPIError: Neither holds one, or the file's folder does not exist.
    """
    token = read_refresh_token_file(path) or configured
    if not token:
        msg = (
            f"setting refresh_token_file: {path} holds no refresh token (put one in it, or "
            "set refresh_token to seed it)"
        )
        raise FatalAPIError(msg)
    if not path.parent.is_dir():
        msg = f"setting refresh_token_file: folder {path.parent} does not exist"
        raise FatalAPIError(msg)
    return token


def keep_refresh_token(path: Path, token: str, logger: logging.Logger) -> None:
    """Write a rotated refresh token for the next run; a failure is a warning, not a stop."""
    try:
        write_refresh_token_file(path, token)
    except OSError as exc:
        logger.warning(
            "Could not write the rotated refresh token to %s (%s); the next run needs a "
            "new refresh token (setting refresh_token_file).",
            path,
            exc.strerror or type(exc).__name__,
        )


def lock_path(path: Path) -> Path:
    """The lock file of the token file ``path``."""
    return path.with_name(f".{path.name}.lock")


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of the token file ``path`` (waits for another process's grant).

    Raises:
        FatalAPIError: The lock file cannot be created or opened.
    """
    try:
        descriptor = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        msg = (
            f"setting refresh_token_file: cannot open the lock file {lock_path(path)} "
            f"({exc.strerror or exc})"
        )
        raise FatalAPIError(msg) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
