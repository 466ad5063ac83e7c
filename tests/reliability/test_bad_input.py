"""Bad input through the real CLI: one line naming what is wrong and where, a non-zero exit.

The tap runs as a process (``tap-mindzpay``) with a broken ``--config`` file, environment
variables of the wrong type for ``--config ENV``, a missing or broken ``--catalog`` or ``--state``
file, or a catalog that selects streams the tap does not have. Each must exit non-zero with
exactly one error line on stderr (no traceback, no usage text) that names the file, variable or
stream, and write nothing on stdout: no sync starts from input the tap cannot use.

Input the tap accepts but that is probably a mistake (an unknown setting key, a selected stream
it does not have next to ones it has) warns, naming the key or stream, and the run goes on.
Broken states are in test_bad_state.py; bad setting values in tests/unit/test_settings.py.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import pytest
from helpers import run_tap, run_tap_cli, structured_logging
from helpers.streams import STREAM_NAMES

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

pytestmark = pytest.mark.e2e
STREAMS = STREAM_NAMES


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused input gets; everything else about the run must be silent."""
    assert done.returncode != 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "Usage:" not in done.stderr, done.stderr[-3000:]
    assert done.stdout == "", "the tap wrote messages from input it cannot use"
    errors = [
        line
        for line in done.stderr.splitlines()
        if "tap-mindzpay:" in line or "| ERROR " in line or "error" in line.lower()
    ]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return name


# (case, config file text, what the one line must say)
BAD_CONFIG_FILES = [
    ("not JSON", '{"api_url": "https://escola.mindz.com.br/api/v2",', "is not JSON ("),
    ("empty", "", "is not JSON ("),
    ("a list", "[]", "must hold a JSON object of settings, not list"),
    ("a string", '"sandbox"', "must hold a JSON object of settings, not str"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in BAD_CONFIG_FILES], ids=[c[0] for c in BAD_CONFIG_FILES]
)
@pytest.mark.parametrize(
    "flag", [(), ("--test",), ("--discover",)], ids=["sync", "test", "discover"]
)
def test_broken_config_file_is_one_line_naming_the_file(text, expected, flag, tmp_path):
    config = write(tmp_path, "tap-config.json", text)
    done = run_tap_cli("--config", config, *flag, cwd=tmp_path)
    line = one_error_line(done)
    assert done.returncode == 1
    assert line.startswith("tap-mindzpay: config error: config file tap-config.json ")
    assert expected in line


def test_missing_config_file_is_one_line_naming_the_file(tmp_path):
    done = run_tap_cli("--config", "nowhere.json", cwd=tmp_path)
    line = one_error_line(done)
    assert done.returncode == 1
    assert line == "tap-mindzpay: config error: config file nowhere.json was not found"


def test_config_error_never_echoes_the_file_text(tmp_path):
    secret = "s3cr3t-in-a-broken-file"  # noqa: S105 - a value that must not be printed
    config = write(tmp_path, "config.json", f'{{"client_secret": "{secret}" "page_size": 5}}')
    done = run_tap_cli("--config", config, cwd=tmp_path)
    line = one_error_line(done)
    assert "config file config.json is not JSON (Expecting ',' delimiter" in line
    assert secret not in done.stderr


@pytest.mark.parametrize(
    "flag", [(), ("--test",), ("--discover",)], ids=["sync", "test", "discover"]
)
def test_under_a_logging_config_a_config_error_is_one_error_record_without_the_secret(
    flag, tmp_path
):
    # Meltano sets SINGER_SDK_LOG_CONFIG and reads stderr as log records: a plain line would
    # be shown at info level.
    secret = "s3cr3t-in-a-broken-file"  # noqa: S105 - a value that must not be printed
    config = write(tmp_path, "config.json", f'{{"client_secret": "{secret}" "page_size": 5}}')
    done = run_tap_cli("--config", config, *flag, cwd=tmp_path, env=structured_logging(tmp_path))
    line = one_error_line(done)
    assert done.returncode == 1
    assert done.stderr.strip() == line, "the one line is all the run printed"
    record = json.loads(line)
    assert record["level"] == "error"
    assert record["logger_name"] == "tap-mindzpay"
    assert record["message"] == (
        "tap-mindzpay: config error: config file config.json is not JSON "
        "(Expecting ',' delimiter at line 1 column 45)"
    )
    assert secret not in done.stderr


