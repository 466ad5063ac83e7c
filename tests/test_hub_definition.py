"""The Hub definition (plugins/extractors/tap-mindzpay--mindzpay.yml) keeps Meltano Hub's rules.

The rules are the ones of meltano/hub's `schemas/plugin_definitions/extractors.schema.json`, with
`hub_metadata.schema.json` and the common schemas they reference (`common/common.schema.json`,
`common/extractors_specific.schema.json`, `common/base_setting.schema.json`), written out here
by hand: the keys allowed at the top level (`additionalProperties: false`), the required keys,
the types, the enums and the setting keys and kinds. `hub_problems` lists what breaks them; a
test feeds it broken copies, so a rule that cannot fail is caught. Then the project's own
promises: `quality: unknown`, and one URL for the repository everywhere (pyproject.toml
`[project.urls]`, `pip_url`, `repo`, `docs`, the README). Last, Meltano itself adds the
definition to an empty project with `meltano add --from-ref`.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import child_env, tap_about, venv_script

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli before Python 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
HUB_DEFINITION = ROOT / "plugins" / "extractors" / "tap-mindzpay--mindzpay.yml"

# extractors.schema.json: the only top-level keys (additionalProperties: false) and `quality`.
ALLOWED_KEYS = frozenset(
    {
        "name", "pip_url", "variant", "namespace", "label", "description", "executable",
        "settings", "docs", "repo", "logo_url", "hidden", "python",
        "settings_group_validation", "commands", "capabilities", "metadata", "schema", "select",
        "maintenance_status", "quality", "domain_url", "keywords", "requires", "definition",
        "next_steps", "settings_preamble", "usage", "prereq", "supported_python_versions",
        "log_parser",
    }
)  # fmt: skip
# common.schema.json requires these; extractors.schema.json adds `quality`.
REQUIRED_KEYS = ("name", "namespace", "variant", "quality")
STRING_KEYS = (
    "name", "namespace", "variant", "label", "description", "pip_url", "executable", "repo",
    "docs", "python", "log_parser", "definition", "next_steps", "settings_preamble", "usage",
    "prereq",
)  # fmt: skip
# hub_metadata.schema.json
MAINTENANCE_STATUSES = frozenset({"active", "beta", "development", "inactive", "unknown"})
QUALITIES = frozenset({"gold", "silver", "bronze", "unknown"})
# extractors_specific.schema.json
CAPABILITIES = frozenset(
    {
        "properties", "catalog", "discover", "state", "about", "stream-maps",
        "schema-flattening", "activate-version", "batch", "test", "log-based",
        "structured-logging",
    }
)  # fmt: skip
# base_setting.schema.json: the only setting keys (additionalProperties: false), `name` required.
SETTING_KEYS = frozenset(
    {
        "name", "aliases", "label", "value", "placeholder", "kind", "description", "tooltip",
        "documentation", "env", "value_processor", "value_post_processor", "oauth", "options",
        "docs", "hidden", "sensitive",
    }
)  # fmt: skip
SETTING_KINDS = frozenset(
    {
        "oauth", "hidden", "password", "date_iso8601", "file", "email", "integer", "options",
        "object", "array", "boolean", "string", "decimal",
    }
)  # fmt: skip
SETTING_STRING_KEYS = ("name", "label", "placeholder", "description", "tooltip", "documentation")
PYTHON_VERSION = re.compile(r"^3\.\d+$")


def _is_string_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _setting_problems(index: int, setting: object) -> list[str]:
    if not isinstance(setting, dict):
        return [f"settings[{index}] is not an object"]
    where = f"settings[{index}] ({setting.get('name')})"
    problems = [f"{where}: key {key!r} not allowed" for key in setting if key not in SETTING_KEYS]
    if "name" not in setting:
        problems.append(f"{where}: `name` is required")
    problems += [
        f"{where}: {key} must be a string"
        for key in SETTING_STRING_KEYS
        if key in setting and not isinstance(setting[key], str)
    ]
    if "kind" in setting and setting["kind"] not in SETTING_KINDS:
        problems.append(f"{where}: kind {setting['kind']!r} not in the Hub's kinds")
    for key in ("sensitive", "hidden"):
        if key in setting and not isinstance(setting[key], bool):
            problems.append(f"{where}: {key} must be a boolean")
    return problems


def hub_problems(definition: dict[str, Any]) -> list[str]:
    """Every way `definition` breaks the Hub's extractor schema (empty: it validates)."""
    problems = [f"key {key!r} not allowed" for key in definition if key not in ALLOWED_KEYS]
    problems += [f"`{key}` is required" for key in REQUIRED_KEYS if key not in definition]
    problems += [
        f"{key} must be a string"
        for key in STRING_KEYS
        if key in definition and not isinstance(definition[key], str)
    ]
    if "maintenance_status" in definition and (
        definition["maintenance_status"] not in MAINTENANCE_STATUSES
    ):
        problems.append(f"maintenance_status {definition['maintenance_status']!r} not allowed")
    if "quality" in definition and definition["quality"] not in QUALITIES:
        problems.append(f"quality {definition['quality']!r} not allowed")
    capabilities = definition.get("capabilities", [])
    if not _is_string_list(capabilities):
        problems.append("capabilities must be a list of strings")
    else:
        problems += [f"capability {c!r} unknown" for c in capabilities if c not in CAPABILITIES]
    for key in ("keywords", "select"):
        if key in definition and not _is_string_list(definition[key]):
            problems.append(f"{key} must be a list of strings")
    groups = definition.get("settings_group_validation", [])
    if not (isinstance(groups, list) and all(_is_string_list(group) for group in groups)):
        problems.append("settings_group_validation must be a list of lists of strings")
    versions = definition.get("supported_python_versions", [])
    if not _is_string_list(versions) or not all(PYTHON_VERSION.match(v) for v in versions):
        problems.append(f"supported_python_versions must be '3.x' strings, got {versions!r}")
    settings = definition.get("settings", [])
    if not isinstance(settings, list):
        return [*problems, "settings must be a list"]
    for index, setting in enumerate(settings):
        problems += _setting_problems(index, setting)
    return problems


