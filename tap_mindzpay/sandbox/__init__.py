"""The MindzPay sandbox: a real HTTP server implementing the API contract with seeded data.

A separate wing of the package: it imports nothing from the tap, and the tap starts it only as a
process (see `tap_mindzpay/run/launcher.py`).
"""
