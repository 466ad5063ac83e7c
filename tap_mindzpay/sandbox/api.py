"""The sandbox's API: the MindzPay v2 routes and the Mindz platform routes under `/api/v2`.

Each request passes, in order: the per-request faults that replace an answer (reset, 5xx, 429),
the Bearer token and its rate limit, the faults that refuse an authorised request (403, an error
that repeats secrets), the running clock's catch-up, and the answer. List pages are built by
joining each record's cached JSON bytes, in the contract's envelope (`data`, `meta`).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from tap_mindzpay.sandbox import platform, school
from tap_mindzpay.sandbox.messages import ApiError, Reply
from tap_mindzpay.sandbox.tokens import RateLimitedError

if TYPE_CHECKING:
    from tap_mindzpay.sandbox.messages import Request
    from tap_mindzpay.sandbox.server import Sandbox

PREFIX = "/api/v2"
SORTS = {
    "accounts": ("id", "created_at"),
    "invoices": ("id", "created_at", "amount", "status"),
    "payments": ("id", "created_at", "amount", "status"),
    "subscriptions": ("id", "created_at", "customer_email", "active"),
    **platform.SORTS,
    **school.SORTS,
}
_ACCOUNT = r"/mindzpay/accounts/(?P<owner>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/mindzpay/accounts"), "accounts"),
    ("GET", re.compile(r"/mindzpay/accounts/(?P<id>\d+)"), "account"),
    ("GET", re.compile(rf"{_ACCOUNT}/(?P<stream>invoices|payments)"), "list"),
    ("GET", re.compile(rf"{_ACCOUNT}/(?P<stream>invoices|payments)/(?P<id>\d+)"), "get"),
    ("POST", re.compile(rf"{_ACCOUNT}/invoices/(?P<id>\d+)/refresh"), "refresh"),
    ("GET", re.compile(r"/mindzpay/accounts/(?P<owner>\d+)/(?P<stream>subscriptions)"), "list"),
    (
        "GET",
        re.compile(r"/mindzpay/accounts/(?P<owner>\d+)/(?P<stream>subscriptions)/(?P<id>\d+)"),
        "get",
    ),
    *platform.ROUTES,
    *school.ROUTES,
]
TEMPLATES = {
    "accounts": "/mindzpay/accounts",
    "account": "/mindzpay/accounts/{account_id}",
    "refresh": "/mindzpay/accounts/{account_key}/invoices/{invoice_id}/refresh",
}


def answer(app: Sandbox, request: Request, *, busy: bool = False) -> Reply:
    """Answer one API request (`request.path` below `/api/v2`), counting it in the stats.

    `busy`: too many requests are being served (`max_in_flight`): a 429, counted as such.
    """
    method, path = request.method, request.path
    for route_method, pattern, kind in ROUTES:  # noqa: B007 - kind is used after the loop
        match = pattern.fullmatch(path)
        if match and route_method == method:
            break
    else:
        return Reply.error(404, "not_found", f"No route {method} {path}")
    params = match.groupdict()
    key = f"{method} {template(kind, params)}"
    reply = app.faults.busy() if busy else _answer(app, request, kind, params)
    app.count(key, reply.status)
    return reply


def _answer(app: Sandbox, request: Request, kind: str, params: dict[str, str]) -> Reply:
    instead = app.faults.answer_instead()
    if instead is not None:
        return instead
    if app.faults.revoke_due():
        app.tokens.revoke_all()
    now = app.world.now.timestamp()
    try:
        headers = app.faults.rate_headers(app.tokens.authorize(request.authorization), now)
    except RateLimitedError as limited:
        rate = app.faults.rate_headers(limited.headers, now)
        return Reply.error(429, "rate_limited", "Rate limit exceeded", rate)
    except ApiError as err:
        return err.reply()
    refused = _refused(app, request, kind, params)
    if refused is not None:
        refused.headers.update(headers)
        return refused
    app.clock.tick()
    try:
        body = _body(app, kind, params, request.query)
    except ApiError as err:
        return err.reply(headers)
    faults = app.faults
    if faults.roll("truncated"):
        body = body[: len(body) // 2]
    slow = faults.value("slow_seconds", 5.0) if faults.roll("slow_body") else 0.0
    return Reply(200, body, headers, slow=slow)


def _refused(app: Sandbox, request: Request, kind: str, params: dict[str, str]) -> Reply | None:
    """The faults that refuse an authorised request (4xx), if one strikes."""
    denied = int(app.faults.value("forbidden_account_id", 0))
    if denied and "owner" in params and _account_id(app, params["owner"]) == denied:
        app.faults.count("forbidden_account_id")
        message = f"The API credential has no permission on MindzPay account {denied}"
        return Reply.error(403, "forbidden", message)
    echoed = _careless(app, request)
    if echoed is not None:
        return echoed
    if kind == "accounts" and app.faults.roll("forbidden_accounts"):
        message = "The API credential has no permission on MindzPay accounts"
        return Reply.error(403, "forbidden", message)
    stream = params.get("stream", "")
    if kind.startswith("platform_") and app.faults.listed("forbidden_resources", stream):
        message = f"The API credential has no permission on {stream}"
        return Reply.error(403, "forbidden", message)
    poisoned = stream == "invoices" or kind == "refresh"
    if poisoned and "id" in params and app.faults.listed("poison_invoices", int(params["id"])):
        return Reply.error(500, "server_error", "Internal error refreshing the invoice")
    return None


def _careless(app: Sandbox, request: Request) -> Reply | None:
    """The faults of a careless API whose errors repeat what they should not, if one strikes."""
    if app.faults.roll("echo_secret"):
        return Reply.json(400, {"error": _echo_secret(app, request)})
    if app.faults.roll("echo_personal"):
        return Reply.error(422, "invalid_request", _echo_personal(app))
    return None


def _account_id(app: Sandbox, owner: str) -> int | None:
    """The account id of a path's owner (an account key, or an id for subscriptions)."""
    if owner.isdigit():
        return int(owner)
    with app.world.lock:
        account = app.world.account_by_key(owner)
    return int(account["id"]) if account else None


