"""The baseline MindzPay tap class."""

from __future__ import annotations

from singer_sdk import Tap
from singer_sdk import typing as th

from baseline_tap import streams


class TapMindzPayBaseline(Tap):
    """MindzPay tap, template style (benchmark baseline)."""

    name = "tap-mindzpay-baseline"

    config_jsonschema = th.PropertiesList(
        th.Property("api_url", th.StringType, required=True),
        th.Property("client_id", th.StringType, required=True),
        th.Property("client_secret", th.StringType, required=True, secret=True),
        th.Property("page_size", th.IntegerType, default=100),
    ).to_dict()

    def discover_streams(self) -> list[streams.MindzPayStream]:
        """Return a list of discovered streams."""
        return [
            streams.AccountsStream(self),
            streams.InvoicesStream(self),
            streams.PaymentsStream(self),
            streams.SubscriptionsStream(self),
        ]


if __name__ == "__main__":
    TapMindzPayBaseline.cli()
