"""When a record in flight is worth a request: refresh scheduling, and what streams tell each other.

A refresh is spent where a status can have moved:

* a record that is not waiting (an invoice at 1 or 4, the provider deciding; an invoice at 0
  without a payment; a pending payment before ``PAYMENT_GRACE_DAYS`` past its due date) is
  refreshed on every sync, except a payment this run has just listed (a Get would return what
  the list did);
* an invoice at 0 whose payment the payments stream of this run saw become ``paid`` is
  refreshed in that run (payments sync before invoices, account by account), and so is one
  whose payment was paid before (MindzPay may hand it to the provider at any time);
* an invoice at 0 whose payment is pending has nothing to ask yet: skipped;
* any other waiting record (a pending payment long past its due date, an invoice whose payment
  was refused or canceled, or that this run did not read) backs off: it is refreshed again once
  as long has passed since it was last read (listed or refreshed) as its status had been
  unchanged then (at least ``MIN_BACKOFF_MINUTES``), so the intervals double;
* every waiting record is read at least every ``sweep_interval_hours``.

How long a status has been unchanged counts from the record's ``updated_at`` when the tap first
sees it in that status (``unchanged_since``): a boleto pending for months, or an invoice at 0
whose boleto expired long ago, backs off to ``sweep_interval_hours`` at once, where counting from
the tap's first sight would spend a few refreshes on it in its first hours. An ``updated_at``
that moves while the status stays (an edit, or a platform that stamps every Refresh) does not
restart the count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from tap_mindzpay.timestamps import parse_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable

MIN_BACKOFF_MINUTES = 60
#: A pending payment is asked every sync until this many days after its due date (a boleto
#: expires a few days after it).
PAYMENT_GRACE_DAYS = 7
#: Slack on the intervals, so that a sync a few minutes early still counts as on time.
SLACK_MINUTES = 5
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def minute_of(moment: datetime) -> int:
    """Minutes since the Unix epoch (UTC)."""
    return int(moment.astimezone(timezone.utc).timestamp() // 60)


def unchanged_since(updated_at: object, now: int) -> int:
    """The minute since which a record seen now is as it is: its ``updated_at``, at most now."""
    if not isinstance(updated_at, str):
        return now
    try:
        return min(now, minute_of(parse_timestamp(updated_at)))
    except ValueError:
        return now


def day_link(due_date: object) -> int:
    """A payment's link: its due date as days since the Unix epoch (0: none)."""
    if not isinstance(due_date, str) or len(due_date) < 10:  # noqa: PLR2004 - YYYY-MM-DD
        return 0
    try:
        return date.fromisoformat(due_date[:10]).toordinal() - _EPOCH_DAY
    except ValueError:
        return 0


#: Payment statuses after which MindzPay may hand the invoice to the provider at any time.
WAS_PAID = frozenset({"paid", "refunded", "chargeback"})


def _unknown(_payment_id: int) -> object:
    return None


@dataclass
class AccountSignals:
    """What one account's payments stream knows after this run: statuses, and the newly paid."""

    #: The last seen status of a payment id (``None``: not known).
    status: Callable[[int], object] = _unknown
    paid: frozenset[int] = frozenset()


@dataclass
class Signals:
    """The run's signals between streams, by account key (filled by payments, read by invoices)."""

    accounts: dict[str, AccountSignals] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, account: str, signals: AccountSignals) -> None:
        """What the payments of ``account`` saw."""
        with self.lock:
            self.accounts[account] = signals

    def of(self, account: str) -> AccountSignals | None:
        """What the payments of ``account`` saw in this run (``None``: not synced yet)."""
        with self.lock:
            return self.accounts.get(account)


@dataclass(frozen=True)
class Schedule:
    """Decides, per record in flight, whether this sync refreshes it."""

    now: int  # minute
    cap_minutes: int
    #: For invoices: the payments of this account seen in this run (``None``: not read).
    payments: AccountSignals | None = None
    #: "invoice" (waits on its payment), "payment" (waits past its due date) or "" (never).
    waits: str = ""

    def due(self, status: object, since: int, checked: int, link: int) -> str | None:  # noqa: PLR0911 - one rule per return
        """Why to refresh now (``"every"``, ``"paid"``, ``"cap"``, ``"backoff"``), or None.

        ``since``: minute since which the status is unchanged; ``checked``: minute the record
        was last read (listed or refreshed; 0: never); ``link``: ``RefreshRule.link``.
        """
        if not self._waiting(status, link):
            listed_now = self.waits == "payment" and checked == self.now
            return None if listed_now else "every"
        payment = None
        if self.payments is not None and self.waits == "invoice":
            if link in self.payments.paid:
                return "paid"
            payment = self.payments.status(link)
            if payment in WAS_PAID:
                return "every"
        last = checked or since
        if self.now - last >= self.cap_minutes - SLACK_MINUTES:
            return "cap"
        if payment == "pending":
            return None
        if not checked:
            return "backoff"
        interval = min(self.cap_minutes, max(MIN_BACKOFF_MINUTES, checked - since))
        return "backoff" if self.now - checked >= interval - SLACK_MINUTES else None

    def _waiting(self, status: object, link: int) -> bool:
        if self.waits == "invoice":
            return status == 0 and link != 0
        if self.waits == "payment":
            return link != 0 and self.now // 1440 - link > PAYMENT_GRACE_DAYS
        return False