def test_under_a_logging_config_an_unknown_option_is_one_error_record(tmp_path):
    done = run_tap_cli("--nope", cwd=tmp_path, env=structured_logging(tmp_path))
    line = one_error_line(done)
    assert done.returncode == 2
    record = json.loads(line)
    assert record["level"] == "error"
    assert record["message"] == (
        "tap-mindzpay: No such option '--nope'. (tap-mindzpay --help lists the options)"
    )


# (environment for --config ENV, the variable the one line names, what it says)
BAD_ENV = [
    ({"TAP_MINDZPAY_PAGE_SIZE": "abc"}, "TAP_MINDZPAY_PAGE_SIZE (setting page_size)", "integer"),
    ({"TAP_MINDZPAY_MAX_RETRIES": "8.5"}, "TAP_MINDZPAY_MAX_RETRIES", "must be an integer"),
    ({"TAP_MINDZPAY_SKIP_MALFORMED_RECORDS": "ture"}, "SKIP_MALFORMED_RECORDS", "true or false"),
    ({"TAP_MINDZPAY_STREAM_MAPS": "{invoices: 1}"}, "TAP_MINDZPAY_STREAM_MAPS", "must be JSON"),
]


@pytest.mark.parametrize(
    ("env", "variable", "expected"), BAD_ENV, ids=[next(iter(e[0])) for e in BAD_ENV]
)
@pytest.mark.parametrize("flag", [(), ("--test",)], ids=["sync", "test"])
def test_env_var_of_the_wrong_type_is_one_line_naming_the_variable(
    env, variable, expected, flag, tmp_path
):
    done = run_tap_cli(
        "--config", "ENV", *flag, cwd=tmp_path, env={"TAP_MINDZPAY_SANDBOX": "true", **env}
    )
    line = one_error_line(done)
    assert done.returncode == 1
    assert line.startswith("tap-mindzpay: config error: environment variable ")
    assert variable in line
    assert expected in line
    assert "Started the embedded MindzPay sandbox" not in done.stderr


def test_boolean_env_var_that_is_not_true_or_false_is_named_not_read_as_false(tmp_path):
    # The SDK reads any value but true/1/yes/on as false: "ture" would silently mean false,
    # and here surface as "api_url is required" instead of naming the variable.
    done = run_tap_cli("--config", "ENV", cwd=tmp_path, env={"TAP_MINDZPAY_SANDBOX": "ture"})
    line = one_error_line(done)
    assert "environment variable TAP_MINDZPAY_SANDBOX (setting sandbox) must be true" in line
    assert "api_url is required" not in done.stderr


@pytest.mark.parametrize("option", ["--catalog", "--state"])
def test_missing_catalog_or_state_file_is_one_line_naming_it(option, sandbox, tmp_path):
    config = write(tmp_path, "config.json", json.dumps(sandbox.tap_config()))
    done = run_tap_cli("--config", config, option, "missing.json", cwd=tmp_path)
    line = one_error_line(done)
    assert line.startswith(f"tap-mindzpay: Invalid value for '{option}': 'missing.json': No such")


def catalog_selecting(discovered: dict[str, Any], *names: str) -> dict[str, Any]:
    """The discovered catalog with exactly ``names`` selected (unknown names get an entry)."""
    catalog = copy.deepcopy(discovered)
    for name in names:
        if name not in STREAMS:
            catalog["streams"].append(
                {"tap_stream_id": name, "stream": name, "schema": {"type": "object"}}
            )
    for entry in catalog["streams"]:
        entry["metadata"] = [m for m in entry.get("metadata", []) if m["breadcrumb"] != []] + [
            {"breadcrumb": [], "metadata": {"selected": entry["tap_stream_id"] in names}}
        ]
    return catalog


