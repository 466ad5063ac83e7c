"""TapMindzPay: the tap's name, settings, capabilities and stream list.

What happens around a run (settings checked as one line each, ``--test``, input pre-checks, the
summary on exit) is in ``cli``; what the streams of a run share (API base, authenticator, rate
budget, report, stop control, the embedded sandbox) is in ``services``.
"""

from __future__ import annotations

import sys
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities
from typing_extensions import override

from tap_mindzpay.cli import CommandLine
from tap_mindzpay.recordwriter import EncodedStateWriter, RecordWriter
from tap_mindzpay.settings import SETTINGS
from tap_mindzpay.streams import STREAM_TYPES

if TYPE_CHECKING:
    from singer_sdk.helpers._state import StateWriter
    from singer_sdk.streams import Stream

    from tap_mindzpay.connection import CheckResult


class TapMindzPay(CommandLine):
    """Singer tap for MindzPay and the Mindz platform records its records point to."""

    name = "tap-mindzpay"
    config_jsonschema: ClassVar[dict[str, Any]] = SETTINGS.to_dict()
    #: What the tap offers (``--about``; meltano.yml and the Hub definition list the same).
    #: Not the SDK's ``batch`` (BATCH files written while STATE moves on could carry a bookmark
    #: past records not yet announced, and the bundled targets cannot read BATCH) nor
    #: ``activate-version`` (no stream emits ACTIVATE_VERSION). ``settings.check_unsupported``
    #: refuses a config that asks for either.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.TEST,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]
    #: Performance lever: the SDK's msgspec writer serialises messages about four times faster
    #: than its default simplejson one; same JSON values (Decimal money stays an exact number).
    #: ``RecordWriter`` adds the fast record path (``fastpath``) to it.
    #: tests/test_fastpath_equivalence.py compares it with the default writer.
    message_writer_class = RecordWriter

    @property
    @override
    def state_writer(self) -> StateWriter:
        # STATE compared with the last one written as its encoded line, not a deep copy.
        return self._state_lines

    @cached_property
    def _state_lines(self) -> StateWriter:
        writer = self.message_writer
        if isinstance(writer, RecordWriter):
            return EncodedStateWriter(writer)
        return super().state_writer

    def check_connection(self) -> CheckResult:
        """Obtain a token and list the visible accounts (see ``connection``)."""
        return self.services.check_connection()

    @override
    def discover_streams(self) -> list[Stream]:
        return [stream_type(tap=self, services=self.services) for stream_type in STREAM_TYPES]


if __name__ == "__main__":
    sys.exit(TapMindzPay.cli())
