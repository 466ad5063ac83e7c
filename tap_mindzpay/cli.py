"""The command line around a run: bad input as one line, checked before anything starts.

Every input the tap cannot use gets one line naming the file, variable, setting or stream, and
a non-zero exit; no traceback, no usage text, nothing on stdout:

* ``--config`` files that are missing, unreadable, not JSON or not an object
  (``config_file_problem``, from ``CommandLine.cb_config``);
* settings the tap cannot use, and environment variables of the wrong type for
  ``--config ENV`` (``settings``), checked when the tap is created (``CommandLine.__init__``);
* a ``--catalog`` that is not a catalog, or selects no stream of this tap (``read_catalog``);
  a selected stream the tap does not have, next to ones it has, is named in a warning;
* a ``--state`` that the tap cannot resume from (``capture.statecheck``);
* a ``--state`` or ``--catalog`` file that does not exist, an unknown option (click's usage
  error, in ``OneLineErrors.make_context``);
* the tap's own fatal errors (``ACTIONABLE_ERRORS``), whose message says what to do.

When the command ends (also on failure), each run logs its summary: what was done, and why it
stopped (``summary``).
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import io
import json
import logging
import os
import sys
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.plugin_base import SingerCommand, _ConfigInput
from singer_sdk.singerlib import Catalog
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_mindzpay import settings
from tap_mindzpay.capture.state import CaptureStateError
from tap_mindzpay.capture.statecheck import parse_state_text, require_usable
from tap_mindzpay.launcher import SandboxLaunchError
from tap_mindzpay.paging import PaginationError
from tap_mindzpay.services import RunServices
from tap_mindzpay.streams import STREAM_TYPES

if TYPE_CHECKING:
    from collections.abc import Iterator
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


#: What the SDK logs when its own pass over the settings finds a problem; the tap's validation
#: (``settings.validate``) reports each problem as one line instead.
SDK_VALIDATION_SUMMARY = "Config validation failed"


@contextlib.contextmanager
def _sdk_summary_dropped(logger: logging.Logger) -> Iterator[None]:
    def keep(record: logging.LogRecord) -> bool:
        return record.getMessage() != SDK_VALIDATION_SUMMARY

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


class CommandLine(Tap):
    """The tap's command line: settings checked as one line each, input pre-checked, summary.

    Mixed into ``TapMindzPay``.
    """

    @cached_property
    def services(self) -> RunServices:
        """What every stream of this run shares (created on first use; nothing starts here)."""
        return RunServices(self.config, self.logger)

    def __init__(self, **kwargs: Any) -> None:  # noqa: ANN401 - passed through to the SDK
        """Create the tap (see ``singer_sdk.Tap``), its settings checked; nothing is started.

        The SDK's own pass over the settings fills in their defaults; the tap's validation
        (``settings.validate``) then decides, before stream maps and state are read.

        Raises:
            ConfigValidationError: A setting (or, with ``--config ENV``, an environment
                variable) cannot be used; the first line names it.
        """
        validate = kwargs.pop("validate_config", True)
        setup_mapper = kwargs.pop("setup_mapper", True)
        state = kwargs.pop("state", None) if isinstance(kwargs.get("state"), dict) else None
        parse_env = bool(kwargs.get("parse_env_config"))
        try:
            with _sdk_summary_dropped(self.logger):
                super().__init__(validate_config=False, setup_mapper=False, **kwargs)
        except (ValueError, ConfigValidationError):
            # Also a config error: a boolean variable the SDK read as false may be its cause.
            if parse_env:
                self._raise_env_problems()
            raise
        if parse_env:
            self._raise_env_problems()
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        errors = settings.validate(self._config, schema, self.logger)
        if errors and validate:
            raise ConfigValidationError(errors[0], errors=errors, schema=schema)
        if setup_mapper:
            self.setup_mapper()
        if state is not None:
            self.load_state(state)
        self.services.stop.install()

    def _raise_env_problems(self) -> None:
        """Raise for the first unusable environment variable (the SDK has loaded ``.env``)."""
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)
        if problems := settings.env_problems(schema, os.environ):
            raise ConfigValidationError(problems[0], errors=problems) from None

    @override
    @classmethod
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        return OneLineErrors(
            name=command.name,
            callback=command.callback,
            params=command.params,
            help=command.help,
            context_settings=command.context_settings,
            logger=cls.logger,
        )

    @override
    @classmethod
    def cb_config(
        cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]
    ) -> _ConfigInput:
        """``--config``: each file must exist and hold a JSON object (one line if not).

        Raises:
            ConfigValidationError: A file is missing, unreadable, not JSON or not an object.
        """
        for path in value:
            if path != "ENV" and (problem := config_file_problem(path)):
                raise ConfigValidationError(problem, errors=[problem])
        return super().cb_config(ctx, param, value)

    @override
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """``--test``: the connection check (``connection``), then the SDK's record test."""
        if value != CliTestOptionValue.All.value:
            super().cb_test(ctx, param, value)
            return
        config: _ConfigInput = ctx.params.get("config", _ConfigInput())
        tap = cls(config=config.config, parse_env_config=config.parse_env, validate_config=True)
        result = tap.services.check_connection()
        if not result.ok:
            cls.logger.error("Connection check failed: %s", result.message)
            ctx.exit(result.exit_code)
        cls.logger.info("Connection check: %s", result.message)
        tap.run_connection_test()
        ctx.exit()

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """Check the state's shape (``capture.statecheck``) before the SDK merges it.

        Raises:
            StateError: The state cannot be used; one line says where and why.
        """
        super().load_state(require_usable(state, "input", OWN_STREAMS))

    @override
    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        state = kwargs.get("state")
        if state is not None:
            # The SDK would read any JSON value here: a list ends in a traceback, null or an
            # empty list in a silent full resync. Only a state object of this tap passes.
            text = state.read()
            parse_state_text(text, getattr(state, "name", "--state"), OWN_STREAMS)
            kwargs["state"] = io.StringIO(text)
        catalog = kwargs.get("catalog")
        if catalog is not None and not kwargs.get("about"):
            text = catalog.read()
            read_catalog(text, getattr(catalog, "name", "--catalog"))
            kwargs["catalog"] = io.StringIO(text)
        try:
            super().invoke(*args, **kwargs)
        except BaseException as exc:
            # Also on failure: what was done before the stop, and why it stopped.
            RunServices.close_all(exc)
            raise
        RunServices.close_all()
