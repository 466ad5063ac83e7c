"""What a stream tells change capture: its refresh rule, and what its partitions share.

``RefreshRule`` is a stream class's (``streams``); ``CaptureSettings`` is built once per stream
from it and the run's settings (``wiring``) and handed to each partition's capture
(``capture.partition``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from tap_mindzpay.capture.schedule import Signals


@dataclass(frozen=True)
class RefreshRule:
    """How change capture keeps a stream's in-flight records current.

    Attributes:
        in_flight: True for a record whose state may still change without a new id
            (invoices in 0, 1 or 4; pending payments).
        method: HTTP method of the per-record request (``POST`` for the invoice Refresh).
        path_suffix: Appended to the stream's list path; ``{id}`` is the record id.
        changes_stream: Name of the stream that gets one record per observed status
            transition (``invoice_status_changes``); ``None`` for no such stream.
        link: What a record in flight waits on, as an integer kept in the state (an
            invoice's payment id, a payment's due day); 0 for nothing.
        waits: How a record waits (``schedule.Schedule.waits``): ``"invoice"`` on its payment,
            ``"payment"`` past its due date, ``""`` never (refreshed every sync).
        publishes: The status whose newly seen ids (and the ids still in flight) this stream
            leaves in the run's signals for its account (``"paid"`` for payments).
        reads_signals: The stream's schedule reads the signals of its account (invoices).
    """

    in_flight: Callable[[Mapping[str, Any]], bool]
    method: str
    path_suffix: str
    changes_stream: str | None = None
    link: Callable[[Mapping[str, Any]], int] | None = None
    waits: str = ""
    publishes: object = None
    reads_signals: bool = False


@dataclass(frozen=True)
class CaptureSettings:
    """What change capture of every partition of one stream shares.

    Attributes:
        rule: The stream's refresh rule (``None``: new records only).
        signals: What the streams of one account tell each other in this run.
        clock: The API's time now (the refresh schedule runs on it).
        predates_start: Whether a record was created before ``start_date``.
        sweep_interval_hours: Hours between sweeps; the longest a record in flight waits.
        max_concurrency: Per-record requests at once.
        logger: Where the partition's warnings and its capture counts go.
    """

    rule: RefreshRule | None
    signals: Signals
    clock: Callable[[], datetime]
    predates_start: Callable[[Mapping[str, Any]], bool]
    sweep_interval_hours: float
    max_concurrency: int
    logger: logging.Logger
