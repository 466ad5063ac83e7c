"""The command line around a run: bad input as one line, checked before anything starts.

Every input the tap cannot use gets one line naming the file, variable, setting or stream, and
a non-zero exit; no traceback, no usage text, nothing on stdout:

* ``--config`` files that are missing, unreadable, not JSON or not an object
  (``config_file_problem``, from ``TapMindzPay.cb_config``);
* environment variables of the wrong type for ``--config ENV`` (``env_problems``): the SDK
  raises a bare ``ValueError`` that names neither the variable nor the setting;
* a ``--catalog`` that is not a catalog, or selects no stream of this tap (``read_catalog``);
  a selected stream the tap does not have, next to ones it has, is named in a warning;
* a ``--state`` or ``--catalog`` file that does not exist, an unknown option (click's usage
  error, in ``OneLineErrors.make_context``);
* the tap's own fatal errors (``ACTIONABLE_ERRORS``), whose message says what to do.

Unknown setting keys are a warning naming the closest known setting (``unknown_settings``; why
a warning and not an error: docs/reliability.md). The ``--state`` checks are in ``statecheck``.
"""

from __future__ import annotations

import difflib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.plugin_base import SingerCommand
from singer_sdk.singerlib import Catalog
from typing_extensions import override

from tap_mindzpay.capture import CaptureStateError
from tap_mindzpay.launcher import SandboxLaunchError
from tap_mindzpay.paging import PaginationError
from tap_mindzpay.streams import STREAM_TYPES

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

LOGGER = logging.getLogger("tap-mindzpay")


class CatalogError(ValueError):
    """The ``--catalog`` input cannot be used; the message says where and what to do."""


#: Errors whose message is the whole story: printed as one line, without a traceback.
ACTIONABLE_ERRORS = (
    FatalAPIError,
    SandboxLaunchError,
    PaginationError,
    CaptureStateError,
    CatalogError,
)
#: Each stream of the tap and its replication key (a state's bookmarks must match them).
OWN_STREAMS: dict[str, str | None] = {
    stream.name: key if isinstance(key := stream.replication_key, str) else None  # type: ignore[misc]
    for stream in STREAM_TYPES
}
ENV_PREFIX = "TAP_MINDZPAY_"
#: Boolean values of environment variables (the SDK reads any other value as false).
ENV_TRUE = frozenset({"true", "1", "yes", "on"})
ENV_FALSE = frozenset({"false", "0", "no", "off", ""})


def config_file_problem(path: str) -> str | None:
    """Why the ``--config`` file ``path`` cannot be read as a settings object, or ``None``."""
    where = f"config file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{where} was not found"
    except (OSError, UnicodeDecodeError) as exc:
        return f"{where} cannot be read ({type(exc).__name__}: {getattr(exc, 'strerror', exc)})"
    try:
        value = json.loads(text)
    except ValueError as exc:
        # The decoder's message gives the position only, never the text (it may be a secret).
        return (
            f"{where} is not JSON ({getattr(exc, 'msg', 'invalid')} at line "
            f"{getattr(exc, 'lineno', '?')} column {getattr(exc, 'colno', '?')})"
        )
    if not isinstance(value, dict):
        return f"{where} must hold a JSON object of settings, not {type(value).__name__}"
    return None


def _env_kinds(schema: dict[str, Any]) -> dict[str, str]:
    """Settings whose environment value the SDK converts: ``integer``, ``boolean`` or ``json``."""
    kinds: dict[str, str] = {}
    for name, prop in schema.get("properties", {}).items():
        types = prop.get("type", [])
        types = {types} if isinstance(types, str) else set(types)
        if "integer" in types:
            kinds[name] = "integer"
        elif "boolean" in types:
            kinds[name] = "boolean"
        elif "object" in types or (
            "array" in types and prop.get("items", {}).get("type") != "string"
        ):
            kinds[name] = "json"
    return kinds


