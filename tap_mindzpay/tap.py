"""TapMindzPay: the settings, their validation, the stream list and the run's shared services.

A run owns one authenticator (one token for every stream), one rate budget and, with
``sandbox: true``, one embedded sandbox process, started on the first need of the API base
(sync, ``--test``; never ``--about`` or ``--discover``) and stopped when the tap exits.
"""

from __future__ import annotations

import copy
import io
import ipaddress
import os
import sys
import threading
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import requests
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities
from singer_sdk.plugin_base import JSONSchemaValidator, _ConfigInput
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_mindzpay import endpoints
from tap_mindzpay.auth import MindzPayAuthenticator
from tap_mindzpay.cli import (
    OWN_STREAMS,
    OneLineErrors,
    config_file_problem,
    env_problems,
    read_catalog,
    unknown_settings,
)
from tap_mindzpay.connection import CheckResult, ConnectionCheck, FirstContact
from tap_mindzpay.fastpath import RecordWriter
from tap_mindzpay.launcher import EmbeddedSandbox
from tap_mindzpay.progress import RunReport
from tap_mindzpay.ratebudget import RateBudget
from tap_mindzpay.statecheck import parse_state_text, require_usable
from tap_mindzpay.streams import STREAM_TYPES

if TYPE_CHECKING:
    from types import FrameType

    import click
    from singer_sdk.streams import Stream

    from tap_mindzpay.client import MindzPayStream


SETTINGS = th.PropertiesList(
    th.Property(
        "api_url",
        th.StringType,
        description="MindzPay API base, https://{platform}.mindz.com.br/api/v2. "
        "Required unless sandbox.",
        examples=["https://escola.mindz.com.br/api/v2"],
    ),
    th.Property(
        "client_id",
        th.StringType,
        description="APP_ID from Configurações > API. Required unless sandbox.",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        description="API_KEY from Configurações > API. Required unless sandbox.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        description="Optional. Uses the refresh_token grant; a rotated token is kept for the run "
        "(and across runs with refresh_token_file).",
    ),
    th.Property(
        "refresh_token_file",
        th.StringType,
        description="Optional. File keeping the latest refresh token across runs: read at start "
        "(wins over refresh_token once it holds one), rewritten when the API rotates it.",
    ),
    th.Property(
        "token_url",
        th.StringType,
        description="OAuth2 token endpoint. Defaults to {api_url}/oauth/token.",
    ),
    th.Property("scope", th.StringType, description="Optional OAuth2 scope."),
    th.Property(
        "account_keys",
        th.ArrayType(th.StringType),
        description="Limit the sync to these account keys. Default: every visible account.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Invoices, payments and subscriptions created before it are not emitted; "
        "accounts always are.",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=endpoints.MAX_PAGE_SIZE),
        default=100,
        description="Records per list request, 1 to 100.",
    ),
    th.Property(
        "user_agent",
        th.StringType,
        description="User-Agent header. Defaults to tap-mindzpay/<version>.",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=64),
        default=8,
        description="Parallel refresh requests, 1 to 64.",
    ),
    th.Property(
        "sweep_interval_hours",
        # Whole hours: Meltano's `decimal` kind turns an env value into a Decimal that it
        # cannot serialise into the tap's config (meltano 4.4), so integers only.
        th.IntegerType(minimum=0),
        default=24,
        description="Hours between full sweeps for merchant edits and deletions; "
        "0 sweeps every run.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=20),
        default=8,
        description="Retries of a transient error (429, 5xx, timeouts), 0 to 20.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=60,
        description="Seconds to wait for one HTTP response.",
    ),
    th.Property(
        "skip_malformed_records",
        th.BooleanType,
        default=False,
        description="Warn and skip a malformed record instead of failing the run.",
    ),
    th.Property(
        "money_as_string",
        th.BooleanType,
        default=False,
        description="Emit money as decimal strings (format x-singer.decimal) for loaders "
        "that store JSON numbers as floats.",
    ),
    th.Property(
        "sandbox",
        th.BooleanType,
        default=False,
        description="Run against an embedded MindzPay sandbox started as a subprocess.",
    ),
    th.Property(
        "sandbox_db",
        th.StringType,
        description="SQLite file for the embedded sandbox (a persistent world); "
        "in-memory if unset.",
    ),
)
_OWN_SETTINGS = frozenset(SETTINGS.to_dict()["properties"])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(config: dict[str, Any], name: str) -> str | None:
    """Why setting ``name`` is not a usable URL (https, or http on loopback), or ``None``."""
    value = config.get(name)
    if value is None:
        return None
    parts = urlsplit(str(value))
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"setting {name} must be a URL such as https://escola.mindz.com.br/api/v2"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return f"setting {name} must use https (plain http is only allowed for 127.0.0.1)"
    if parts.username or parts.password or parts.query:
        return f"setting {name} must not carry credentials or a query string"
    return None


