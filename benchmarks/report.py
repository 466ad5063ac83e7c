"""The results table, on the terminal and as BENCHMARKS.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench import Row

HEADER = ("figure", "measured", "ratio", "target", "met")

METHOD = """\
## How each figure is measured

* **Clients.** `tap-mindzpay` as installed (its catalog selects accounts, invoices, payments and
  subscriptions for (1) and (4); every stream for (2)). The baseline
  (`benchmarks/baseline_tap/`) is written the way the SDK's cookiecutter template writes a REST
  tap: `RESTStream`, the SDK's `OffsetPaginator`, `response.json()` + JSONPath, the default
  writer and type conformance, the same endpoints, sort, page size (100) and schemas, and the
  same `post_process` results; `tests/test_fastpath_equivalence.py` checks that it emits exactly
  the tap's records. The raw client (`benchmarks/raw_client.py`) is one `requests.Session`,
  stdlib `json` to decode each page and to write one RECORD line per record, nothing else (no
  schema, state, Decimal parsing or retries). Before any timing the bench compiles the
  bytecode of `tap_mindzpay/`, `benchmarks/` and the venv's installed packages once (as pip
  does at install; `make install` runs `uv sync --compile-bytecode`), so that no client
  recompiles its sources or the SDK's on every start (the environment may set
  PYTHONDONTWRITEBYTECODE).
* **(1)** Every client syncs the same frozen world with stdout to /dev/null; records/s is the
  sandbox's record count over the wall time of the client process (interpreter start-up
  included), best of the repeats. Each run must have fetched every page (checked in
  `/_sandbox/stats`). The sandbox alone is timed with the raw client's `--pages-only` mode
  (reads each page's bytes over one keep-alive `http.client` connection, decodes nothing, so
  that little client work is counted as the server's) and compared with the tap's records over
  the span of its requests, both without start-up. The tap runs its fast record path
  (`tap_mindzpay/fastpath.py`: RECORD lines encoded straight from the record when no stream
  map, flattening or deselected property applies); `tests/test_fastpath_equivalence.py`
  compares its output with the plain SDK path.
* **(2)** One account; `POST /_sandbox/in_flight` tops the in-flight invoices up to the wanted
  count; sync 1 (no latency) records them in its state; then the sandbox adds the latency to
  every API request and sync 2 from that state is timed (tap process wall time). The serial
  time is the same refreshes (`/_sandbox/stats` refresh log) sent one at a time over one
  keep-alive session, timed on a sample and scaled linearly when the sample is smaller.
* **(3)** The sandbox limits each token to R requests per 1-second window; a full sync of a
  world sized to last about 15 s. Achieved = non-429 requests over the span from the first to
  the last request as the sandbox counted them (polled every 50 ms).
* **(4)** `ru_maxrss` of the tap process alone (`os.wait4` in a small launcher, so the
  benchmark's own memory is not inherited through fork), full sync at both sizes.
* **(E), (B), (S), (R)** (`benchmarks/figures_state.py`): (E) 12 syncs one simulated hour apart
  (accounts, payments, invoices) of a world with 3,000 invoices waiting on boletos that are
  never paid; invoice Refreshes (sandbox stats) over the invoices in flight in the truth at each
  sync, and statuses left stale (last emitted status against the truth after each sync).
  (E, boletos never expire) the same where unpaid boletos stay pending for ever (sandbox switch
  `boletos_never_expire`, on from the start) and the 3,000 waiting boletos come from sales at
  least 90 days past due, unchanged since (`POST /_sandbox/waiting?overdue_days=90`); its
  details count the payment Gets too.
  (B) a second sync refreshing undecided in-flight invoices against a raw client refreshing the
  same ids from 8 threads, both timed first to last request as the sandbox answered them
  (`GET /_sandbox/stats/totals`, no polling); tap and raw alternate 3 times on one sandbox,
  the fastest of each counts. (S) a full sync of 1M invoices with 100,000 waiting, its stdout
  scanned for STATE lines; peak RSS as in (4). (R) refreshes over the first-to-last Refresh
  span (as the sandbox served them) of the same number of undecided in-flight invoices in a
  3,000- and a 300,000-invoice partition: both sandboxes stay up; 7 rounds of a second sync of
  each, back to back, and the round with the median large/small ratio counts (a cost that grows
  with the partition is in every round; the row's details list every round).
* **(DS), (H)** (`benchmarks/figures_hourly.py`): serial time over the tap's time, as (C) and
  (D), at 100 ms per request. (DS) a full sync of the four data streams of 4 accounts of 1,150
  invoices, payments and subscriptions each (12 pages of 100 per list), nothing in flight.
  (H) a school of 20 accounts x 2,000 invoices and the platform streams, nothing in flight: a
  full sync of every stream without latency, then the next sync from its STATE with the clock
  unmoved (nothing new, no sweep due); its tap time is the wall time of an hourly sync with
  nothing new. Both best of 2 tap runs.
* **(6)** The world of (1); the same tap syncs it with its fast record path and with the SDK's
  own record loop (`MindzPayStream.fast_records = False`, set by a launcher before the CLI
  starts), alternated, best of the repeats each. The fast record path is a copy of the SDK's
  loop, so it is kept only while it buys at least 20% of throughput (ratio >= 1.2).
"""


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
        METHOD,
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
