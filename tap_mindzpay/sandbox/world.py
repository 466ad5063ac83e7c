"""The sandbox's world: its records, how they are generated and changed, and what the API sees.

Invoices carry a *visible* status (what Get and List return) and, while the fiscal provider has
decided but MindzPay has not asked, a *hidden* outcome that only `refresh` makes visible.
An invoice waits at 0 while its payment is pending; a boleto's fate (paid when, or never) is
fixed by its payment id, and paying it hands the invoice to the provider (a hidden 0 -> 1).
The Mindz platform records live here too (`platform.py` generates and moves them); a new world's
history is drawn by `genesis.py`; what moves the world in simulated time is the lifecycle clock
(`clock.py`, `world.clock`).
Every change goes through this class under one lock; JSON bytes of each record are cached.
"""

from __future__ import annotations

import json
import threading
import zlib
from bisect import bisect_left, insort
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tap_mindzpay.sandbox import data, genesis
from tap_mindzpay.sandbox.clock import Lifecycle
from tap_mindzpay.sandbox.data import EPOCH, RECENT, Record, ts
from tap_mindzpay.sandbox.platform import PLATFORM_STREAMS, Platform
from tap_mindzpay.sandbox.school import OWNER_FIELD, SCHOOL_STREAMS, School

if TYPE_CHECKING:
    import random
    from collections.abc import Callable
    from datetime import datetime

#: The MindzPay lists of each account (partition: the account's key, or its id).
ACCOUNT_STREAMS = ("invoices", "payments", "subscriptions")
#: The MindzPay resources: the accounts and their lists.
STREAMS = ("accounts", *ACCOUNT_STREAMS)
#: Every resource the sandbox serves: MindzPay's, the platform's, the school's.
ALL_STREAMS = (*STREAMS, *PLATFORM_STREAMS, *SCHOOL_STREAMS)
IN_FLIGHT = data.IN_FLIGHT_STATUSES
#: The streams whose new ids the `id_base` switch moves, and the largest gap between two.
SPARSE_ID_STREAMS = frozenset(ACCOUNT_STREAMS)
ID_GAP = 1000


@dataclass
class WorldConfig:
    """What a world is generated from."""

    seed: int = 42
    accounts: int = 3
    invoices_per_account: int = 2000
    subscriptions_per_account: int = 0  # 0 = invoices / 8
    courses: int = 60
    campaigns: int = 8


