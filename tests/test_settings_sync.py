"""The settings list is one list: tap.py, meltano.yml, the Hub definition, .env.example, README.

Each source is read independently and reduced to {name: (type, secret)}; every pair must agree.
The reference is `TapMindzPay.config_jsonschema` minus the SDK's built-in settings.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from tap_mindzpay.tap import TapMindzPay

ROOT = Path(__file__).resolve().parent.parent
Settings = dict[str, tuple[str | None, bool | None]]

# Meltano setting kinds -> the JSON schema types used below.
KIND_TYPES = {
    "string": "string",
    "password": "string",
    "integer": "integer",
    "decimal": "number",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
    "date_iso8601": "date-time",
}


def json_schema_type(schema: dict) -> str:
    """The one non-null JSON type of a property (`date-time` for that string format)."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    non_null = [kind for kind in types if kind != "null"]
    assert len(non_null) == 1, f"expected one non-null type, got {schema}"
    if non_null[0] == "string" and schema.get("format") == "date-time":
        return "date-time"
    return non_null[0]


def prose_type(text: str) -> str:
    """Map a README / design.md type cell ('integer 1..100', 'array of strings') to a JSON type."""
    first = text.split(",", maxsplit=1)[0].strip().split()[0]
    return {"date-time": "date-time", "array": "array"}.get(first, first)


def tap_settings() -> Settings:
    schema = copy.deepcopy(TapMindzPay.config_jsonschema)
    builtins: dict = {"type": "object", "properties": {}}
    TapMindzPay.append_builtin_config(builtins)
    return {
        name: (json_schema_type(prop), bool(prop.get("secret")))
        for name, prop in schema["properties"].items()
        if name not in builtins["properties"]
    }


def meltano_settings(settings: list[dict]) -> Settings:
    return {
        item["name"]: (
            KIND_TYPES[item.get("kind", "string")],
            bool(item.get("sensitive")) or item.get("kind") == "password",
        )
        for item in settings
    }


def project_settings() -> Settings:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    (tap,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-mindzpay"]
    return meltano_settings(tap["settings"])


def hub_settings() -> Settings:
    path = ROOT / "plugins" / "extractors" / "tap-mindzpay--mindzpay.yml"
    return meltano_settings(yaml.safe_load(path.read_text(encoding="utf-8"))["settings"])


def env_example_settings() -> Settings:
    """Names from .env.example; secret = marked `# secret` (and left blank). Test variables skip."""
    found: Settings = {}
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for match in re.finditer(r"^#?\s*TAP_MINDZPAY_([A-Z0-9_]+)=(.*)$", text, re.MULTILINE):
        name, value = match.group(1).lower(), match.group(2).strip()
        if value.endswith("# secret"):
            assert value == "# secret", f"{name}: a secret must stay blank in .env.example"
        if not name.startswith("test_"):
            found[name] = (None, value.endswith("# secret"))
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


def table_settings(path: Path, heading: str) -> Settings:
    return {
        row[0].strip("`"): (prose_type(row[1]), "secret" in row[1])
        for row in markdown_table(path, heading)
    }


def readme_settings() -> Settings:
    return table_settings(ROOT / "README.md", "## Settings")


def design_settings() -> Settings:
    return table_settings(ROOT / "docs" / "design.md", "## Settings")


SOURCES = {
    "meltano.yml": project_settings,
    "Hub definition": hub_settings,
    ".env.example": env_example_settings,
    "README table": readme_settings,
    "docs/design.md": design_settings,
}


def test_tap_declares_settings_with_secrets():
    settings = tap_settings()
    assert {"api_url", "client_id", "client_secret", "sandbox"} <= settings.keys()
    assert settings["client_secret"][1] is True
    assert settings["refresh_token"][1] is True


@pytest.mark.parametrize("source", SOURCES)
def test_setting_names_match_tap(source):
    assert sorted(SOURCES[source]()) == sorted(tap_settings())


@pytest.mark.parametrize("source", SOURCES)
def test_secret_flags_match_tap(source):
    expected = {name for name, (_, secret) in tap_settings().items() if secret}
    found = {name for name, (_, secret) in SOURCES[source]().items() if secret}
    assert found == expected


@pytest.mark.parametrize("source", [name for name in SOURCES if name != ".env.example"])
def test_setting_types_match_tap(source):
    expected = {name: kind for name, (kind, _) in tap_settings().items()}
    found = {name: kind for name, (kind, _) in SOURCES[source]().items()}
    assert found == expected


def test_readme_env_var_column_names_each_setting():
    for row in markdown_table(ROOT / "README.md", "## Settings"):
        assert row[4] == f"`TAP_MINDZPAY_{row[0].strip('`').upper()}`"


def test_meltano_yml_and_hub_definition_agree_on_capabilities_and_groups():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    (tap,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-mindzpay"]
    hub_path = ROOT / "plugins" / "extractors" / "tap-mindzpay--mindzpay.yml"
    hub = yaml.safe_load(hub_path.read_text(encoding="utf-8"))
    assert tap["capabilities"] == hub["capabilities"]
    assert tap["settings_group_validation"] == hub["settings_group_validation"]
    for group in hub["settings_group_validation"]:
        assert set(group) <= tap_settings().keys()
