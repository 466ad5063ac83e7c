"""The sandbox's HTTP server: the state its threads share, and the handler that routes requests.

A stdlib `ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive, one thread per connection, so
added latency does not serialise concurrent clients. The handler parses a request and hands it
to the part whose job it is: `admin.py` (`/_sandbox/*`), `tokens.py` (`POST /api/v2/oauth/token`)
or `api.py` (the rest of `/api/v2`); it writes the `Reply` they return.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from typing_extensions import override

from tap_mindzpay.sandbox import admin, api
from tap_mindzpay.sandbox.clock import RunningClock
from tap_mindzpay.sandbox.faults import Faults
from tap_mindzpay.sandbox.messages import Reply, Request
from tap_mindzpay.sandbox.tokens import Tokens, grant

if TYPE_CHECKING:
    from tap_mindzpay.sandbox.storage import Storage
    from tap_mindzpay.sandbox.world import World, WorldConfig

ADMIN_PREFIX = "/_sandbox/"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
# SO_LINGER on with a zero timeout: close() sends a TCP RST instead of a FIN.
_LINGER_RESET = b"\x01\x00\x00\x00\x00\x00\x00\x00"


@dataclass
class ServerConfig:
    """How the sandbox behaves towards clients."""

    client_id: str = "mindzpay-demo"
    client_secret: str = "mindzpay-demo-secret"  # noqa: S105 - documented demo credential
    refresh_token: str = "mindzpay-demo-refresh"  # noqa: S105 - documented demo credential
    token_ttl: float = 3600.0
    rate_limit: int = 6000
    rate_window: float = 60.0
    speed: float = 60.0
    frozen: bool = False
    undeclared: bool = False  # records carry properties no schema declares


@dataclass
class Sandbox:
    """Everything the handler threads share."""

    world: World
    world_config: WorldConfig
    config: ServerConfig
    storage: Storage | None = None
    faults: Faults = field(default_factory=Faults)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    refreshes: list[dict[str, Any]] = field(default_factory=list)
    #: Monotonic seconds of the first and last API request answered and Refresh served (since
    #: the stats were reset): a client's rate over the span the server saw, without polling.
    spans: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: Tokens = field(init=False)
    clock: RunningClock = field(init=False)

    def __post_init__(self) -> None:
        """Set up the token book and anchor the running clock."""
        self.tokens = Tokens(self.config)
        self.clock = RunningClock(self.world, speed=self.config.speed, frozen=self.config.frozen)

    def apply_undeclared(self) -> None:
        """Undeclared properties on when the server config or the fault switch says so."""
        on = self.config.undeclared or self.faults.value("undeclared_properties", 0) > 0
        with self.world.lock:
            self.world.set_undeclared(on=on)

    def apply_boleto_expiry(self) -> None:
        """Unpaid boletos never expire while the fault switch ``boletos_never_expire`` is on."""
        on = self.faults.value("boletos_never_expire", 0) > 0
        with self.world.lock:
            self.world.boletos_never_expire = on

    def apply_id_base(self) -> None:
        """New MindzPay ids from the `id_base` switch on (0: the next id, dense)."""
        with self.world.lock:
            self.world.id_base = int(self.faults.value("id_base", 0))

    def count(self, key: str, status: int) -> None:
        """Count one API request by endpoint template and status (0: connection dropped)."""
        with self.lock:
            per = self.stats.setdefault(key, {})
            per[str(status)] = per.get(str(status), 0) + 1
            self._mark("requests")

    def refreshed(self, entry: dict[str, Any]) -> None:
        """Log one Refresh served (``refreshes`` of the stats)."""
        with self.lock:
            self.refreshes.append(entry)
            self._mark("refreshes")

    def _mark(self, kind: str) -> None:
        now = time.monotonic()
        span = self.spans.get(kind)
        if span is None:
            self.spans[kind] = [now, now]
        else:
            span[1] = now

    def save(self) -> None:
        """Persist the world when a database is configured."""
        if self.storage is not None:
            with self.world.lock:
                self.storage.save(self.world, self.world_config)


class Handler(BaseHTTPRequestHandler):
    """One connection's requests."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: SandboxServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet: the sandbox's stdout carries the URL only."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header: the world's clock (frozen or moved by a test), as a server's."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        return format_datetime(self.server.app.world.now.astimezone(timezone.utc), usegmt=True)

    def do_GET(self) -> None:
        """Dispatch a GET."""
        self._write(self._route("GET"))

    def do_POST(self) -> None:
        """Dispatch a POST."""
        self._write(self._route("POST"))

    def _route(self, method: str) -> Reply:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        app = self.server.app
        if url.path.startswith(ADMIN_PREFIX):
            path = url.path[len(ADMIN_PREFIX) :]
            return admin.answer(app, Request(method, path, query, body=body))
        if not url.path.startswith(api.PREFIX):
            return Reply.error(404, "not_found", "Unknown path")
        latency = app.faults.value("latency_ms", 0.0) / 1000
        path = url.path[len(api.PREFIX) :]
        request = Request(method, path, query, self.headers.get("Authorization"), body)
        if path == TOKEN_PATH and method == "POST":
            time.sleep(latency)
            return grant(app, request)
        # A platform limiting concurrent requests refuses at its edge, before any work.
        if not app.faults.admit():
            return api.answer(app, request, busy=True)
        try:
            time.sleep(latency)
            return api.answer(app, request)
        finally:
            app.faults.leave()

    def _write(self, reply: Reply) -> None:
        if reply.reset:
            self._reset()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply.body)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if reply.slow:
            self.wfile.flush()
            time.sleep(reply.slow)
        self.wfile.write(reply.body)

    def _reset(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class SandboxServer(ThreadingHTTPServer):
    """The HTTP server carrying the shared sandbox state."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: Sandbox) -> None:
        """Bind and remember the app."""
        super().__init__(address, Handler)
        self.app = app

    @override
    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet when a client goes away mid-answer; print anything else."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]
