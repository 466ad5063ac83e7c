"""`mindzpay-sandbox`: start the MindzPay sandbox server as its own process.

The first line on stdout is the root URL (`http://127.0.0.1:PORT`); the API lives under
`/api/v2` and the admin endpoints under `/_sandbox/`. SIGTERM and SIGINT stop it cleanly,
saving the world when `--db` is set.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tap_mindzpay.sandbox.faults import FaultError
from tap_mindzpay.sandbox.server import Sandbox, SandboxServer, ServerConfig
from tap_mindzpay.sandbox.storage import Storage
from tap_mindzpay.sandbox.world import World, WorldConfig

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="mindzpay-sandbox", description=__doc__)
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=0, help="0 picks a free port")
    add("--db", type=Path, help="SQLite file (persistent world); in-memory when omitted")
    add("--seed", type=int, default=42)
    add("--accounts", type=int, default=3)
    add("--invoices-per-account", type=int, default=2000)
    add("--subscriptions-per-account", type=int, default=0, help="0 = invoices / 8")
    add("--courses", type=int, default=60, help="courses of the school (each with its lessons)")
    add("--campaigns", type=int, default=8, help="e-mail campaigns drawn into the history")
    add("--speed", type=float, default=60.0, help="simulated seconds per wall second")
    add("--frozen", action="store_true", help="the clock moves only by POST /_sandbox/advance")
    add(
        "--catch-up",
        action="store_true",
        help="on start, move the world by wall time since the last save x speed; then freeze",
    )
    add("--token-ttl", type=float, default=3600.0, help="access-token lifetime, seconds")
    add("--rate-limit", type=int, default=6000, help="requests per window per access token")
    add("--rate-window", type=float, default=60.0, help="rate-limit window, seconds")
    add("--latency-ms", type=float, default=0.0, help="added to every API request")
    add("--client-id", default="mindzpay-demo")
    add("--client-secret", default="mindzpay-demo-secret")
    add("--refresh-token", default="mindzpay-demo-refresh")
    add(
        "--undeclared-properties",
        action="store_true",
        help="every record carries properties no schema declares (as APIs add fields)",
    )
    add("--faults", default="{}", help="JSON object of fault switches (see docs/sandbox.md)")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> Sandbox:
    """The world (generated or loaded) and the server state."""
    world_config = WorldConfig(
        seed=args.seed,
        accounts=args.accounts,
        invoices_per_account=args.invoices_per_account,
        subscriptions_per_account=args.subscriptions_per_account,
        courses=args.courses,
        campaigns=args.campaigns,
    )
    storage = Storage(args.db) if args.db else None
    world = storage.load() if storage else None
    if world is not None:
        world_config = world.config
        if args.catch_up:
            saved_wall = float(storage.meta()["saved_wall"]) if storage else time.time()
            world.clock.advance(max(0.0, time.time() - saved_wall) * args.speed)
    else:
        world = World(world_config)
    config = ServerConfig(
        client_id=args.client_id,
        client_secret=args.client_secret,
        refresh_token=args.refresh_token,
        token_ttl=args.token_ttl,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        speed=args.speed,
        frozen=args.frozen or args.catch_up,
        undeclared=args.undeclared_properties,
    )
    app = Sandbox(world=world, world_config=world_config, config=config, storage=storage)
    faults = json.loads(args.faults)
    if args.latency_ms:
        faults["latency_ms"] = args.latency_ms
    app.faults.configure(faults)
    app.apply_undeclared()
    app.apply_boleto_expiry()
    app.apply_id_base()
    app.save()
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT."""
    args = parse_args(argv)
    try:
        app = build(args)
    except (FaultError, ValueError) as err:
        print(f"mindzpay-sandbox: {err}", file=sys.stderr)  # noqa: T201 - CLI error line
        return 2
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # Before the URL is printed: a client may SIGTERM as soon as it has read it.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = SandboxServer((args.host, args.port), app)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    print(f"http://{host}:{port}", flush=True)  # noqa: T201 - the contract of this command
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.daemon = True
    thread.start()
    stop.wait()
    server.shutdown()
    server.server_close()
    app.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
