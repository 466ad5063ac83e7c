"""The results table, on the terminal and as BENCHMARKS.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench import Row

HEADER = ("figure", "measured", "ratio", "target", "met")


def _cells(row: Row) -> tuple[str, str, str, str, str]:
    ratio = "-" if row.value is None else f"{row.value:.3g}"
    met = {True: "yes", False: "NO", None: "-"}[row.met]
    return row.figure, row.measured, ratio, row.target, met


def table_text(rows: list[Row]) -> str:
    """A plain aligned table for the terminal."""
    lines = [HEADER, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def table_markdown(rows: list[Row]) -> str:
    """The same table in Markdown."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(_cells(row)) + " |" for row in rows),
    ]
    return "\n".join(lines)


def markdown(  # noqa: PLR0913 - the page's parts
    rows: list[Row],
    *,
    machine: dict[str, str],
    command: str,
    settings: dict[str, object],
    started: str,
    seconds: float,
) -> str:
    """The whole BENCHMARKS.md page."""
    parts = [
        "# tap-mindzpay benchmarks",
        "",
        (
            "Written by `make bench` (`benchmarks/run.py`); every number below was measured by "
            "that run, nothing is typed in by hand. The sandbox runs as its own process on "
            "127.0.0.1; "
            "each client (tap-mindzpay, the template-style baseline tap in "
            "`benchmarks/baseline_tap/`, the raw client `benchmarks/raw_client.py`) runs as its "
            "own process with stdout to /dev/null unless a later run needs its STATE."
        ),
        "",
        "## Reproduce",
        "",
        "```",
        "make bench",
        f"# which ran: {command}",
        "```",
        "",
        f"Run started {started}, took {seconds / 60:.1f} minutes. Settings: "
        + ", ".join(f"`{k}={v}`" for k, v in settings.items())
        + ".",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine.items()),
        "",
        "## Results",
        "",
        table_markdown(rows),
        "",
        "## Details",
        "",
    ]
    for row in rows:
        parts += [f"### {row.figure}", "", f"Measured: {row.measured}.", ""]
        in_code = False
        for detail in row.details:
            if detail.startswith("```"):
                in_code = not in_code
            parts.append(detail if in_code or detail.startswith("```") else f"- {detail}")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"