class World:
    """All records of every account, with the lifecycle clock."""

    def __init__(self, config: WorldConfig, *, generate: bool = True) -> None:
        """Generate a new world from `config` (deterministic); empty when loading from storage."""
        self.config = config
        self.lock = threading.RLock()
        self.now = EPOCH
        self.step = 0
        self.records: dict[str, dict[int, Record]] = {s: {} for s in ALL_STREAMS}
        self.hidden: dict[int, int] = {}  # invoice id -> provider outcome not yet visible
        self.by_account: dict[str, dict[str, list[int]]] = {s: {} for s in ALL_STREAMS}
        self.next_id = dict.fromkeys(ALL_STREAMS, 1)
        self.transitions: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []
        self.version = 0  # bumps on every change; sorted-page caches key on it
        self._json: dict[tuple[str, int], bytes] = {}
        self.dirty: set[tuple[str, int]] = set()
        self.undeclared = False  # add properties no schema declares to every record's JSON
        self.boletos_never_expire = False  # unpaid boletos stay pending past their due date
        #: MindzPay records created from now on take ids at or above this base, with gaps
        #: (0: the next id, dense), as a platform whose ids come from another range.
        self.id_base = 0
        self._sorted: dict[tuple[str, str, str], tuple[int, list[int]]] = {}
        # id -> account key of the in-flight invoices and of the pending payments
        self._watch: dict[str, dict[int, str]] = {"invoices": {}, "payments": {}}
        self.platform = Platform(self)
        self.school = School(self)
        self.clock = Lifecycle(self)
        if generate:
            genesis.generate(self)

    # ---- sales -------------------------------------------------------------------------

    def create_invoice(
        self, rng: random.Random, key: str, created: datetime, status: int
    ) -> Record:
        """A sale at `created`: a new payment and its invoice (both take their next id)."""
        client_id = self.platform.client(rng.randint(1000, 999_999))
        price = data.amount(rng)
        payment_id = self.take_id("payments")
        # Pending payments are recent: a boleto or Pix left unpaid for days is long settled.
        settled = status not in {0, 7} or rng.random() < 0.3  # noqa: PLR2004
        settled = settled or created < self.now - RECENT
        payment = data.new_payment(
            rng,
            payment_id=payment_id,
            account_key=key,
            client_id=client_id,
            price=price,
            created=created,
            now=max(self.now, created),
            settled=settled,
        )
        self.insert("payments", payment, key)
        invoice = data.new_invoice(
            rng,
            invoice_id=self.take_id("invoices"),
            account_key=key,
            payment=payment,
            created=created,
            now=max(self.now, created),
            status=status,
        )
        self.insert("invoices", invoice, key)
        return invoice

    def create_subscription(self, rng: random.Random, account_id: int, created: datetime) -> None:
        """A new subscription of account `account_id`."""
        now = max(self.now, created)
        sub = data.new_subscription(rng, self.take_id("subscriptions"), account_id, created, now)
        self.insert("subscriptions", sub, str(account_id))

    def take_id(self, stream: str) -> int:
        """The next id of `stream` (ids only grow; sparse from `id_base` when it is set)."""
        value = self.next_id[stream]
        step = 1
        if self.id_base and stream in SPARSE_ID_STREAMS:
            value = max(value, self.id_base)
            # A seeded gap of 1..ID_GAP: the ids of a partition are far from dense.
            step += zlib.crc32(f"{stream}:{value}".encode()) % ID_GAP
        self.next_id[stream] = value + step
        return value

    # ---- storage primitives ---------------------------------------------------------------

    def insert(self, stream: str, record: Record, owner: str) -> None:
        """Add a new record to its partition (ids arrive ascending)."""
        self.records[stream][record["id"]] = record
        self.by_account[stream].setdefault(owner, []).append(record["id"])
        self.touch(stream, record["id"])

    def touch(self, stream: str, record_id: int) -> None:
        """A record was added, changed or deleted: drop its cached JSON, mark it for saving."""
        self._json.pop((stream, record_id), None)
        self.dirty.add((stream, record_id))
        self.version += 1
        if stream in self._watch:
            self._reindex(stream, record_id)

    def _reindex(self, stream: str, record_id: int) -> None:
        """Index in-flight invoices and pending payments: a clock step scans only those."""
        record = self.records[stream].get(record_id)
        index = self._watch[stream]
        if record is None:
            index.pop(record_id, None)
        elif record["status"] in (IN_FLIGHT if stream == "invoices" else {"pending"}):
            index[record_id] = record["account_key"]
        else:
            index.pop(record_id, None)

    def watched(self, stream: str, key: str) -> list[int]:
        """Ids of one account's in-flight invoices or pending payments, ascending."""
        return sorted(i for i, owner in self._watch[stream].items() if owner == key)

    def after_load(self) -> None:
        """Rebuild what storage does not keep: the indexes and the platform's link targets."""
        for stream in self._watch:
            for record_id in self.records[stream]:
                self._reindex(stream, record_id)
        self.platform.rebuild()

    def owner(self, stream: str, record: Record) -> str:
        """The account partition a record lives in (key, or id for subscriptions)."""
        if stream == "accounts" or stream in PLATFORM_STREAMS:
            return "all"
        if stream in OWNER_FIELD:
            field = OWNER_FIELD[stream]
            return "all" if field is None else str(record[field])
        if stream == "subscriptions":
            return str(record["account_id"])
        return str(record["account_key"])

    def record_json(self, stream: str, record_id: int) -> bytes:
        """The cached JSON bytes of one record as the API returns it."""
        key = (stream, record_id)
        cached = self._json.get(key)
        if cached is None:
            record = self.records[stream][record_id]
            if self.undeclared:
                record = {**record, **data.undeclared(stream, record_id)}
            cached = json.dumps(record, separators=(",", ":")).encode()
            self._json[key] = cached
        return cached

    def set_undeclared(self, *, on: bool) -> None:
        """Switch the undeclared properties on or off (drops the cached JSON when it changes)."""
        if on != self.undeclared:
            self.undeclared = on
            self._json.clear()

    def ids(self, stream: str, owner: str) -> list[int]:
        """Ids of one partition, ascending (a live list: do not mutate)."""
        return self.by_account[stream].get(owner, [])

    def sorted_ids(self, stream: str, owner: str, sort_by: str) -> list[int]:
        """Ids of one partition ascending by `sort_by` then id, cached until the world changes."""
        if sort_by == "id":
            return self.ids(stream, owner)
        cached = self._sorted.get((stream, owner, sort_by))
        if cached is not None and cached[0] == self.version:
            return cached[1]
        records = self.records[stream]
        if sort_by == "amount":
            ids = sorted(self.ids(stream, owner), key=lambda i: (Decimal(records[i]["amount"]), i))
        else:
            ids = sorted(self.ids(stream, owner), key=lambda i: (records[i][sort_by], i))
        self._sorted[stream, owner, sort_by] = (self.version, ids)
        return ids

    def account_by_key(self, key: str) -> Record | None:
        """The account with this key, if any."""
        for account in self.records["accounts"].values():
            if account["key"] == key:
                return account
        return None

    # ---- invoice life ---------------------------------------------------------------------

    def set_status(self, record: Record, status: int, kind: str) -> None:
        """Change an invoice's visible status now, logged as a transition by `kind`."""
        before = record["status"]
        _show_status(record, status, self.now)
        self.touch("invoices", record["id"])
        self.transitions.append(
            {
                "invoice_id": record["id"],
                "account_key": record["account_key"],
                "from_status": before,
                "to_status": status,
                "at": ts(self.now),
                "kind": kind,
            }
        )

    def refresh_invoice(self, invoice_id: int) -> Record | None:
        """What `POST .../refresh` does: make the provider's decision visible."""
        record = self.records["invoices"].get(invoice_id)
        if record is None:
            return None
        outcome = self.hidden.pop(invoice_id, None)
        if outcome is not None:
            self.set_status(record, outcome, "mindzpay" if outcome == 1 else "provider")
        return record

    def truth(self, stream: str, *, undeclared: bool = False) -> list[Record]:
        """Every live record as it would read after refreshing every in-flight invoice now.

        With `undeclared`, each record carries the properties no schema declares (as the API
        sends them while that switch is on).
        """
        rows = []
        for owner in sorted(self.by_account[stream], key=_owner_sort_key(self, stream)):
            for record_id in self.ids(stream, owner):
                record = dict(self.records[stream][record_id])
                if stream == "invoices" and record_id in self.hidden:
                    _show_status(record, self.hidden[record_id], self.now)
                if undeclared:
                    record.update(data.undeclared(stream, record_id))
                rows.append(record)
        return rows

    def delete(self, stream: str, record_id: int) -> None:
        """Support deletes a record: it is gone from Get, Refresh and List."""
        record = self.records[stream].pop(record_id)
        ids = self.by_account[stream][self.owner(stream, record)]
        del ids[bisect_left(ids, record_id)]
        self.hidden.pop(record_id, None)
        self.touch(stream, record_id)
        self.deleted.append(
            {
                "stream": stream,
                "id": record_id,
                "account_key": record.get("account_key"),
                "deleted_at": ts(self.now),
            }
        )

    def stamp(self, stream: str, record: Record) -> None:
        """A record changed now: bump its `updated_at`."""
        record["updated_at"] = ts(self.now)
        self.touch(stream, record["id"])

    # ---- inserts and deletes while a client pages (fault) ---------------------------------

    def shift_partition(self, rng: random.Random, stream: str, owner: str) -> None:
        """Delete one record of a partition and add a new one, shifting every later offset."""
        ids = self.ids(stream, owner)
        if stream == "invoices" and len(ids) > 1:
            self.delete(stream, ids[rng.randrange(len(ids) // 2 + 1)])
            self.create_invoice(rng, owner, self.now, 0)


def _show_status(record: Record, status: int, now: datetime) -> None:
    """Set an invoice's visible status as of `now`, with the fields that status implies."""
    record["status"] = status
    record["updated_at"] = ts(now)
    if status in {2, 8} and record["issued_at"] is None:
        data.mark_issued(record, now)
    if status == 5:  # noqa: PLR2004
        record["canceled_at"] = ts(now)
    if status == 0:
        record.update(nfe_id=None, file_url=None, issued_at=None)


def _owner_sort_key(world: World, stream: str) -> Callable[[str], Any]:
    if stream == "accounts" or stream in PLATFORM_STREAMS:
        return lambda owner: owner
    if stream == "subscriptions":
        return int
    if stream in OWNER_FIELD:
        return lambda owner: int(owner) if owner.isdigit() else 0
    order = {a["key"]: a["id"] for a in world.records["accounts"].values()}
    return lambda owner: order.get(owner, 0)


def insert_sorted(ids: list[int], value: int) -> None:
    """Keep a partition's id list sorted (used when loading from storage)."""
    insort(ids, value)
