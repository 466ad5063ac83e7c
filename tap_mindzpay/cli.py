"""The command line around a run: bad input as one line, checked before anything starts.

Every input the tap cannot use gets one line naming the file, variable, setting or stream, and
a non-zero exit; no traceback, no usage text, nothing on stdout:

* ``--config`` files that are missing, unreadable, not JSON or not an object
  (``inputs.config_file_problem``, from ``CommandLine.cb_config``);
* settings the tap cannot use, and environment variables of the wrong type for
  ``--config ENV`` (``settings``), checked when the tap is created (``CommandLine.__init__``);
* a ``--catalog`` that is not a catalog, or selects no stream of this tap (``inputs.read_catalog``);
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
import io
import logging
import os
import sys
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.plugin_base import SingerCommand, _ConfigInput
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_mindzpay import personal, settings
from tap_mindzpay.capture.state import CaptureStateError
from tap_mindzpay.capture.statecheck import parse_state_text, require_usable
from tap_mindzpay.client import first_pages_of
from tap_mindzpay.errors import MindzPayAPIError
from tap_mindzpay.inputs import (
    CatalogError,
    config_file_problem,
    read_catalog,
    typed_text_values,
)
from tap_mindzpay.read.paging import PaginationError
from tap_mindzpay.recordwriter import RecordWriter
from tap_mindzpay.run.launcher import SandboxLaunchError
from tap_mindzpay.services import RunServices
from tap_mindzpay.streammaps import maps_of_synced_streams, set_aside_line
from tap_mindzpay.streams import STREAM_TYPES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from types import TracebackType

#: Names the logging config of a run (Meltano sets it); the SDK reads it when the command starts.
LOG_CONFIG_VARIABLE = "SINGER_SDK_LOG_CONFIG"


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

#: Each stream's personal-data properties (``personal``).
PERSONAL_DATA: dict[str, tuple[str, ...]] = {
    stream_type.name: stream_type.personal_data  # type: ignore[misc]
    for stream_type in STREAM_TYPES
    if stream_type.personal_data
}


def state_source(state: object, environ: Mapping[str, str]) -> str:
    """How a state error names the ``--state`` input: its file, or Meltano's state ID.

    Under Meltano the file is a copy in ``.meltano/run/`` that the user never sees; the state
    is kept under the ID ``<environment>:<extractor>-to-<loader>``, whose loader part the
    extractor is not told (Meltano gives a plugin only its own name).
    """
    name = str(getattr(state, "name", "--state"))
    extractor = environ.get("MELTANO_EXTRACTOR_NAME")
    if not extractor:
        return name
    prefix = f"{environ.get('MELTANO_ENVIRONMENT') or '<environment>'}:{extractor}-to-"
    return f"ID {prefix}<loader> (meltano state list '{prefix}*' names it)"


class OneLineErrors(SingerCommand):
    """CLI errors a user can act on print one line, no traceback, and exit 1 (usage errors: 2).

    Config errors (also from ``--test`` and ``--discover``, which validate in option callbacks)
    and the tap's own fatal errors (credential rejected, API refusal, sandbox launch) carry a
    message that says what to do; a traceback would only hide it. Anything else keeps the SDK's
    traceback, because then the traceback is the useful part.
    """

    def _say(self, line: str) -> None:
        """One error line: a log record at error level under a logging config, else plain.

        A logging config (``SINGER_SDK_LOG_CONFIG``, which Meltano sets) means stderr is read as
        log records: a plain line there is shown as an info-level message.
        """
        if LOG_CONFIG_VARIABLE in os.environ:
            self.logger.error("%s", line)
        else:
            click.echo(line, err=True)

    def _fail(self, exc: ConfigValidationError) -> click.exceptions.Exit:
        self._say(f"tap-mindzpay: config error: {'; '.join(exc.errors)}")
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
            self._say(
                f"tap-mindzpay: {exc.format_message()} (tap-mindzpay --help lists the options)"
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
        typed_text_values(self._config, schema)
        # Discovery does not validate (the SDK's ``cb_discover``): nor does it warn.
        errors = settings.validate(self._config, schema, self.logger, warn_unknown=validate)
        errors += personal.unknown_names(self._config.get(personal.SETTING), PERSONAL_DATA)
        if errors and validate:
            raise ConfigValidationError(errors[0], errors=errors, schema=schema)
        # Before the stream maps read the catalog: they must not see what is withheld.
        including = self._config.get(personal.SETTING)
        personal.withhold_in_catalog(self.input_catalog, including, PERSONAL_DATA)
        synced = personal.synced(self.input_catalog, PERSONAL_DATA)
        # Said by the sync, not by the discovery before it (Meltano runs both).
        if validate and (line := personal.left_out_line(including, synced)):
            self.services.notes.append(line)
        if isinstance(maps := self._config.get("stream_maps"), dict):
            kept, aside = maps_of_synced_streams(maps, self.input_catalog, OWN_STREAMS)
            if aside:
                self.logger.info("%s", set_aside_line(aside))
                self._config["stream_maps"] = kept
        if setup_mapper:
            self.setup_mapper()
        if state is not None:
            self.load_state(state)
        self._install_stop()
        self.services.top_level_plan = self._plan_top_level

    def _plan_top_level(self, started: str) -> Callable[[], None] | None:
        """The top-level lists after ``started`` with their first page fetched ahead."""
        pages = first_pages_of(self.streams.values(), started)
        return None if pages is None else pages.close

    def _install_stop(self) -> None:
        """Stop on SIGTERM/SIGINT (``run.stopping``); gathered RECORD lines written before waits."""
        if isinstance(writer := self.message_writer, RecordWriter):
            self.services.stop.before_wait = writer.flush_records
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
            parse_state_text(text, state_source(state, os.environ), OWN_STREAMS)
            kwargs["state"] = io.StringIO(text)
        catalog = kwargs.get("catalog")
        if catalog is not None and not kwargs.get("about"):
            text = catalog.read()
            read_catalog(text, getattr(catalog, "name", "--catalog"), OWN_STREAMS)
            kwargs["catalog"] = io.StringIO(text)
        try:
            super().invoke(*args, **kwargs)
        except BaseException as exc:
            # Also on failure: what was done before the stop, and why it stopped.
            RunServices.close_all(exc)
            raise
        problem = RunServices.nothing_read()
        if problem is not None:
            # Every selected stream was refused: a run that read nothing must not look fine.
            error = MindzPayAPIError(problem)
            RunServices.close_all(error)
            raise error
        RunServices.close_all()