def check_settings(config: dict[str, Any]) -> list[str]:
    """Problems no JSON schema can express, one line each, naming the setting."""
    if config.get("sandbox") is True:
        if config.get("api_url"):
            return [
                (
                    "settings sandbox and api_url are both set: set sandbox to false to sync "
                    "api_url, or unset api_url to use the embedded sandbox"
                )
            ]
        return []
    missing = [name for name in ("api_url", "client_id", "client_secret") if not config.get(name)]
    if missing:
        return [
            f"setting {name} is required (or set sandbox to true for the embedded demo)"
            for name in missing
        ]
    return [e for e in (check_url(config, "api_url"), check_url(config, "token_url")) if e]


def check_start_date(config: dict[str, Any]) -> list[str]:
    """``start_date`` must be an ISO 8601 date-time (the schema's format is not enforced)."""
    value = config.get("start_date")
    if value is None:
        return []
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return [
            (
                "setting start_date must be an ISO 8601 date-time such as "
                f"2026-01-01T00:00:00-03:00 (got {value!r})"
            )
        ]
    return []


#: SDK features this tap does not offer, the setting that would ask for each, and why not.
UNSUPPORTED_SETTINGS = {
    "batch_config": (
        "BATCH messages are not supported (a STATE could move a bookmark past records not yet "
        "in a batch file); remove batch_config"
    ),
    "emit_activate_version_messages": (
        "ACTIVATE_VERSION messages are not supported; remove emit_activate_version_messages"
    ),
}


def check_unsupported(config: dict[str, Any]) -> list[str]:
    """One line per SDK setting that asks for a feature this tap does not advertise."""
    return [
        f"setting {name}: {why}"
        for name, why in UNSUPPORTED_SETTINGS.items()
        if config.get(name) not in (None, False)
    ]


def _schema_error_line(error: Any) -> str:  # noqa: ANN401 - a jsonschema ValidationError
    setting = ".".join(str(part) for part in error.absolute_path) or "(config)"
    value = error.instance if not isinstance(error.instance, (dict, list)) else "..."
    if setting in {"client_secret", "refresh_token"}:
        value = "***"
    return (
        f"setting {setting}: {error.message.replace(repr(error.instance), 'value')} (got {value!r})"
    )