# (case, catalog text or a function of the discovered catalog, what the one line must say)
BAD_CATALOGS = [
    ("not JSON", '{"streams": [', "is not JSON ("),
    ("a list", "[]", "must be an object with a list 'streams'"),
    ("streams an object", '{"streams": {}}', "must be an object with a list 'streams'"),
    ("entry without id", '{"streams": [{"stream": "invoices"}]}', "each have a 'tap_stream_id'"),
    ("nothing selected", catalog_selecting, "selects no stream, so the run would"),
    (
        "only another tap's stream",
        lambda c: catalog_selecting(c, "charges"),
        "selects only charges, so the run would sync nothing; this tap's streams are accounts",
    ),
]


@pytest.mark.parametrize(
    ("bad", "expected"), [c[1:] for c in BAD_CATALOGS], ids=[c[0] for c in BAD_CATALOGS]
)
def test_unusable_catalog_is_one_line_naming_the_file(
    bad, expected, sandbox, discovered_catalog, tmp_path
):
    text = bad if isinstance(bad, str) else json.dumps(bad(discovered_catalog))
    config = write(tmp_path, "config.json", json.dumps(sandbox.tap_config()))
    catalog = write(tmp_path, "catalog.json", text)
    done = run_tap_cli("--config", config, "--catalog", catalog, cwd=tmp_path)
    line = one_error_line(done)
    assert done.returncode == 1
    assert "| ERROR " in line
    assert "catalog catalog.json " in line
    assert expected in line
    assert "tap-mindzpay --discover" in line


def test_selected_stream_the_tap_lacks_is_named_in_a_warning_and_the_rest_syncs(
    sandbox, discovered_catalog, tmp_path
):
    catalog = catalog_selecting(discovered_catalog, "accounts", "invoice")
    run = run_tap(sandbox.tap_config(), catalog=catalog, workdir=tmp_path).check()
    warnings = [line for line in run.stderr.splitlines() if "| WARNING " in line]
    assert any(
        "catalog.json selects stream 'invoice', which this tap does not have "
        "(did you mean invoices?); it is ignored" in line
        for line in warnings
    ), run.stderr[-3000:]
    assert run.streams() == {"accounts"}
    assert len(run.records("accounts")) == len(sandbox.truth("accounts"))
    assert "| Run completed in " in run.stderr


def test_unknown_setting_key_warns_naming_it_and_the_closest_setting(sandbox_factory, tmp_path):
    # A private world: its request counters are this test's alone.
    sandbox = sandbox_factory(seed=42, accounts=3, invoices_per_account=300)
    config = sandbox.tap_config(pagesize=5, sweep_interval_hours=0, flatening_enabled=True)
    run = run_tap(config, workdir=tmp_path).check()
    warnings = [line for line in run.stderr.splitlines() if "| WARNING " in line]
    assert any(
        "Unknown setting 'pagesize' is ignored; did you mean page_size?" in w for w in warnings
    )
    assert any(
        "Unknown setting 'flatening_enabled' is ignored; did you mean flattening_enabled?" in w
        for w in warnings
    )
    assert "Unknown setting 'sweep_interval_hours'" not in run.stderr
    assert len(run.records("invoices")) == len(sandbox.truth("invoices"))
    # Ignored indeed: invoice list pages of 100 (the default), not 5, so a few dozen list
    # requests, not hundreds (refreshes of in-flight invoices are not list pages).
    lists = sandbox.stats()["requests"]["GET /mindzpay/accounts/{account_key}/invoices"]
    assert sum(lists.values()) < len(sandbox.truth("invoices")) / 20


def test_known_settings_warn_about_nothing(sandbox, tmp_path):
    config = sandbox.tap_config(page_size=100, max_retries=3, stream_maps={}, sandbox=False)
    run = run_tap(config, workdir=tmp_path).check()
    assert "Unknown setting" not in run.stderr