def hub_definition() -> dict[str, Any]:
    return dict(yaml.safe_load(HUB_DEFINITION.read_text(encoding="utf-8")))


def project_urls() -> dict[str, str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(pyproject["project"]["urls"])


def test_hub_definition_keeps_the_hub_schema_rules():
    assert hub_problems(hub_definition()) == []


def _without(key: str) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        del d[key]

    return mutate


BREAKAGES = {
    "no quality": _without("quality"),
    "no variant": _without("variant"),
    "unknown key": lambda d: d.update(homepage="https://example.com"),
    "quality outside the enum": lambda d: d.update(quality="excellent"),
    "maintenance_status outside the enum": lambda d: d.update(maintenance_status="dead"),
    "unknown capability": lambda d: d["capabilities"].append("magic"),
    "python version not 3.x": lambda d: d.update(supported_python_versions=["3.10", "py3"]),
    "setting kind outside the enum": lambda d: d["settings"][0].update(kind="url"),
    "unknown setting key": lambda d: d["settings"][0].update(secret=True),
    "setting without name": lambda d: d["settings"][0].pop("name"),
    "pip_url not a string": lambda d: d.update(pip_url=["a", "b"]),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_each_rule_fails_a_definition_that_breaks_it(breakage):
    definition = copy.deepcopy(hub_definition())
    BREAKAGES[breakage](definition)
    assert hub_problems(definition), f"{breakage}: not caught"


def test_quality_is_unknown_and_the_definition_has_repo_and_docs():
    definition = hub_definition()
    assert definition["quality"] == "unknown"
    assert definition["repo"]
    assert definition["docs"]


def test_one_repository_url_everywhere():
    """pyproject.toml [project.urls], the Hub's pip_url, repo and docs, and the README agree."""
    urls = project_urls()
    definition = hub_definition()
    assert urls["Repository"].endswith(".git")
    assert definition["pip_url"] == f"git+{urls['Repository']}"
    assert definition["repo"] == urls["Homepage"] == urls["Repository"].removesuffix(".git")
    assert definition["docs"] == urls["Documentation"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"pip_url: {definition['pip_url']}" in readme
    assert f"pip install {definition['pip_url']}" in readme


def test_supported_python_versions_are_the_packages():
    assert hub_definition()["supported_python_versions"] == tap_about()["supported_python_versions"]


def test_the_sdk_builtins_of_the_declared_capabilities_are_declared():
    """Every setting `--about` reports, built-ins included, is in the definition."""
    names = [s["name"] for s in hub_definition()["settings"]]
    assert sorted(names) == sorted(tap_about()["settings"]["properties"])
    for builtin in ("stream_maps", "stream_map_config", "flattening_enabled", "faker_config"):
        assert builtin in names


def test_meltano_adds_the_definition_to_an_empty_project(tmp_path):
    """`meltano add --from-ref` takes the file as is: the plugin it adds has every setting."""
    (tmp_path / "meltano.yml").write_text(
        "version: 1\nproject_id: hub-definition-test\nsend_anonymous_usage_stats: false\n"
        "default_environment: dev\nenvironments:\n- name: dev\nplugins: {}\n",
        encoding="utf-8",
    )
    completed = subprocess.run(
        [
            venv_script("meltano"),
            "--cwd",
            str(tmp_path),
            "add",
            "--plugin-type",
            "extractor",
            "tap-mindzpay",
            "--from-ref",
            str(HUB_DEFINITION),
            "--no-install",
        ],
        capture_output=True,
        text=True,
        env=child_env({"MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}"}),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    project = yaml.safe_load((tmp_path / "meltano.yml").read_text(encoding="utf-8"))
    (added,) = project["plugins"]["extractors"]
    definition = hub_definition()
    assert added["name"] == "tap-mindzpay"
    assert added["pip_url"] == definition["pip_url"]
    assert added["capabilities"] == definition["capabilities"]
    assert added["settings"] == definition["settings"]


def test_neither_definition_relies_on_select_for_the_personal_data():
    """Meltano drops a definition's `select` on `--from-ref`, and an inline definition has none:
    the tap withholds personal data itself (`include_personal_data`), so no definition carries a
    `select` that a user's project would silently lose."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    [tap] = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-mindzpay"]
    assert "select" not in tap
    assert "select" not in hub_definition()


def test_shard_b_leaves_out_exactly_the_platform_streams():
    """The platform streams have no account: shard A loads them, B none: each lands once."""
    from tap_mindzpay.platform import PlatformStream  # noqa: PLC0415
    from tap_mindzpay.streams import STREAM_TYPES  # noqa: PLC0415

    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    [shard] = [p for p in project["plugins"]["extractors"] if p["name"].endswith("--shard-b")]
    platform = [f"!{t.name}" for t in STREAM_TYPES if issubclass(t, PlatformStream)]
    assert sorted(shard["select_filter"]) == sorted(platform)