class TapMindzPay(Tap):
    """Singer tap for MindzPay: accounts, invoices, payments and subscriptions."""

    name = "tap-mindzpay"
    config_jsonschema: ClassVar[dict[str, Any]] = SETTINGS.to_dict()
    #: What the tap offers (``--about``; meltano.yml and the Hub definition list the same).
    #: Not the SDK's ``batch`` (BATCH files written while STATE moves on could carry a bookmark
    #: past records not yet announced, and the bundled targets cannot read BATCH) nor
    #: ``activate-version`` (no stream emits ACTIVATE_VERSION). ``check_unsupported`` refuses a
    #: config that asks for either.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.TEST,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]
    #: Performance lever: the SDK's msgspec writer serialises messages about four
    #: times faster than its default simplejson one; same JSON values (Decimal money stays an
    #: exact number). ``RecordWriter`` adds the fast record path (``fastpath``) to it.
    #: tests/test_fastpath_equivalence.py compares it with the default writer.
    message_writer_class = RecordWriter

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        # A warning, not an error: see docs/reliability.md (unknown setting keys). The SDK
        # settings this tap refuses (``UNSUPPORTED_SETTINGS``) get their own error line instead.
        known = [*schema["properties"], *UNSUPPORTED_SETTINGS]
        for line in unknown_settings(self._config, known):
            self.logger.warning("%s", line)
        # The SDK's validator also fills in the settings' defaults.
        errors = [
            _schema_error_line(e) for e in JSONSchemaValidator(schema).iter_errors(self._config)
        ]
        errors += check_unsupported(self._config)
        errors += check_settings(self._config) + check_start_date(self._config)
        if errors and raise_errors:
            raise ConfigValidationError(errors[0], errors=errors, schema=schema)
        return errors

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
        result = tap.check_connection()
        if not result.ok:
            cls.logger.error("Connection check failed: %s", result.message)
            ctx.exit(result.exit_code)
        cls.logger.info("Connection check: %s", result.message)
        tap.run_connection_test()
        ctx.exit()

    def check_connection(self) -> CheckResult:
        """Obtain a token and list the visible accounts (see ``connection``)."""
        auth = self.authenticator
        demo = bool(self.config.get("sandbox"))
        return ConnectionCheck(
            api_base=self.api_base,
            token_url=auth.token_url,
            client_id=auth.client_id,
            client_secret=self.config.get("client_secret")
            or (endpoints.SANDBOX_CLIENT_SECRET if demo else ""),
            scope=self.config.get("scope"),
            account_keys=tuple(self.config.get("account_keys") or ()),
            token_url_configured=bool(self.config.get("token_url")),
            timeout=float(self.config["request_timeout"]),
            user_agent=self.config.get("user_agent") or f"tap-mindzpay/{self.plugin_version}",
        ).run()

    @override
    def discover_streams(self) -> list[Stream]:
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    # -- the run's shared services (see client.MindzPayServices) --------------------------

    #: Sandboxes of this process's taps, stopped when the CLI invocation ends.
    _sandboxes: ClassVar[list[EmbeddedSandbox]] = []

    def __init__(self, **kwargs: Any) -> None:  # noqa: ANN401 - passed through to the SDK
        """Create the tap (see ``singer_sdk.Tap``); nothing is started here.

        Raises:
            ConfigValidationError: An environment variable (``--config ENV``) has a value of
                the wrong type; the line names the variable.
        """
        self._sandbox_lock = threading.Lock()
        try:
            super().__init__(**kwargs)
        except (ValueError, ConfigValidationError):
            # Also a config error: a boolean variable the SDK read as false may be its cause.
            if kwargs.get("parse_env_config"):
                self._raise_env_problems()
            raise
        if kwargs.get("parse_env_config"):
            self._raise_env_problems()

    def _raise_env_problems(self) -> None:
        """Raise for the first unusable environment variable (the SDK has loaded ``.env``)."""
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)
        if problems := env_problems(schema, os.environ):
            raise ConfigValidationError(problems[0], errors=problems) from None

    @cached_property
    def first_contact(self) -> FirstContact:
        """The hosts that answered during this run (a first refusal stops it at once)."""
        configured = "api_url and token_url" if self.config.get("token_url") else "api_url"
        if self.config.get("sandbox"):
            configured = "sandbox (the embedded sandbox did not answer)"
        return FirstContact(settings=configured)

    @cached_property
    def embedded_sandbox(self) -> EmbeddedSandbox | None:
        """The embedded sandbox when ``sandbox: true`` (not started until needed)."""
        if not self.config.get("sandbox"):
            return None
        sandbox = EmbeddedSandbox(db=self.config.get("sandbox_db"))
        self._sandboxes.append(sandbox)
        return sandbox

    @property
    def api_base(self) -> str:
        """The API base URL; starts the embedded sandbox on first use when configured."""
        sandbox = self.embedded_sandbox
        if sandbox is None:
            return str(self.config["api_url"]).rstrip("/")
        with self._sandbox_lock:
            return sandbox.start() + endpoints.SANDBOX_API_PATH

    @cached_property
    def authenticator(self) -> MindzPayAuthenticator:
        """The one authenticator of the run (demo credentials for the embedded sandbox)."""
        config = self.config
        demo = bool(config.get("sandbox"))
        return MindzPayAuthenticator(
            token_url=config.get("token_url") or self.api_base + endpoints.TOKEN_PATH,
            client_id=config.get("client_id") or (endpoints.SANDBOX_CLIENT_ID if demo else ""),
            client_secret=config.get("client_secret")
            or (endpoints.SANDBOX_CLIENT_SECRET if demo else ""),
            refresh_token=config.get("refresh_token"),
            refresh_token_file=Path(config["refresh_token_file"]).expanduser()
            if config.get("refresh_token_file")
            else None,
            scope=config.get("scope"),
            timeout=float(config["request_timeout"]),
            user_agent=config.get("user_agent") or f"tap-mindzpay/{self.plugin_version}",
            max_attempts=int(config["max_retries"]) + 1,
            session=self._token_session(),
        )

    def _token_session(self) -> requests.Session:
        """The token endpoint's session, sharing the run's first-contact rule (``connection``)."""
        session = requests.Session()
        adapter = self.first_contact.adapter(max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    @cached_property
    def rate_budget(self) -> RateBudget:
        """The one rate budget of the run, shared by every stream and thread."""
        return RateBudget()

    #: Run reports of this process's taps, summarised when the CLI invocation ends.
    _run_reports: ClassVar[list[RunReport]] = []

    @cached_property
    def run_report(self) -> RunReport:
        """Progress lines and the run summary (``progress``), one per run."""
        # The authenticator as created by the run, if it was (never start a sandbox for it).
        report = RunReport(
            token_requests=lambda: getattr(self.__dict__.get("authenticator"), "token_requests", 0)
        )
        self._run_reports.append(report)
        return report

    #: The signal that asked this run to stop; ``None`` while it runs.
    stop_signal: int | None = None
    #: The stream waiting between requests in the main thread (``client.MindzPayServices``).
    sleeping_stream: MindzPayStream | None = None

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: stop before the next API request, after a STATE safe to resume from.

        The handler writes nothing by itself. It runs between two bytecodes of the main
        thread, which may be in the middle of writing a RECORD: a STATE written from here can
        fail (seen: ``BufferError`` from the msgspec writer interrupted while encoding), and
        one written at an arbitrary point may carry a bookmark past records whose capture
        state is not in it yet. The streams' request path checks ``stop_signal`` before every
        request, where nothing is half done, writes the STATE there and exits with 128 + the
        signal (``client.MindzPayStream.stop_if_asked``); if the main thread is waiting before
        a retry or for a token (up to a minute, or a long ``Retry-After``), that happens now,
        from here. A second signal exits at once; the last STATE written is then the one to
        resume from (every STATE the tap writes is).
        """
        if self.stop_signal is not None:
            self.logger.error(
                "Stopped by a second signal %d at once; the last STATE written is safe to "
                "resume from.",
                signum,
            )
            sys.exit(128 + signum)
        self.stop_signal = signum
        self.logger.warning(
            "Signal %d: stopping before the next API request, after writing a final STATE "
            "(a second signal stops at once).",
            signum,
        )
        sleeping = self.sleeping_stream
        if sleeping is not None:
            sleeping.stop_if_asked()

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """Check the state's shape (``statecheck``) before the SDK merges it.

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
            while cls._run_reports:
                cls._run_reports.pop(0).log_summary(exc)
            raise
        else:
            while cls._run_reports:
                cls._run_reports.pop(0).log_summary()
        finally:
            # atexit stops them too; this also covers errors raised out of the sync.
            while cls._sandboxes:
                cls._sandboxes.pop().stop()


if __name__ == "__main__":
    sys.exit(TapMindzPay.cli())
