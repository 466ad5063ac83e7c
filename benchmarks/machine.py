"""A description of the machine and software the benchmark ran on, for BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "tap-mindzpay",
    "singer-sdk",
    "msgspec",
    "requests",
    "urllib3",
    "simplejson",
    "jsonschema",
    "psutil",
)


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> str:
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine skews every figure)."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def describe(load_at_start: str = "unknown") -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python, load, and the versions of the packages that matter."""
    facts = {
        "CPU": _cpu_model(),
        "cores (logical)": str(os.cpu_count()),
        "RAM": _memory_gib(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "load average 1/5/15 min, at start": load_at_start,
        "load average 1/5/15 min, at end": load_average(),
    }
    facts |= {package: _version(package) for package in PACKAGES}
    return facts
