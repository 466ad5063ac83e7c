"""The sandbox's table of resources and the tap's table of streams name the same things.

They are two tables on purpose: the sandbox models the API and imports nothing from the tap
(``test_import_direction``). Tests read the tap's streams from ``helpers.streams`` and the
sandbox's resources from the sandbox; these checks keep the two from drifting apart.
"""

from __future__ import annotations

from helpers.streams import ACCOUNT_STREAMS, MINDZPAY_STREAMS, PARENTS, PLATFORM_STREAMS

from tap_mindzpay.sandbox import platform, school, world
from tap_mindzpay.streams import STREAM_TYPES


def test_the_sandbox_serves_every_stream_the_tap_lists_and_no_other() -> None:
    assert sorted(world.STREAMS) == sorted(MINDZPAY_STREAMS)
    assert sorted(world.ACCOUNT_STREAMS) == sorted(ACCOUNT_STREAMS)
    sandbox_platform = (*platform.PLATFORM_STREAMS, *school.SCHOOL_STREAMS)
    assert sorted(sandbox_platform) == sorted(PLATFORM_STREAMS)
    assert len(set(world.ALL_STREAMS)) == len(world.ALL_STREAMS)


def test_a_nested_resource_of_the_sandbox_is_a_child_stream_of_the_tap() -> None:
    # The sandbox partitions a nested resource by the field naming its parent; the tap hands
    # the same field down from the parent stream.
    types = {t.name: t for t in STREAM_TYPES}
    nested = {name for name, field in school.OWNER_FIELD.items() if field}
    assert nested == set(PARENTS)
    for name in sorted(nested):
        parent = types[name].parent_stream_type
        assert parent is not None
        assert school.OWNER_FIELD[name] in parent.child_context, name
