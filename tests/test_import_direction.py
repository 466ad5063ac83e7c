"""Imports run one way, top to bottom: tap -> streams -> client -> wiring -> engine -> auth.

Every module of ``tap_mindzpay`` (outside the sandbox) has a rank; a module may import only
modules of a lower rank, so nothing lower reaches higher and no two modules import each other.
A new module needs a rank here. The sandbox is a separate wing: it imports nothing from the
tap, and the tap none of it (the launcher starts it as a process).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tap_mindzpay"

RANKS = {
    "tap": 14,
    "cli": 13,
    "streams": 12,
    "derived": 11,
    "platform": 11,
    "client": 10,
    "wiring": 9,
    "capture.partition": 7,
    "capture.rules": 3,
    "read.reader": 6,
    "capture.statecheck": 5,
    "conform": 5,
    "decoding": 1,
    "fastpath": 8,
    "recordwriter": 1,
    "http.requester": 5,
    "settings": 2,
    "services": 4,
    "capture.engine": 5,
    "capture.derived": 4,
    "connection": 3,
    "run.summary": 3,
    "capture.state": 3,
    "capture.codec": 2,
    "capture.packing": 1,
    "capture.deferral": 3,
    "capture.schedule": 2,
    "capture.fetching": 4,
    "run.cadence": 2,
    "http.servertime": 1,
    "accounts": 2,
    "http.auth": 2,
    "errors": 2,
    "http.first_contact": 2,
    "inputs": 2,
    "run.launcher": 2,
    "read.paging": 2,
    "read.prefetch": 3,
    "read.childpages": 4,
    "read.childlists": 5,
    "read.recent": 7,
    "read.newest": 8,
    "run.progress": 2,
    "http.ratebudget": 2,
    "http.concurrency": 1,
    "run.stopping": 2,
    "http.redaction": 1,
    "http.body": 3,
    "personal": 1,
    "streammaps": 1,
    "http.retry": 1,
    "schemas": 1,
    "schemas.school": 2,
    "timestamps": 1,
    "http.tokenfile": 1,
    "http.tokenreply": 1,
    "endpoints": 0,
    "sdk_private": 0,
    "": 0,
    "capture": 0,
    "http": 0,
    "run": 0,
    "read": 0,
}


def module_name(path: Path) -> str:
    """``capture.state`` for tap_mindzpay/capture/state.py (a package: its folder)."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """The tap_mindzpay modules ``path`` imports (also under TYPE_CHECKING), without prefix."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # ``from tap_mindzpay.capture import state``: the submodule, if it is one.
            names = [
                f"{node.module}.{alias.name}"
                if _is_module(f"{node.module}.{alias.name}")
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found |= {
            name.removeprefix("tap_mindzpay").removeprefix(".")
            for name in names
            if name == "tap_mindzpay" or name.startswith("tap_mindzpay.")
        }
    return found


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative).is_dir()


def tap_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "sandbox" not in p.parts]


def test_every_module_of_the_tap_has_a_rank() -> None:
    unranked = sorted(module_name(p) for p in tap_modules() if module_name(p) not in RANKS)
    assert not unranked, f"modules without a rank in {__name__}.RANKS: {unranked}"


def test_imports_run_one_way_from_the_tap_down() -> None:
    upward = [
        f"{module_name(path)} (rank {RANKS[module_name(path)]}) imports {target} "
        f"(rank {RANKS.get(target)})"
        for path in tap_modules()
        for target in sorted(imported(path))
        if target.split(".")[0] != "sandbox"
        and RANKS.get(target, 99) >= RANKS.get(module_name(path), -1)
    ]
    assert not upward, "imports that do not point down:\n" + "\n".join(upward)


def test_the_sandbox_and_the_tap_import_nothing_of_each_other() -> None:
    crossing = [
        f"{module_name(path)} imports {target}"
        for path in tap_modules()
        for target in imported(path)
        if target.split(".")[0] == "sandbox"
    ]
    sandbox = sorted((PACKAGE / "sandbox").rglob("*.py"))
    crossing += [
        f"{module_name(path)} imports {target}"
        for path in sandbox
        for target in imported(path)
        if target.split(".")[0] != "sandbox"
    ]
    assert not crossing, crossing


def test_no_stream_finds_a_sibling_through_the_tap() -> None:
    # Streams reach each other (and the tap reaches them) through the run's services.
    reaching = [
        f"{path.name}:{node.lineno}"
        for path in tap_modules()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr == "streams"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "_tap"
    ]
    assert not reaching, reaching
