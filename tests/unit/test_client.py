"""The request path of MindzPayStream against a scripted local HTTP server.

401 -> token refresh and retry (a third 401 in a row stops); 429 -> Retry-After honoured;
truncated JSON and 5xx -> retried; 403/404 -> one actionable error with the API's code; no
secret in any message.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tap_mindzpay import client, errors
from tap_mindzpay.errors import MindzPayAPIError
from tap_mindzpay.http import body as http_body
from tap_mindzpay.http.auth import AuthenticationError
from tap_mindzpay.http.ratebudget import RateBudget
from tap_mindzpay.run.stopping import StopControl
from tap_mindzpay.tap import TapMindzPay

if TYPE_CHECKING:
    from collections.abc import Iterator

SECRET = "unit-test-secret"  # noqa: S105 - a fake secret the tests hunt for
Reply = tuple[int, dict[str, str], bytes]
DROP = 0  # a "status" that closes the connection without an answer


def envelope(ids: list[int], total: int) -> bytes:
    data = [
        {"id": i, "key": f"acc_{i}", "name": "n", "document": "1", "status": "accepted"}
        for i in ids
    ]
    return json.dumps({"data": data, "meta": {"total": total}}).encode()


class Scripted(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.replies: list[Reply] = []
        self.seen: list[tuple[str, str]] = []  # (path, Authorization)
        self.tokens = 0


class Handler(BaseHTTPRequestHandler):
    server: Scripted

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, reply: Reply) -> None:
        status, headers, body = reply
        if status == DROP:  # the connection closes with no answer: a ConnectionError
            self.close_connection = True
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if headers.get("Connection") != "close":  # closing: the body ends with the connection
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.endswith("/oauth/token"):
            self.do_GET()
            return
        self.server.tokens += 1
        token = {"access_token": f"tok-{self.server.tokens}", "expires_in": 3600}
        self._send((200, {}, json.dumps(token).encode()))

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization", "")))
        reply = self.server.replies.pop(0) if self.server.replies else (200, {}, envelope([], 0))
        self._send(reply)


@pytest.fixture
def server() -> Iterator[Scripted]:
    httpd = Scripted()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(StopControl, "sleep", lambda _self, seconds: recorded.append(seconds))
    return recorded


def make_stream(server: Scripted, name: str = "accounts", **config: Any) -> client.MindzPayStream:
    tap = TapMindzPay(
        config={
            "api_url": f"http://127.0.0.1:{server.server_address[1]}/api/v2",
            "client_id": "app",
            "client_secret": SECRET,
            "max_retries": 3,
            **config,
        },
        setup_mapper=False,
    )
    skipped = [0.0]  # the budget's sleeps move a virtual clock instead of waiting

    def sleep(seconds: float) -> None:
        skipped[0] += seconds

    tap.services.__dict__["rate_budget"] = RateBudget(
        clock=lambda: time.monotonic() + skipped[0], sleep=sleep
    )
    stream = tap.streams[name]
    assert isinstance(stream, client.MindzPayStream)
    return stream


def get(stream: client.MindzPayStream) -> Any:
    return stream.requester.request_json("GET", stream.get_url(None), params={"limit": 10})


def test_401_refreshes_the_token_once_and_retries(server: Scripted, waits: list[float]):
    server.replies = [(401, {}, b'{"error":{"code":"token_expired","message":"expired"}}')]
    stream = make_stream(server)
    assert get(stream) == {"data": [], "meta": {"total": 0}}
    assert [auth for _, auth in server.seen] == ["Bearer tok-1", "Bearer tok-2"]
    assert waits == []


@pytest.mark.usefixtures("waits")
def test_401_that_persists_after_two_refreshes_stops_naming_the_credential_settings(
    server: Scripted,
):
    reply = (401, {}, f'{{"error":{{"code":"invalid_token","message":"{SECRET}"}}}}'.encode())
    server.replies = [reply, reply, reply]
    with pytest.raises(AuthenticationError) as caught:
        get(make_stream(server))
    assert "client_id, client_secret and refresh_token" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_lost_connection_between_401s_ends_the_401_episode(server: Scripted, waits: list[float]):
    # Two refreshed tokens refused, then a lost connection and a backoff, then a 401: a
    # revocation after the backoff (tokens are revoked at any time), not the credential
    # refused a third time; the refreshes start over and the request ends answered.
    refused = (401, {}, b'{"error":{"code":"invalid_token","message":"revoked"}}')
    server.replies = [refused, refused, (DROP, {}, b""), refused, refused]
    assert get(make_stream(server)) == {"data": [], "meta": {"total": 0}}
    assert len(waits) == 1  # one backoff: the lost connection's
    assert [auth for _, auth in server.seen] == [f"Bearer tok-{n}" for n in (1, 2, 3, 3, 4, 5)]


@pytest.mark.usefixtures("waits")
def test_three_401s_in_a_row_around_no_other_outcome_stop(server: Scripted):
    refused = (401, {}, b'{"error":{"code":"invalid_token","message":"revoked"}}')
    server.replies = [refused, refused, (DROP, {}, b""), refused, refused, refused]
    with pytest.raises(AuthenticationError, match="after 2 refreshes"):
        get(make_stream(server))


def test_429_waits_at_least_retry_after(server: Scripted, waits: list[float]):
    server.replies = [(429, {"Retry-After": "7"}, b'{"error":{"code":"rate_limited"}}')]
    stream = make_stream(server)
    get(stream)
    assert len(waits) == 1
    assert waits[0] >= 7
    assert stream.services.rate_budget.waited_seconds >= 6  # every caller was paused


def test_truncated_json_and_5xx_are_retried(server: Scripted, waits: list[float]):
    server.replies = [(200, {}, b'{"data": [{"id": 1'), (503, {}, b"busy")]
    assert get(make_stream(server)) == {"data": [], "meta": {"total": 0}}
    assert len(server.seen) == 3
    assert len(waits) == 2
    assert waits[1] > waits[0] / 2  # exponential, with jitter


def test_retries_are_bounded_by_max_retries(server: Scripted, waits: list[float]):
    server.replies = [(500, {}, b"")] * 5
    with pytest.raises(MindzPayAPIError, match="max_retries"):
        get(make_stream(server, max_retries=2))
    assert len(waits) == 2
    assert len(server.seen) == 3


@pytest.mark.usefixtures("waits")
def test_403_names_account_and_permission(server: Scripted):
    server.replies = [(403, {}, b'{"error":{"code":"forbidden","message":"missing scope"}}')]
    stream = make_stream(server)
    with pytest.raises(MindzPayAPIError) as caught:
        stream.requester.request_json(
            "GET", stream.get_url(None), context={"account_id": 4, "account_key": "acc_x"}
        )
    text = str(caught.value)
    assert "account acc_x" in text
    assert "read permission on accounts" in text
    assert "forbidden: missing scope" in text


@pytest.mark.usefixtures("waits")
def test_404_stops_with_the_api_code_and_message(server: Scripted):
    server.replies = [(404, {}, b'{"error":{"code":"not_found","message":"Invoice not found"}}')]
    with pytest.raises(MindzPayAPIError, match="HTTP 404, not_found: Invoice not found"):
        get(make_stream(server))
    assert len(server.seen) == 1  # not retried


@pytest.mark.usefixtures("waits")
def test_accounts_stream_pages_by_id_and_filters_account_keys(server: Scripted):
    server.replies = [
        (200, {}, envelope([1, 2, 3], 5)),
        (200, {}, envelope([3, 4, 5], 5)),
    ]
    stream = make_stream(server, page_size=3, account_keys=["acc_2", "acc_5"])
    assert [r["id"] for r in stream.get_records(None)] == [2, 5]
    paths = [path for path, _ in server.seen]
    assert paths == [
        "/api/v2/mindzpay/accounts?limit=3&offset=0&sort_by=id&sort_direction=asc",
        "/api/v2/mindzpay/accounts?limit=3&offset=2&sort_by=id&sort_direction=asc",
    ]


TIMES = {"created_at": "2026-11-01T09:00:00-03:00", "updated_at": "2026-11-01T09:00:00-03:00"}


def test_record_without_updated_at_is_malformed(server: Scripted):
    invoices = make_stream(server, "invoices")
    row = {"id": 4, "amount": "1.00", "status": 2, "created_at": TIMES["created_at"]}
    with pytest.raises(errors.MalformedRecordError, match="record id 4, field updated_at: missing"):
        invoices.post_process(row)


def test_deletion_marker_needs_no_timestamps(server: Scripted):
    invoices = make_stream(server, "invoices")
    row = invoices.post_process({"id": 4, "_sdc_deleted_at": "2026-11-01T12:00:00+00:00"})
    assert row is not None
    assert row["_sdc_deleted_at"] == "2026-11-01T12:00:00+00:00"


def test_money_becomes_decimal_and_status_gets_its_label(server: Scripted):
    invoices = make_stream(server, "invoices")
    row = invoices.post_process({"id": 1, "amount": "1234.50", "status": 1, **TIMES})
    assert row is not None
    assert str(row["amount"]) == "1234.50"
    assert type(row["amount"]).__name__ == "Decimal"
    assert row["status_label"] == "Em processo de emissão"


@pytest.mark.parametrize(
    ("wire", "text"),
    [("1234.50", "1234.50"), ("0.07", "0.07"), ("-12.30", "-12.30"), ("1e2", "100")],
)
def test_money_as_string_emits_the_exact_decimal_text(server: Scripted, wire: str, text: str):
    payments = make_stream(server, "payments", money_as_string=True)
    row = payments.post_process({"id": 1, "amount": wire, "fee": "0.10", **TIMES})
    assert row is not None
    assert row["amount"] == text
    assert type(row["amount"]) is str
    assert row["fee"] == "0.10"
    # Both money properties of the stream's schema say how to load the string.
    for name in ("amount", "fee"):
        assert payments.schema["properties"][name] == {
            "type": ["string", "null"],
            "format": "x-singer.decimal",
        }


def test_money_as_string_keeps_nulls_and_nulls_non_finite_amounts(server: Scripted):
    invoices = make_stream(server, "invoices", money_as_string=True)
    assert invoices.post_process({"id": 1, "amount": None, "status": 0, **TIMES})["amount"] is None
    assert invoices.post_process({"id": 2, "amount": "NaN", "status": 0, **TIMES})["amount"] is None
    # An exponent never reaches the warehouse: the text is positional.
    assert invoices.post_process({"id": 3, "amount": "1E+3", "status": 0, **TIMES})["amount"] == (
        "1000"
    )


def test_money_is_a_number_by_default(server: Scripted):
    payments = make_stream(server, "payments")
    assert payments.schema["properties"]["amount"] == {"type": ["number", "null"]}
    row = payments.post_process({"id": 1, "amount": "1234.50", "fee": None, **TIMES})
    assert row is not None
    assert type(row["amount"]).__name__ == "Decimal"


def test_malformed_money_fails_naming_stream_record_and_field(server: Scripted):
    invoices = make_stream(server, "invoices")
    with pytest.raises(errors.MalformedRecordError, match="invoices, record id 9, field amount"):
        invoices.post_process({"id": 9, "amount": "12,50", "status": 0, **TIMES})


def test_malformed_record_is_skipped_when_configured(server: Scripted):
    invoices = make_stream(server, "invoices", skip_malformed_records=True)
    assert invoices.post_process({"id": 9, "amount": "abc", "status": 0, **TIMES}) is None


@pytest.mark.usefixtures("waits")
def test_refresh_posts_the_invoice_refresh_and_maps_404_to_none(server: Scripted):
    invoice = {"id": 7, "account_key": "acc_x", "status": 2, "amount": "10.00"}
    server.replies = [
        (200, {}, json.dumps(invoice).encode()),
        (404, {}, b'{"error":{"code":"not_found","message":"Invoice not found"}}'),
    ]
    invoices = make_stream(server, "invoices")
    context = {"account_id": 1, "account_key": "acc_x"}
    reader = invoices.lists.reader(invoices.get_url(context), context, invoices.progress(context))
    rule = invoices.capture_rule
    assert rule is not None
    assert reader.refresh(7, rule.method, rule.path_suffix) == invoice
    assert reader.refresh(8, rule.method, rule.path_suffix) is None
    assert [path for path, _ in server.seen] == [
        "/api/v2/mindzpay/accounts/acc_x/invoices/7/refresh",
        "/api/v2/mindzpay/accounts/acc_x/invoices/8/refresh",
    ]
    assert invoices.capture_rule is not None
    assert invoices.capture_rule.in_flight({"status": 1})
    assert not invoices.capture_rule.in_flight({"status": 2})


def test_only_a_refusal_or_an_unknown_host_counts_as_never_reachable():
    from tap_mindzpay.http.first_contact import refusal  # noqa: PLC0415 - one pure function

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert refusal(refused.value) == "connection refused"
    unknown = requests.ConnectionError(socket.gaierror(socket.EAI_NONAME, "Name not known"))
    assert refusal(unknown) == "unknown host name"
    for transient in (
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        TimeoutError("timed out"),
    ):
        assert refusal(requests.ConnectionError(transient)) is None, transient


@pytest.mark.usefixtures("waits")
def test_a_proxy_in_the_environment_carries_the_api_requests(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
):
    # The scripted server plays the proxy: it sees the absolute URL of every request.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
    stream = make_stream(server, api_url="http://127.0.0.1:9/api/v2")  # nothing listens on 9
    get(stream)
    get(stream)  # the second request uses the proxies read for the first
    assert server.tokens == 1
    assert (
        server.seen
        == [("http://127.0.0.1:9/api/v2/mindzpay/accounts?limit=10", "Bearer tok-1")] * 2
    )


@pytest.mark.usefixtures("waits")
def test_no_proxy_in_the_environment_sends_the_api_requests_direct(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
):
    for name in ("no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    get(make_stream(server))
    assert [path for path, _ in server.seen] == ["/api/v2/mindzpay/accounts?limit=10"]


@pytest.mark.parametrize(
    ("method", "params"), [("GET", {"limit": 10, "offset": 20}), ("POST", None)]
)
def test_the_request_path_prepares_what_the_session_would_send(
    server: Scripted, method: str, params: dict[str, int] | None
):
    stream = make_stream(server, "invoices")
    session = stream.requester.session
    session.cookies.set("lb", "node-2", domain="127.0.0.1", path="/")
    url = stream.get_url({"account_id": 1, "account_key": "acc_x"}) + "/7/refresh"
    ours = stream.requester._prepare(method, url, params, "tok")  # noqa: SLF001 - the unit
    theirs = session.prepare_request(requests.Request(method, url, params=params))
    theirs.headers["Authorization"] = "Bearer tok"
    assert (ours.method, ours.url, ours.body) == (theirs.method, theirs.url, theirs.body)
    assert list(ours.headers.items()) == list(theirs.headers.items())
    assert "lb=node-2" in ours.headers["Cookie"]


@pytest.mark.usefixtures("waits")
@pytest.mark.parametrize("bad_id", [-7, 0, 2**63])
def test_an_id_that_is_not_positive_within_64_bits_stops_with_one_line(
    server: Scripted, bad_id: int
):
    server.replies = [(200, {}, envelope([1, bad_id], 2))]
    with pytest.raises(errors.MalformedRecordError) as caught:
        list(make_stream(server).get_records(None))
    text = str(caught.value)
    assert "\n" not in text
    assert f"record id {bad_id} is not a positive integer of at most 64 bits" in text


@pytest.mark.usefixtures("waits")
def test_one_record_answers_none_on_404_and_the_record_otherwise(server: Scripted):
    record = {"id": 9, "key": "acc_9", "name": "n", "document": "1", "status": "accepted"}
    server.replies = [
        (404, {}, b'{"error":{"code":"not_found","message":"Account not found"}}'),
        (200, {}, json.dumps(record).encode()),
    ]
    stream = make_stream(server)
    reader = stream.lists.reader(stream.get_url(None), None, stream.progress(None))
    assert reader.one(8) is None
    assert reader.one(9) == record
    assert [path.split("?")[0] for path, _ in server.seen] == [
        "/api/v2/mindzpay/accounts/8",
        "/api/v2/mindzpay/accounts/9",
    ]


@pytest.mark.usefixtures("waits")
@pytest.mark.parametrize("length", ["declared", "until_close"])
def test_a_body_over_the_size_bound_stops_with_one_line_naming_the_endpoint(
    server: Scripted, monkeypatch: pytest.MonkeyPatch, length: str
):
    monkeypatch.setattr(http_body, "MAX_BODY_BYTES", 1000)
    monkeypatch.setattr(http_body, "BODY_CHUNK_BYTES", 100)
    body = envelope(list(range(1, 40)), 39)
    assert len(body) > 1000
    headers = {} if length == "declared" else {"Connection": "close"}
    server.replies = [(200, headers, body)]
    with pytest.raises(MindzPayAPIError) as caught:
        get(make_stream(server))
    assert str(caught.value).startswith("GET /mindzpay/accounts answered a body over ")
    assert "lower the setting page_size" in str(caught.value)
    assert len(server.seen) == 1  # not retried: the same request gets the same answer


@pytest.mark.usefixtures("waits")
def test_json_nested_beyond_decoding_stops_with_one_line_naming_the_endpoint(server: Scripted):
    depth = 5000
    server.replies = [(200, {}, b'{"data":' + b"[" * depth + b"]" * depth + b"}")]
    with pytest.raises(MindzPayAPIError) as caught:
        get(make_stream(server))
    assert str(caught.value) == (
        "GET /mindzpay/accounts answered JSON nested deeper than can be decoded; no MindzPay "
        "record is nested like that - report the endpoint"
    )


def test_planning_a_first_page_reads_the_saved_state_and_leaves_the_state_cadence_alone(
    server: Scripted,
):
    # The query of a partition's first request comes from the state the run started from; the
    # planning must not pass for a STATE written (``tap_state`` resets the cadence's count).
    invoices = make_stream(server, "invoices")
    context = {"account_id": 1, "account_key": "acc_1"}
    partition = {"context": context, "replication_key": "id", "replication_key_value": 930}
    state = invoices._tap.state  # noqa: SLF001 - the run's starting state, set by hand
    state["bookmarks"] = {"invoices": {"partitions": [{**partition, "offset_hint": 900}]}}
    cadence = invoices.services.state_cadence
    cadence.offer(7)
    params = invoices.first_page_params(context)
    assert params["offset"] == 900
    assert cadence.work == 7
