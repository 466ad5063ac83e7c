"""What the tap declares is one list: tap.py, `--about`, meltano.yml, the Hub definition,
.env.example and the README.

Each source is read on its own and reduced to {name: Setting(kind, secret, description, default)}
in Meltano's kind names; every source must equal the tap's own schema (`TapMindzPay`'s settings
plus the SDK built-ins its capabilities add). The capability lists must be identical too.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import child_env, tap_about

from tap_mindzpay.tap import TapMindzPay

ROOT = Path(__file__).resolve().parent.parent
HUB_DEFINITION = ROOT / "plugins" / "extractors" / "tap-mindzpay--mindzpay.yml"
NO_DEFAULT = object()
FILLED = "mysecret"  # what a user fills a blank secret line of .env.example with


@dataclass(frozen=True)
class Setting:
    """One setting as a source declares it (Meltano kind names; default NO_DEFAULT if none)."""

    kind: str
    secret: bool
    description: str
    default: Any = NO_DEFAULT


Settings = dict[str, Setting]


def normalise(text: str) -> str:
    """Description text without markdown code ticks and with single spaces."""
    return " ".join(text.replace("`", "").split())


def meltano_kind(schema: dict[str, Any]) -> str:
    """The Meltano kind of a JSON schema property (one non-null type)."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    non_null = [kind for kind in types if kind != "null"]
    if sorted(non_null) == ["array", "boolean"]:
        # true or a list (include_personal_data): Meltano's array kind, which passes a YAML
        # true through as a boolean.
        return "array"
    assert len(non_null) == 1, f"expected one non-null type, got {schema}"
    if non_null[0] == "string" and schema.get("format") == "date-time":
        return "date_iso8601"
    return str(non_null[0])


def schema_settings(schema: dict[str, Any]) -> Settings:
    return {
        name: Setting(
            meltano_kind(prop),
            bool(prop.get("secret")),
            normalise(prop.get("description", "")),
            prop.get("default", NO_DEFAULT),
        )
        for name, prop in schema["properties"].items()
    }


def tap_schema() -> dict[str, Any]:
    """The tap's settings plus the SDK built-ins its capabilities add, as tap.py builds them."""
    schema = json.loads(json.dumps(TapMindzPay.config_jsonschema))
    TapMindzPay.append_builtin_config(schema)
    return schema


def tap_settings() -> Settings:
    return schema_settings(tap_schema())


def about_settings() -> Settings:
    return schema_settings(tap_about()["settings"])


def meltano_settings(settings: list[dict[str, Any]]) -> Settings:
    return {
        item["name"]: Setting(
            item.get("kind", "string"),
            bool(item.get("sensitive")),
            normalise(item.get("description", "")),
            item.get("value", NO_DEFAULT),
        )
        for item in settings
    }


