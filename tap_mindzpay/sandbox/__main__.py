"""`python -m tap_mindzpay.sandbox`: the same as the `mindzpay-sandbox` command."""

from __future__ import annotations

import sys

from tap_mindzpay.sandbox.cli import main

sys.exit(main())
