"""`python -m baseline_tap`: the tap's CLI."""

from __future__ import annotations

from baseline_tap.tap import TapMindzPayBaseline

TapMindzPayBaseline.cli()
