"""Proxy and CA variables end to end: the tap as a process, through a proxy, to the sandbox.

The tap reads the proxy and CA-bundle variables once per session instead of on every request
(``services.settle_environment``); these tests prove a user behind a proxy still goes through
it for every request, that ``NO_PROXY`` still bypasses it, and that a platform behind TLS with
a private certificate authority syncs with ``REQUESTS_CA_BUNDLE`` and fails cleanly without.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import pytest
import trustme
from helpers import compare_with_truth, fold_messages, run_tap
from helpers.streams import MINDZPAY_STREAMS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from helpers import SandboxProcess, TapRun

pytestmark = pytest.mark.e2e

STREAMS = MINDZPAY_STREAMS
#: Hop-by-hop headers a proxy does not pass on.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding"})


class ForwardProxy(BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy that counts the requests it forwards.

    With ``upstream`` set (``host:port``) it is a reverse proxy to that server instead.
    """

    protocol_version = "HTTP/1.1"
    forwarded: ClassVar[list[str]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()
    upstream: ClassVar[str | None] = None

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        # A forward proxy gets the absolute URL; a reverse proxy the path.
        target = urlsplit(
            self.path if self.upstream is None else f"http://{self.upstream}{self.path}"
        )
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


def assert_landed_the_truth(run: TapRun, sandbox: SandboxProcess) -> None:
    """Every stream of the run equals the sandbox's truth, whole rows."""
    folded = fold_messages(run.messages)
    for stream in STREAMS:
        comparison = compare_with_truth(stream, folded.get(stream, {}), sandbox.truth(stream))
        assert comparison.ok, comparison.summary()


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    """A running forward proxy: its URL and the requests it forwarded."""
    ForwardProxy.forwarded = []
    ForwardProxy.upstream = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForwardProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", ForwardProxy.forwarded
    finally:
        server.shutdown()
        ForwardProxy.upstream = None
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
    assert_landed_the_truth(run, sandbox)
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


def test_a_platform_behind_tls_with_a_private_ca_syncs_with_requests_ca_bundle(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox: SandboxProcess = sandbox_factory(seed=35, accounts=1, invoices_per_account=250)
    authority = trustme.CA()
    bundle = tmp_path / "private-ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    ForwardProxy.forwarded = []
    ForwardProxy.upstream = urlsplit(sandbox.api_url).netloc
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForwardProxy)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = urlsplit(sandbox.api_url).path
        config = sandbox.tap_config(api_url=f"https://127.0.0.1:{server.server_address[1]}{path}")
        # Without the bundle the certificate is not trusted: the run fails at once (no retry
        # makes it trusted), in one line that names the variable.
        refused = run_tap(config, workdir=tmp_path / "untrusted")
        assert refused.returncode != 0
        errors = [line for line in refused.stderr.splitlines() if "| ERROR" in line]
        assert errors, refused.stderr[-2000:]
        assert "is not trusted" in errors[-1]
        assert "REQUESTS_CA_BUNDLE" in errors[-1]
        assert "retry" not in refused.stderr.lower(), refused.stderr[-2000:]
        run = run_tap(
            config, env={"REQUESTS_CA_BUNDLE": str(bundle)}, workdir=tmp_path / "trusted"
        ).check()
    finally:
        server.shutdown()
        server.server_close()
        ForwardProxy.upstream = None
    assert_landed_the_truth(run, sandbox)
    # Every request of the trusted run, token included, went over TLS through the proxy.
    assert any(line.endswith("/oauth/token") for line in ForwardProxy.forwarded)
    assert sum("/invoices" in line for line in ForwardProxy.forwarded) >= 3
