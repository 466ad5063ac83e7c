"""The Singer SDK's standard tap tests, run against a sandbox process (every stream included).

The SDK builds the test class at import time (it instantiates the tap to list the streams), so the
sandbox has to be up before that: the shared frozen sandbox is started here on import and stopped
when the test process exits.
"""

from __future__ import annotations

from helpers.sandbox import shared_sandbox
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_mindzpay.tap import TapMindzPay

SANDBOX = shared_sandbox()

TestTapMindzPay = get_tap_test_class(
    TapMindzPay,
    config=SANDBOX.tap_config(),
    parse_env_config=False,
    # Enough records per stream to cross a page boundary and reach every account's children.
    suite_config=SuiteConfig(max_records_limit=250),
)
