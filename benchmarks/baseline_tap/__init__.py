"""A MindzPay tap written the way the singer-sdk cookiecutter template writes one.

The benchmark's baseline: plain `RESTStream`, the SDK's `OffsetPaginator`, the default message
writer and type conformance, `response.json()` decoding, and the same endpoints, sort order,
page size and JSON schemas as tap-mindzpay (it reads the tap's schema files). It exists only to
be measured against; nothing in `tap_mindzpay` imports it.

    PYTHONPATH=benchmarks python -m baseline_tap --config config.json > /dev/null
"""
