"""The one ISO 8601 timestamp parser of the tap (records, state, the setting ``start_date``)."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware datetime: ``Z`` is UTC, and so is no offset.

    ``datetime.fromisoformat`` reads a trailing ``Z`` only from Python 3.11 on; the API and
    Meltano both write it, so it is turned into ``+00:00`` first.

    Raises:
        ValueError: ``text`` is not an ISO 8601 timestamp.
    """
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
