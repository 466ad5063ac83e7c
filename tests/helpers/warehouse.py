"""Compare what a loader left in a warehouse table with the sandbox truth, by primary key.

A warehouse keeps rows the API no longer returns (support deletes a few records as the clock
moves) unless the pipeline propagates deletions, so those rows are tolerated but reported; every
other difference is a failure: a missing row (e.g. a loader dropping the first row of a batch), a
row for an id the API never had, or two rows for one id.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


@dataclass
class TableCheck:
    """The ids of one warehouse table against the truth of the same stream."""

    stream: str
    rows: int
    truth_count: int
    missing: list[Any] = field(default_factory=list)
    unexpected: list[Any] = field(default_factory=list)
    duplicated: list[Any] = field(default_factory=list)
    deleted_kept: list[Any] = field(default_factory=list)
    stale_status: list[tuple[Any, Any, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No missing, unexpected or duplicated rows and no stale statuses."""
        return not (self.missing or self.unexpected or self.duplicated or self.stale_status)

    def summary(self, limit: int = 10) -> str:
        """One line per finding, bounded."""
        lines = [
            (
                f"table {self.stream!r}: {self.rows} rows, truth {self.truth_count}; missing "
                f"{len(self.missing)}, unexpected {len(self.unexpected)}, duplicated "
                f"{len(self.duplicated)}, deleted-but-kept {len(self.deleted_kept)}, "
                f"stale status {len(self.stale_status)}"
            )
        ]
        if self.missing:
            lines.append(f"  missing ids (first {limit}): {sorted(self.missing)[:limit]}")
        if self.unexpected:
            lines.append(f"  unexpected ids (first {limit}): {sorted(self.unexpected)[:limit]}")
        if self.duplicated:
            lines.append(f"  duplicated ids (first {limit}): {sorted(self.duplicated)[:limit]}")
        lines.extend(
            f"  id {key}: status expected {want!r}, warehouse has {got!r}"
            for key, want, got in self.stale_status[:limit]
        )
        return "\n".join(lines)


def check_table(
    stream: str,
    landed_ids: Iterable[Any],
    truth: Iterable[Mapping[str, Any]],
    deleted: Iterable[Mapping[str, Any]] = (),
    *,
    key: str = "id",
) -> TableCheck:
    """Compare the ids of a table with the truth ids (deleted records of `stream` tolerated)."""
    counts = Counter(landed_ids)
    truth_ids = {row[key] for row in truth}
    deleted_ids = {row["id"] for row in deleted if row.get("stream") == stream}
    check = TableCheck(stream, sum(counts.values()), len(truth_ids))
    check.missing = sorted(truth_ids - counts.keys())
    check.unexpected = sorted(counts.keys() - truth_ids - deleted_ids)
    check.duplicated = sorted(k for k, n in counts.items() if n > 1)
    check.deleted_kept = sorted(counts.keys() & (deleted_ids - truth_ids))
    return check


def check_statuses(
    check: TableCheck,
    landed: Mapping[Any, Any],
    truth: Iterable[Mapping[str, Any]],
    *,
    key: str = "id",
    field_name: str = "status",
) -> TableCheck:
    """Add to `check` every truth record whose status differs from the warehouse row's."""
    for row in truth:
        if row[key] in landed and landed[row[key]] != row[field_name]:
            check.stale_status.append((row[key], row[field_name], landed[row[key]]))
    return check
