"""The settings: their list (the config schema), and their validation as one line each.

Every problem names the setting (or the environment variable) and what to do; secrets are
never quoted. Unknown setting keys are a warning naming the closest known one (why a warning and
not an error: docs/reliability.md).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from singer_sdk import typing as th
from singer_sdk.plugin_base import JSONSchemaValidator

from tap_mindzpay import endpoints
from tap_mindzpay.timestamps import parse_timestamp

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping

ENV_PREFIX = "TAP_MINDZPAY_"
#: Boolean values of environment variables (the SDK reads any other value as false).
ENV_TRUE = frozenset({"true", "1", "yes", "on"})
ENV_FALSE = frozenset({"false", "0", "no", "off", ""})
#: Settings whose value is a secret, never quoted in an error.
SECRET_SETTINGS = frozenset({"client_secret", "refresh_token"})
#: Requests in flight at once, at most (refreshes, pages ahead), learnt from the answers below
#: it (``http.concurrency``). Latency-bound: at 100 ms 32 in flight reach 320 requests/s, more
#: than most rate limits (the rate budget enforces them); a near API is CPU-bound anyway.
DEFAULT_MAX_CONCURRENCY = 32
DEFAULT_ADAPTIVE_CONCURRENCY = True
#: The other defaults, each written only here (page size, sweep hours, retries, timeout).
DEFAULT_PAGE_SIZE = endpoints.MAX_PAGE_SIZE
DEFAULT_SWEEP_INTERVAL_HOURS = 24
DEFAULT_MAX_RETRIES = 8
DEFAULT_REQUEST_TIMEOUT = 60

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
        default=DEFAULT_PAGE_SIZE,
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
        default=DEFAULT_MAX_CONCURRENCY,
        description="Requests in flight at once (refreshes, and list pages fetched ahead), "
        "1 to 64; the API's rate limit still caps requests per second.",
    ),
    th.Property(
        "adaptive_concurrency",
        th.BooleanType,
        default=DEFAULT_ADAPTIVE_CONCURRENCY,
        description="Learn how many requests to keep in flight from the API's answers (fewer "
        "on 429s, 503s and rising latency, more while it keeps up), never above "
        "max_concurrency; off, always max_concurrency.",
    ),
    th.Property(
        "sweep_interval_hours",
        # Whole hours: Meltano's `decimal` kind turns an env value into a Decimal that it
        # cannot serialise into the tap's config (meltano 4.4), so integers only.
        th.IntegerType(minimum=0),
        default=DEFAULT_SWEEP_INTERVAL_HOURS,
        description="Hours between full sweeps for merchant edits and deletions, and the "
        "longest a record in flight goes unrefreshed; 0 sweeps and refreshes every run.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=20),
        default=DEFAULT_MAX_RETRIES,
        description="Retries of a transient error (429, 5xx, timeouts), 0 to 20.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=DEFAULT_REQUEST_TIMEOUT,
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
        "include_personal_data",
        # true or a list: Meltano's array kind passes a YAML true through as a boolean.
        th.CustomType({"type": ["boolean", "array"], "items": {"type": "string"}}),
        default=False,
        description="Emit personal data (LGPD): true for all, or a list of properties such "
        "as users.phone. Off: never emitted, whatever the catalog selects.",
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


def concurrency(config: Mapping[str, Any]) -> int:
    """Requests in flight at once, at most (``max_concurrency``): pages ahead, refreshes."""
    return int(config.get("max_concurrency", DEFAULT_MAX_CONCURRENCY))


def validate(
    config: dict[str, Any],
    schema: dict[str, Any],
    logger: logging.Logger,
    *,
    warn_unknown: bool = True,
) -> list[str]:
    """Every problem of ``config`` against ``schema`` and the rules below, one line each.

    Unknown keys are logged as warnings (unless ``warn_unknown`` is false: ``--discover``,
    which Meltano runs before each run with the same config, so a typo is named once per run).
    The SDK's validator also fills in the defaults.
    """
    # A warning, not an error: see docs/reliability.md (unknown setting keys). The SDK settings
    # this tap refuses (``UNSUPPORTED_SETTINGS``) get their own error line instead.
    unknown = unknown_settings(config, [*schema["properties"], *UNSUPPORTED_SETTINGS])
    for line in unknown if warn_unknown else ():
        logger.warning("%s", line)
    errors = [_schema_error_line(e) for e in JSONSchemaValidator(schema).iter_errors(config)]
    errors += check_unsupported(config)
    return errors + check_settings(config) + check_start_date(config)


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
        parse_timestamp(str(value))
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
    if setting in SECRET_SETTINGS:
        value = "***"
    return (
        f"setting {setting}: {error.message.replace(repr(error.instance), 'value')} (got {value!r})"
    )


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
