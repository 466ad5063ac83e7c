"""Proxy variables end to end: the tap as a process, through a forward proxy, to the sandbox.

The tap reads the proxy and CA-bundle variables once per session instead of on every request
(``services.settle_environment``); these tests prove a user behind a proxy still goes through
it for every request, and that ``NO_PROXY`` still bypasses it.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import pytest
from helpers import compare_with_truth, fold_messages, run_tap

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from helpers import SandboxProcess

pytestmark = pytest.mark.e2e

STREAMS = ("accounts", "invoices", "payments", "subscriptions")
#: Hop-by-hop headers a proxy does not pass on.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding"})


class ForwardProxy(BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy that counts the requests it forwards."""

    protocol_version = "HTTP/1.1"
    forwarded: ClassVar[list[str]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        target = urlsplit(self.path)  # a proxy gets the absolute URL
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(target.netloc, timeout=30)
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, body=body, headers=headers)
        response = upstream.getresponse()
        content = response.read()
        upstream.close()
        with self.lock:
            self.forwarded.append(f"{self.command} {target.path}")
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in {*HOP_BY_HOP, "content-length"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's
        del format, args


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    """A running forward proxy: its URL and the requests it forwarded."""
    ForwardProxy.forwarded = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForwardProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", ForwardProxy.forwarded
    finally:
        server.shutdown()
        server.server_close()


def test_every_request_goes_through_the_proxy_of_the_environment_and_the_sync_is_whole(
    sandbox_factory: Any, proxy: tuple[str, list[str]], tmp_path: Path
) -> None:
    sandbox: SandboxProcess = sandbox_factory(seed=33, accounts=2, invoices_per_account=400)
    url, forwarded = proxy
    run = run_tap(
        sandbox.tap_config(),
        env={"HTTP_PROXY": url, "http_proxy": url, "NO_PROXY": "", "no_proxy": ""},
        workdir=tmp_path,
    ).check()
    folded = fold_messages(run.messages)
    for stream in STREAMS:
        comparison = compare_with_truth(stream, folded.get(stream, {}), sandbox.truth(stream))
        assert comparison.ok, comparison.summary()
    # The proxy forwarded exactly the requests the sandbox served: token and API alike.
    stats = sandbox.stats()
    assert len(forwarded) == stats["total_requests"]
    assert any(line.startswith("POST ") and line.endswith("/oauth/token") for line in forwarded)
    assert sum("/invoices" in line for line in forwarded) >= 8  # 2 x 400 invoices, 100 a page


def test_no_proxy_still_bypasses_the_proxy(
    sandbox_factory: Any, proxy: tuple[str, list[str]], tmp_path: Path
) -> None:
    sandbox: SandboxProcess = sandbox_factory(seed=34, accounts=1, invoices_per_account=150)
    url, forwarded = proxy
    run = run_tap(
        sandbox.tap_config(),
        env={"HTTP_PROXY": url, "http_proxy": url},  # NO_PROXY: loopback (child_env)
        workdir=tmp_path,
    ).check()
    assert len(run.records("invoices")) == len(sandbox.truth("invoices"))
    assert forwarded == []
