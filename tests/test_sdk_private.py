"""The SDK boundary: every private singer-sdk name the tap touches is listed, and still there.

``tap_mindzpay/sdk_private.py`` lists them with the signature the tap was written against; a
singer-sdk release that removes one or changes its signature fails here, naming it, instead of
breaking a sync. A module of the tap that starts touching a private SDK name fails here too
until the name is listed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
from pathlib import Path

import pytest
from singer_sdk import Tap
from singer_sdk.authenticators import APIAuthenticatorBase
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.streams import RESTStream
from singer_sdk.streams.core import Stream

from tap_mindzpay import sdk_private
from tap_mindzpay.client import MindzPayStream
from tap_mindzpay.tap import TapMindzPay

PACKAGE = Path(__file__).resolve().parents[1] / "tap_mindzpay"
#: SDK classes the tap subclasses or uses; a private name defined on one of them is the SDK's.
SDK_CLASSES = (Stream, RESTStream, Tap, MsgSpecWriter, APIAuthenticatorBase)
CONFIG = {"api_url": "http://127.0.0.1:9/api/v2", "client_id": "app", "client_secret": "s"}


def _private(name: str) -> bool:
    # ``_abc_impl`` is Python's own (abc), on every abstract class.
    return name.startswith("_") and not name.startswith("__") and name != "_abc_impl"


@pytest.mark.parametrize("name", sorted({**sdk_private.OVERRIDDEN, **sdk_private.CALLED}), ids=str)
def test_each_listed_private_stream_method_exists_with_its_recorded_signature(name: str) -> None:
    recorded = {**sdk_private.OVERRIDDEN, **sdk_private.CALLED}[name]
    method = getattr(Stream, name, None)
    assert method is not None, f"singer-sdk's Stream has no {name} any more (sdk_private.py)"
    found = str(inspect.signature(method))
    assert found == recorded, f"singer-sdk changed Stream.{name}: {found} (recorded {recorded})"


def _private_overrides(ours: type, sdk: type) -> set[str]:
    """Private methods of `sdk` that a class of the tap in `ours`'s MRO defines again."""
    return {
        name
        for cls in ours.__mro__
        if cls.__module__.startswith("tap_mindzpay")
        for name in vars(cls)
        if _private(name) and callable(getattr(sdk, name, None))
    }


def test_the_tap_overrides_exactly_the_listed_private_methods() -> None:
    overridden = _private_overrides(MindzPayStream, Stream)
    assert overridden == set(sdk_private.OVERRIDDEN)
    assert len(overridden) <= 2


def test_the_tap_class_overrides_no_private_sdk_method() -> None:
    assert _private_overrides(TapMindzPay, Tap) == set()


def test_each_listed_private_attribute_exists_on_a_live_tap_and_stream() -> None:
    tap = TapMindzPay(config=CONFIG, parse_env_config=False)
    stream = tap.streams["invoices"]
    for name in sdk_private.STREAM_ATTRIBUTES:
        assert hasattr(stream, name), f"singer-sdk's Stream has no attribute {name} any more"
    for name in sdk_private.TAP_ATTRIBUTES:
        assert hasattr(tap, name), f"singer-sdk's Tap has no attribute {name} any more"
    assert isinstance(tap._config, dict)  # noqa: SLF001 - the listed private name itself


@pytest.mark.parametrize("entry", sorted(sdk_private.IMPORTED), ids=".".join)
def test_each_listed_private_import_exists_with_its_recorded_signature(
    entry: tuple[str, str],
) -> None:
    module, name = entry
    found = getattr(importlib.import_module(module), name, None)
    assert found is not None, f"singer-sdk's {module} has no {name} any more (sdk_private.py)"
    assert str(inspect.signature(found)) == sdk_private.IMPORTED[entry], f"{module}.{name}"


def _private_sdk_names_touched() -> dict[str, str]:
    """Private SDK names used anywhere in the tap (outside the sandbox), with a place."""
    known = {
        name
        for cls in SDK_CLASSES
        for klass in cls.__mro__
        if klass.__module__.startswith("singer_sdk")
        for name in vars(klass)
        if _private(name)
    }
    known |= set(sdk_private.STREAM_ATTRIBUTES) | set(sdk_private.TAP_ATTRIBUTES)
    touched: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "sandbox" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = None
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.FunctionDef):
                name = node.name
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
                for alias in node.names:
                    if alias.name.startswith("_"):
                        touched[f"{node.module}.{alias.name}"] = f"{path.name}:{node.lineno}"
            if name in known:
                touched.setdefault(name, f"{path.name}:{node.lineno}")
    return touched


def test_every_private_sdk_name_the_tap_touches_is_listed() -> None:
    listed = (
        set(sdk_private.OVERRIDDEN)
        | set(sdk_private.CALLED)
        | set(sdk_private.STREAM_ATTRIBUTES)
        | set(sdk_private.TAP_ATTRIBUTES)
        | {f"{module}.{name}" for module, name in sdk_private.IMPORTED}
    )
    touched = _private_sdk_names_touched()
    unlisted = {name: where for name, where in touched.items() if name not in listed}
    assert not unlisted, f"private SDK names not in sdk_private.py: {unlisted}"


@pytest.mark.parametrize("key", sdk_private.STATE_KEYS)
def test_each_state_key_the_tap_writes_by_hand_is_one_the_sdk_uses(key: str) -> None:
    source = inspect.getsource(importlib.import_module("singer_sdk.helpers._state"))
    assert f'"{key}"' in source, f"singer-sdk's state no longer has the key {key!r}"


@pytest.mark.parametrize("where", sorted(sdk_private.COPIED_SOURCE))
def test_the_sdk_source_the_fast_path_repeats_is_unchanged(where: str) -> None:
    module, _, qualname = where.partition(":")
    found: object = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    digest = hashlib.sha256(inspect.getsource(found).encode()).hexdigest()  # type: ignore[arg-type]
    assert digest == sdk_private.COPIED_SOURCE[where], (
        f"singer-sdk changed {where}, which fastpath.py repeats step for step: compare the two, "
        "bring the fast path in line, then record the new hash in sdk_private.COPIED_SOURCE"
    )