def _echo_personal(app: Sandbox) -> str:
    """A careless API's validation error: it quotes a user's CPF/CNPJ and e-mail address."""
    with app.world.lock:
        users = app.world.records["users"]
        user = users[min(users)] if users else {"cpf_cnpj": "12345678909", "email": "a@b.com.br"}
        document, email = user["cpf_cnpj"], user["email"]
    return f"Client {document} ({email}) has an invalid document for this operation"


def _echo_secret(app: Sandbox, request: Request) -> dict[str, str]:
    """A careless API's error: it repeats the client's credentials in its text and a URL."""
    client_id, client_secret = app.config.client_id, app.config.client_secret
    bearer = (request.authorization or "").removeprefix("Bearer ")
    url = (
        f"{PREFIX}/oauth/token?client_id={client_id}"
        f"&client_secret={client_secret}&access_token={bearer}"
    )
    message = (
        f"Request rejected for Authorization: Bearer {bearer} "
        f"(client {client_id}, secret {client_secret}); retry at {url}"
    )
    return {"code": "bad_request", "message": message, "url": url}


def template(kind: str, params: dict[str, str]) -> str:
    """The endpoint template a request is counted under (`/mindzpay/accounts/{account_key}/…`)."""
    if kind in TEMPLATES:
        return TEMPLATES[kind]
    if kind.startswith("school_"):
        return school.template(kind, params)
    stream = params["stream"]
    if kind.startswith("platform_"):
        return platform.template(kind, stream)
    owner = "{account_id}" if stream == "subscriptions" else "{account_key}"
    suffix = "" if kind == "list" else f"/{{{stream[:-1]}_id}}"
    return f"/mindzpay/accounts/{owner}/{stream}{suffix}"