def project_tap() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    (tap,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-mindzpay"]
    return dict(tap)


def hub() -> dict[str, Any]:
    return dict(yaml.safe_load(HUB_DEFINITION.read_text(encoding="utf-8")))


def project_settings() -> Settings:
    return meltano_settings(project_tap()["settings"])


def hub_settings() -> Settings:
    return meltano_settings(hub()["settings"])


ENV_LINE = re.compile(r"^# (TAP_MINDZPAY_[A-Z0-9_]+)=(.*)$")
ENV_DOC = re.compile(r"^# ([a-z0-9_]+) \(([a-z0-9_]+)(, secret)?\): (.+)$")


def env_example_settings() -> Settings:
    """Each variable line follows `# name (kind[, secret]): description`; secrets stay blank."""
    found: Settings = {}
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = ENV_LINE.match(line)
        if not match or match.group(1).startswith("TAP_MINDZPAY_TEST_"):
            continue
        variable, value = match.groups()
        doc = ENV_DOC.match(lines[number - 1])
        assert doc, f".env.example: no `# name (kind): description` line above {variable}"
        name, kind, secret, description = doc.groups()
        assert variable == f"TAP_MINDZPAY_{name.upper()}", (variable, name)
        assert "#" not in value, f"{variable}: a value with # breaks `source .env`"
        if secret:
            assert value == "", f"{variable}: a secret must stay blank in .env.example"
        found[name] = Setting(kind, bool(secret), normalise(description))
    return found


def markdown_table(path: Path, heading: str) -> list[list[str]]:
    """Rows (cells stripped) of the first table under the heading starting with `heading`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return [row for row in rows[1:] if not set(row[0]) <= {"-", ":"}]


def readme_rows() -> list[list[str]]:
    readme = ROOT / "README.md"
    return [
        *markdown_table(readme, "## Settings"),
        *markdown_table(readme, "### SDK built-in settings"),
    ]


def readme_settings() -> Settings:
    """README tables: setting | kind | default | description | environment variable."""
    found: Settings = {}
    for name, kind, default, description, _ in readme_rows():
        kind_name, _, secret = kind.partition(", ")
        found[name.strip("`")] = Setting(
            kind_name,
            secret == "secret",  # noqa: S105 - the README's kind cell, not a password
            normalise(description),
            NO_DEFAULT if default == "—" else json.loads(default.strip("`")),
        )
    return found


SOURCES = {
    "--about": about_settings,
    "meltano.yml": project_settings,
    "Hub definition": hub_settings,
    ".env.example": env_example_settings,
    "README tables": readme_settings,
}


def test_tap_declares_settings_with_secrets_and_the_sdk_builtins():
    settings = tap_settings()
    assert {"api_url", "client_id", "client_secret", "sandbox"} <= settings.keys()
    assert settings["client_secret"].secret
    assert settings["refresh_token"].secret
    assert {"stream_maps", "stream_map_config", "faker_config"} <= settings.keys()
    assert {"flattening_enabled", "flattening_max_depth"} <= settings.keys()
    assert "batch_config" not in settings


@pytest.mark.parametrize("source", SOURCES)
def test_setting_names_match_tap(source):
    assert sorted(SOURCES[source]()) == sorted(tap_settings())


@pytest.mark.parametrize("source", SOURCES)
def test_secret_flags_match_tap(source):
    expected = {name for name, setting in tap_settings().items() if setting.secret}
    found = {name for name, setting in SOURCES[source]().items() if setting.secret}
    assert found == expected


@pytest.mark.parametrize("source", SOURCES)
def test_setting_kinds_match_tap(source):
    expected = {name: setting.kind for name, setting in tap_settings().items()}
    assert {name: setting.kind for name, setting in SOURCES[source]().items()} == expected


@pytest.mark.parametrize("source", SOURCES)
def test_setting_descriptions_match_tap(source):
    expected = {name: setting.description for name, setting in tap_settings().items()}
    found = {name: setting.description for name, setting in SOURCES[source]().items()}
    assert {n: d for n, d in found.items() if d != expected.get(n)} == {}


@pytest.mark.parametrize("source", [s for s in SOURCES if s != ".env.example"])
def test_setting_defaults_match_tap(source):
    expected = {name: setting.default for name, setting in tap_settings().items()}
    found = {name: setting.default for name, setting in SOURCES[source]().items()}
    assert {n: d for n, d in found.items() if d != expected.get(n)} == {}


def test_readme_env_var_column_names_each_setting():
    for row in readme_rows():
        assert row[4] == f"`TAP_MINDZPAY_{row[0].strip('`').upper()}`"


def readme_capabilities() -> dict[str, list[str]]:
    """The capability lists the README shows: the meltano.yml snippet and the About excerpt."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"^\s*capabilities: \[(.*)\]$", text, re.MULTILINE)
    assert snippet, "README: no `capabilities: [...]` in the meltano.yml snippet"
    about_part = text.split("### Capabilities\n", 1)[1].split("\n### ", 1)[0]
    return {
        "README meltano.yml snippet": [c.strip() for c in snippet.group(1).split(",")],
        "README About excerpt": re.findall(r"^- `([a-z-]+)`$", about_part, re.MULTILINE),
    }


def test_capabilities_are_identical_everywhere():
    expected = [str(c) for c in TapMindzPay.capabilities]
    found = {
        "--about": tap_about()["capabilities"],
        "meltano.yml": project_tap()["capabilities"],
        "Hub definition": hub()["capabilities"],
        **readme_capabilities(),
    }
    assert {name: caps for name, caps in found.items() if caps != expected} == {}


def test_batch_and_activate_version_are_not_advertised():
    """The tap does not offer BATCH nor ACTIVATE_VERSION (README, "BATCH and ACTIVATE_VERSION")."""
    assert not {"batch", "activate-version"} & set(tap_about()["capabilities"])
    assert "batch_config" not in tap_about()["settings"]["properties"]


def test_meltano_yml_and_hub_definition_agree_on_labels_and_groups():
    tap, definition = project_tap(), hub()
    assert tap["settings_group_validation"] == definition["settings_group_validation"]
    for group in definition["settings_group_validation"]:
        assert set(group) <= tap_settings().keys()
    labels = {s["name"]: s.get("label") for s in tap["settings"]}
    assert labels == {s["name"]: s.get("label") for s in definition["settings"]}
    assert all(labels.values()), labels


def test_env_example_filled_in_is_sourced_by_a_shell_with_values_intact(tmp_path):
    """Uncomment and fill every line: `set -a; source` keeps secrets and JSON values whole."""
    filled = []
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = ENV_LINE.match(line)
        filled.append(f"{match.group(1)}={match.group(2) or FILLED}" if match else line)
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(filled) + "\n", encoding="utf-8")
    completed = subprocess.run(
        ["bash", "-c", 'set -euo pipefail; set -a; source "$1"; env', "bash", str(env_file)],
        capture_output=True,
        text=True,
        env=child_env(),
        check=False,
        timeout=30,
    )
    assert completed.returncode == 0, completed.stderr
    env = dict(line.split("=", 1) for line in completed.stdout.splitlines() if "=" in line)
    assert env["TAP_MINDZPAY_CLIENT_SECRET"] == FILLED
    assert env["TAP_MINDZPAY_REFRESH_TOKEN"] == FILLED
    assert json.loads(env["TAP_MINDZPAY_ACCOUNT_KEYS"]) == ["account-key-1", "account-key-2"]
    assert isinstance(json.loads(env["TAP_MINDZPAY_STREAM_MAPS"]), dict)
