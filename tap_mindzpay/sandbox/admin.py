"""The sandbox's admin endpoints under `/_sandbox/`: truth, logs, clock, faults and stats.

What tests and benchmarks use to know what a client should have seen and to steer the world.
No auth and never faulted. A bad parameter or body is a 422 `invalid_parameter`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tap_mindzpay.sandbox import data
from tap_mindzpay.sandbox.api import int_param
from tap_mindzpay.sandbox.clock import boleto_paid_at
from tap_mindzpay.sandbox.data import ts
from tap_mindzpay.sandbox.faults import FaultError
from tap_mindzpay.sandbox.messages import ApiError, Reply
from tap_mindzpay.sandbox.world import ACCOUNT_STREAMS, ALL_STREAMS, IN_FLIGHT, STREAMS

if TYPE_CHECKING:
    from collections.abc import Callable

    from tap_mindzpay.sandbox.messages import Request
    from tap_mindzpay.sandbox.server import Sandbox

Answer = tuple[int, Any]
MAX_ADVANCE_SECONDS = 86400 * 30
MAX_OVERDUE_DAYS = 3650
SALE_TO_DUE_DAYS = 3  # a boleto is due three days after its sale
ISSUED, CANCELLING, CANCELLED = 2, 4, 5


def answer(app: Sandbox, request: Request) -> Reply:
    """Answer one admin request (`request.path` below `/_sandbox/`)."""
    endpoint = ENDPOINTS.get((request.method, request.path.split("/", maxsplit=1)[0]))
    if endpoint is None:
        return Reply.error(404, "not_found", "Unknown admin path")
    try:
        status, payload = endpoint(app, request)
    except (ValueError, TypeError, FaultError, ApiError) as err:
        status, payload = 422, {"error": {"code": "invalid_parameter", "message": str(err)}}
    return Reply.json(status, payload)


def _not_found(message: str) -> Answer:
    return 404, {"error": {"code": "not_found", "message": message}}


def advance(app: Sandbox, request: Request) -> Answer:
    """`POST advance?seconds=N`: move the clock; what the moves applied, by kind."""
    seconds = float(request.query.get("seconds", "0"))
    if not 0 <= seconds <= MAX_ADVANCE_SECONDS:
        msg = f"seconds must be between 0 and {MAX_ADVANCE_SECONDS}"
        raise ValueError(msg)
    applied = app.clock.advance(seconds)
    app.save()
    return 200, {"clock": ts(app.world.now), "applied": applied}


def truth(app: Sandbox, request: Request) -> Answer:
    """`GET truth/{stream}`: every live record as it reads after refreshing the in-flight."""
    stream = request.path.partition("/")[2]
    if stream not in ALL_STREAMS:
        return _not_found(f"streams: {ALL_STREAMS}")
    undeclared = request.query.get("undeclared", "0") not in {"0", "false", ""}
    with app.world.lock:
        return 200, {"data": app.world.truth(stream, undeclared=undeclared)}


def log(app: Sandbox, request: Request) -> Answer:
    """Transitions; deletions of the MindzPay streams, or of one stream (`deleted/users`)."""
    world = app.world
    kind, _, stream = request.path.partition("/")
    if kind == "deleted" and stream not in {"", *ALL_STREAMS}:
        return _not_found(f"streams: {ALL_STREAMS}")
    with world.lock:
        entries = list(getattr(world, kind))
    if kind == "deleted":
        wanted = {stream} if stream else set(STREAMS)
        entries = [e for e in entries if e["stream"] in wanted]
    return 200, {"data": entries}


def stats(app: Sandbox, request: Request) -> Answer:
    """`GET stats`: requests by endpoint and status, refreshes, faults; `POST stats/reset`.

    `GET stats/totals`: only the request and refresh counts and the seconds from the first to
    the last of each, as the server answered them: cheap to read, also while a client runs (the
    refresh log of a long run is megabytes of JSON to build).
    """
    with app.lock:
        if request.path == "stats/reset":
            app.stats.clear()
            app.refreshes.clear()
            app.spans.clear()
            app.faults.injected.clear()
            return 200, {"reset": True}
        total = sum(sum(v.values()) for v in app.stats.values())
        if request.path == "stats/totals":
            return 200, {
                "total_requests": total,
                "refreshes": len(app.refreshes),
                "requests_seconds": _span_seconds(app.spans.get("requests")),
                "refreshes_seconds": _span_seconds(app.spans.get("refreshes")),
            }
        return 200, {
            "requests": {k: dict(v) for k, v in app.stats.items()},
            "total_requests": total,
            "refreshes": list(app.refreshes),
            "faults": dict(app.faults.injected),
        }


def _span_seconds(span: list[float] | None) -> float:
    return span[1] - span[0] if span else 0.0


def faults(app: Sandbox, request: Request) -> Answer:
    """`POST faults`: replace the fault switches with the JSON body."""
    config = json.loads(request.body or b"{}")
    if not isinstance(config, dict):
        msg = "faults must be a JSON object"
        raise TypeError(msg)
    app.faults.configure(config)
    app.apply_undeclared()
    app.apply_boleto_expiry()
    app.apply_id_base()
    return 200, {"faults": config}


def tokens(app: Sandbox, _request: Request) -> Answer:
    """`GET tokens`: the client secret and every token ever issued."""
    book = app.tokens
    with book.lock:
        issued = {kind: list(values) for kind, values in book.issued.items()}
    return 200, {"client_secret": app.config.client_secret, **issued}


def revoke(app: Sandbox, _request: Request) -> Answer:
    """`POST revoke`: revoke every access token."""
    app.tokens.revoke_all()
    return 200, {"revoked": True}


def health(app: Sandbox, _request: Request) -> Answer:
    """`GET health`: up, the clock, and whether it is frozen."""
    return 200, {"status": "ok", "clock": ts(app.world.now), "frozen": app.config.frozen}


def in_flight(app: Sandbox, request: Request) -> Answer:
    """Scenario: put `count` settled invoices in flight (status 1; decided unless decided=0)."""
    count = int_param(request.query, "count", 0, 0, None)
    decided = int_param(request.query, "decided", 1, 0, 1)
    world = app.world
    changed = 0
    with world.lock:
        for invoice_id, record in sorted(world.records["invoices"].items()):
            if changed >= count:
                break
            if record["status"] not in IN_FLIGHT:
                record["status"] = 1
                if decided:
                    world.hidden[invoice_id] = 2
                world.stamp("invoices", record)
                changed += 1
    app.save()
    return 200, {"in_flight": changed}


def settle(app: Sandbox, _request: Request) -> Answer:
    """Scenario: nothing in flight, so that a sync only pages.

    Every in-flight invoice gets its answer now (issued; one being cancelled: cancelled) and
    every pending payment is paid.
    """
    world = app.world
    settled = {"invoices": 0, "payments": 0}
    with world.lock:
        for invoice_id, record in world.records["invoices"].items():
            if record["status"] in IN_FLIGHT:
                world.hidden.pop(invoice_id, None)
                if record["status"] == CANCELLING:
                    record.update(status=CANCELLED, canceled_at=ts(world.now))
                else:
                    record["status"] = ISSUED
                    if record["issued_at"] is None:
                        data.mark_issued(record, world.now)
                world.stamp("invoices", record)
                settled["invoices"] += 1
        for payment in world.records["payments"].values():
            if payment["status"] == "pending":
                payment.update(status="paid", paid_at=ts(world.now))
                world.stamp("payments", payment)
                settled["payments"] += 1
    app.save()
    return 200, {"settled": settled}


def waiting(app: Sandbox, request: Request) -> Answer:
    """Scenario: `count` settled invoices wait at 0 on a boleto that will never be paid.

    Each invoice's payment becomes a pending boleto due in three days whose fate is "never"
    (``clock.boleto_paid_at``), so it expires (canceled) four days after that; the invoice stays
    at 0 (what a Refresh returns too). With ``overdue_days``, only sales at least that many days
    past their boleto's due date (three days after the sale) are taken, and their boleto and
    invoice are as the sale left them (``updated_at`` its ``created_at``): boletos long past due
    that only the switch ``boletos_never_expire`` keeps pending.
    """
    count = int_param(request.query, "count", 0, 0, None)
    overdue = int_param(request.query, "overdue_days", 0, 0, MAX_OVERDUE_DAYS)
    world = app.world
    latest_sale = world.now - timedelta(days=overdue + SALE_TO_DUE_DAYS)
    changed = 0
    with world.lock:
        payments = world.records["payments"]
        for invoice_id, record in sorted(world.records["invoices"].items()):
            if changed >= count:
                break
            payment = payments.get(record["payment_id"] or 0)
            if record["status"] in IN_FLIGHT or payment is None:
                continue
            if boleto_paid_at(world.config.seed, payment) is not None:
                continue
            created = datetime.fromisoformat(payment["created_at"])
            if overdue and created > latest_sale:
                continue
            due = created if overdue else world.now
            payment.update(
                method="boleto",
                card_brand=None,
                installments=1,
                status="pending",
                due_date=(due + timedelta(days=SALE_TO_DUE_DAYS)).date().isoformat(),
                paid_at=None,
            )
            record.update(status=0, nfe_id=None, file_url=None, issued_at=None, canceled_at=None)
            world.hidden.pop(invoice_id, None)
            for stream, changed_record in (("payments", payment), ("invoices", record)):
                if overdue:
                    changed_record["updated_at"] = changed_record["created_at"]
                    world.touch(stream, changed_record["id"])
                else:
                    world.stamp(stream, changed_record)
            changed += 1
    app.save()
    return 200, {"waiting": changed}


def delete(app: Sandbox, request: Request) -> Answer:
    """Scenario: support deletes every `every`-th invoice (by id order) of the platform.

    `POST delete?every=N[&stream=invoices]`: a known share (1/N) gone at once, as support
    cleaning up; benchmarks count what a sweep then asks to confirm each deletion.
    """
    every = int_param(request.query, "every", 100, 1, None)
    stream = request.query.get("stream", "invoices")
    if stream not in ACCOUNT_STREAMS:
        msg = f"stream must be one of {', '.join(ACCOUNT_STREAMS)}"
        raise ValueError(msg)
    world = app.world
    with world.lock:
        doomed = sorted(world.records[stream])[every - 1 :: every]
        for record_id in doomed:
            world.delete(stream, record_id)
    app.save()
    return 200, {"deleted": len(doomed)}


ENDPOINTS: dict[tuple[str, str], Callable[[Sandbox, Request], Answer]] = {
    ("POST", "advance"): advance,
    ("GET", "truth"): truth,
    ("GET", "transitions"): log,
    ("GET", "deleted"): log,
    ("GET", "stats"): stats,
    ("POST", "stats"): stats,
    ("POST", "faults"): faults,
    ("POST", "revoke"): revoke,
    ("GET", "tokens"): tokens,
    ("GET", "health"): health,
    ("POST", "in_flight"): in_flight,
    ("POST", "settle"): settle,
    ("POST", "waiting"): waiting,
    ("POST", "delete"): delete,
}
