"""ChildLists: the child lists the SDK will sync for a page of parent records, told from them.

What a parent list's read hands ``childpages.ChildPages`` to fetch ahead: each kept record's
child lists' first pages, in the SDK's order, and for a child list with lists of its own what
its first page plans in turn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from tap_mindzpay.read.paging import ListPage

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from singer_sdk.helpers.types import Context

    from tap_mindzpay.read.childpages import ChildPages, Expanding, Planned


class FirstPage(Protocol):
    """A child list's first page for one child context: ``(key, signature, fetch)``."""

    def __call__(self, context: Context | None, /) -> Planned:
        """What ``ChildPages.plan`` takes for the child list of ``context``."""


@dataclass(frozen=True)
class ChildLists:
    """The child lists the SDK will sync for the records of one parent list, told from the records.

    The SDK syncs the children of each kept record (``keeps``) with the child context it builds
    from the parent's context and the record (``context_of``: child context key -> field), one
    child stream after another (``first_pages``, in the SDK's order). ``plan`` hands the first
    page of each to ``pages`` for a page of parents. A record whose context cannot be told (a
    field missing) is left out: its children request their first page themselves. A child list
    with child lists of its own (``nested``) plans theirs from its first page as it arrives
    (``ChildPages``), so that a course's grades and each grade's lessons are in flight together.
    """

    pages: ChildPages
    keeps: Callable[[Mapping[str, Any]], bool]
    context_of: Mapping[str, str]
    first_pages: tuple[FirstPage, ...]
    #: The parent list's partition.
    context: Context | None = None
    #: Per child list (as ``first_pages``), what its records plan in turn; ``None``: nothing.
    nested: tuple[ChildLists | None, ...] = ()
    #: A nested list's read: its plans go before what is planned already (``plan_next``).
    next_in_line: bool = False

    def plan(self, records: list[dict[str, Any]]) -> None:
        """The first pages of the child lists of ``records``, requested ahead."""
        if self.next_in_line:
            self.pages.plan_next(self.first_pages_of(records))
        else:
            self.pages.plan(self.first_pages_of(records))

    def expansion(self, context: Context | None, page: Any) -> Iterator[Expanding]:  # noqa: ANN401
        """What the fetched first ``page`` of partition ``context`` plans for its records."""
        return replace(self, context=context).first_pages_of(ListPage(*page).records)

    def first_pages_of(self, records: list[dict[str, Any]]) -> Iterator[Expanding]:
        """The first page of each child list of ``records``, in the order the SDK syncs them."""
        for record in records:
            if not self.keeps(record):
                continue  # skipped as malformed: the SDK syncs no children of it
            merged = {**(self.context or {}), **record}  # as ``Stream._process_record`` does
            try:
                child_context = {key: merged[field] for key, field in self.context_of.items()}
            except KeyError:
                continue
            for index, first_page in enumerate(self.first_pages):
                key, signature, fetch = first_page(child_context)
                nested = self.nested[index] if index < len(self.nested) else None
                expand = None if nested is None else partial(nested.expansion, child_context)
                yield key, signature, fetch, expand