def _body(app: Sandbox, kind: str, params: dict[str, str], query: dict[str, str]) -> bytes:
    world = app.world
    with world.lock:
        if kind == "accounts":
            return _page(app, "accounts", "all", query)
        if kind in {"account", "platform_get"}:
            stream = params.get("stream", "accounts")
            if int(params["id"]) not in world.records[stream]:
                raise ApiError(404, "not_found", f"{stream[:-1].capitalize()} not found")
            return world.record_json(stream, int(params["id"]))
        if kind == "platform_list":
            return _page(app, params["stream"], "all", query)
        if kind.startswith("school_"):
            return _school(app, kind, params, query)
        stream, owner = params.get("stream", "invoices"), params["owner"]
        _check_owner(app, stream, owner)
        if kind == "list":
            shifting = stream == "invoices" and query.get("offset", "0") != "0"
            if shifting and app.faults.roll("shift_pages"):
                world.shift_partition(app.faults.rng, stream, owner)
            return _page(app, stream, owner, query)
        record_id = int(params["id"])
        record = world.records[stream].get(record_id)
        if record is None or world.owner(stream, record) != owner:
            raise ApiError(404, "not_found", f"{stream[:-1].capitalize()} not found")
        if kind == "refresh":
            app.refreshed(
                {"account_key": owner, "invoice_id": record_id, "status_before": record["status"]}
            )
            world.refresh_invoice(record_id)
        return world.record_json(stream, record_id)


def _school(app: Sandbox, kind: str, params: dict[str, str], query: dict[str, str]) -> bytes:
    """A school list (one partition: its parent's children) or one record of it."""
    world = app.world
    stream = school.stream_of(kind, params)
    owner = school.owner(world, stream, params)
    if kind.startswith("school_list"):
        return _page(app, stream, owner, query)
    record = world.records[stream].get(int(params["id"]))
    if record is None or world.owner(stream, record) != owner:
        raise ApiError(404, "not_found", f"{stream.replace('_', ' ').capitalize()[:-1]} not found")
    return world.record_json(stream, int(params["id"]))


def _check_owner(app: Sandbox, stream: str, owner: str) -> None:
    world = app.world
    if stream == "subscriptions":
        if int(owner) not in world.records["accounts"]:
            raise ApiError(404, "not_found", "Account not found")
    elif world.account_by_key(owner) is None:
        raise ApiError(404, "not_found", "Account not found")


def _page(app: Sandbox, stream: str, owner: str, query: dict[str, str]) -> bytes:
    world = app.world
    limit = int_param(query, "limit", 50, 1, 100)
    cap = int(app.faults.value("page_cap", 0))
    if cap and limit > cap:
        limit = cap  # an API that caps limit below what was asked (and says so in meta)
        app.faults.count("page_cap")
    offset = int_param(query, "offset", 0, 0, None)
    sort_by = query.get("sort_by", "id")
    direction = query.get("sort_direction", "asc")
    if sort_by not in SORTS[stream]:
        raise ApiError(422, "invalid_parameter", f"sort_by must be one of {SORTS[stream]}")
    if direction not in {"asc", "desc"}:
        raise ApiError(422, "invalid_parameter", "sort_direction must be asc or desc")
    ids = world.sorted_ids(stream, owner, sort_by)
    if stream == "invoices" and app.faults.lists.get("list_hides"):
        # A list that lags behind or filters: the records are live (Get serves them).
        ids = [i for i in ids if not app.faults.listed("list_hides", i)]
    search = query.get("search", "").lower()
    if search:
        ids = [i for i in ids if search in world.record_json(stream, i).decode().lower()]
    if direction == "desc":
        ids = ids[::-1]
    chosen = ids[offset : offset + limit]
    parts = [world.record_json(stream, i) for i in chosen]
    if parts and app.faults.roll("malformed"):
        parts[len(parts) // 2] = app.faults.malform(parts[len(parts) // 2])
    meta = json.dumps({"total": len(ids), "limit": limit, "offset": offset}).encode()
    return b'{"data":[' + b",".join(parts) + b'],"meta":' + meta + b"}"


def int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    """An integer query parameter within bounds (422 `invalid_parameter` otherwise)."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ApiError(422, "invalid_parameter", f"{name} must be {bound}")
    return value
