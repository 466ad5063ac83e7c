"""tap-mindzpay: a Singer tap for MindzPay, the payment system of the Mindz course platform."""

from __future__ import annotations