def env_problems(schema: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Environment variables (``--config ENV``) the SDK cannot convert, one line each.

    The SDK raises a bare ``ValueError`` for an integer or JSON value it cannot parse, naming
    neither the variable nor the setting, and reads any boolean that is not true-ish as false.
    """
    problems = []
    for name, kind in _env_kinds(schema).items():
        variable = ENV_PREFIX + name.upper().replace("-", "_")
        value = environ.get(variable)
        if value is None:
            continue
        where = f"environment variable {variable} (setting {name})"
        if kind == "integer":
            try:
                int(value)
            except ValueError:
                problems.append(f"{where} must be an integer (got {value[:40]!r})")
        elif kind == "boolean" and value.strip().lower() not in ENV_TRUE | ENV_FALSE:
            problems.append(f"{where} must be true or false (got {value[:40]!r})")
        elif kind == "json":
            try:
                json.loads(value)
            except ValueError as exc:
                msg = getattr(exc, "msg", "invalid")
                column = getattr(exc, "colno", "?")
                problems.append(f"{where} must be JSON ({msg} at column {column})")
    return problems


def unknown_settings(config: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """One warning line per setting key the tap does not know, with the closest known key."""
    names = sorted(known)
    lines = []
    for key in sorted(set(config) - set(names)):
        close = difflib.get_close_matches(key.lower().replace("-", "_"), names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        lines.append(f"Unknown setting {key!r} is ignored{hint}")
    return lines


def read_catalog(text: str, source: str) -> Catalog:
    """The catalog in ``text`` (the contents of ``source``), checked before any request.

    Raises:
        CatalogError: Not JSON, not a catalog, or it selects no stream of this tap.
    """
    fix = "run tap-mindzpay --discover for a catalog of this tap and select streams in it"
    try:
        value = json.loads(text)
    except ValueError as exc:
        msg = f"catalog {source} is not JSON ({getattr(exc, 'msg', exc)}); {fix}"
        raise CatalogError(msg) from None
    entries = value.get("streams") if isinstance(value, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("tap_stream_id"), str) for e in entries
    ):
        msg = (
            f"catalog {source} must be an object with a list 'streams' of entries that each "
            f"have a 'tap_stream_id'; {fix}"
        )
        raise CatalogError(msg)
    try:
        catalog = Catalog.from_dict(value)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        msg = f"catalog {source} has an entry the SDK cannot read ({problem:.200}); {fix}"
        raise CatalogError(msg) from None
    # What Stream.selected computes from the entry's metadata.
    selected = [
        name for name, entry in catalog.items() if entry.metadata.resolve_selection().get((), True)
    ]
    foreign = [name for name in selected if name not in OWN_STREAMS]
    if not any(name in OWN_STREAMS for name in selected):
        chosen = f"only {', '.join(foreign)}" if foreign else "no stream"
        msg = (
            f"catalog {source} selects {chosen}, so the run would sync nothing; this tap's "
            f"streams are {', '.join(OWN_STREAMS)}; {fix}"
        )
        raise CatalogError(msg)
    for name in foreign:
        close = difflib.get_close_matches(name, list(OWN_STREAMS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        LOGGER.warning(
            "catalog %s selects stream %r, which this tap does not have%s; it is ignored",
            source,
            name,
            hint,
        )
    return catalog


class OneLineErrors(SingerCommand):
    """CLI errors a user can act on print one line, no traceback, and exit 1 (usage errors: 2).

    Config errors (also from ``--test`` and ``--discover``, which validate in option callbacks)
    and the tap's own fatal errors (credential rejected, API refusal, sandbox launch) carry a
    message that says what to do; a traceback would only hide it. Anything else keeps the SDK's
    traceback, because then the traceback is the useful part.
    """

    def _fail(self, exc: ConfigValidationError) -> click.exceptions.Exit:
        click.echo(f"tap-mindzpay: config error: {'; '.join(exc.errors)}", err=True)
        return click.exceptions.Exit(1)

    @override
    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        # --test and --discover run inside option callbacks, before invoke().
        sys.excepthook = self.excepthook
        try:
            return super().make_context(*args, **kwargs)
        except ConfigValidationError as exc:
            raise self._fail(exc) from None
        except click.UsageError as exc:
            # A --state or --catalog file that does not exist, an unknown option: click would
            # print the usage and a hint over three lines.
            click.echo(
                f"tap-mindzpay: {exc.format_message()} (tap-mindzpay --help lists the options)",
                err=True,
            )
            raise click.exceptions.Exit(exc.exit_code) from None

    @override
    def invoke(self, ctx: click.Context) -> Any:
        logging.captureWarnings(capture=True)
        sys.excepthook = self.excepthook
        try:
            # Skip SingerCommand.invoke: it logs config errors over several lines.
            return click.Command.invoke(self, ctx)
        except ConfigValidationError as exc:
            raise self._fail(exc) from None

    @override
    def excepthook(
        self,
        exc_type: type[BaseException],
        exc_value: BaseException,
        exc_traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc_value, ACTIONABLE_ERRORS):
            self.logger.error("%s", exc_value)
            return
        super().excepthook(exc_type, exc_value, exc_traceback)
