"""A new Meltano project, made as a new user would, with the tap added each way the README says.

Each test makes a project in a temporary folder and drives the venv's `meltano` in it, offline:
the plugin's `pip_url` is this clone (`-e <clone>`), nothing comes from the Hub. `meltano invoke
tap-mindzpay` runs the tap with the catalog Meltano made (its default select, `*.*`, marks every
property selected), and what the tap wrote is compared with the sandbox's truth on whole rows.

* The README's inline snippet, `sandbox: true` set with `meltano config` (stored as text, as an
  inline definition has no kinds), and the README's stream maps, copied from the README: no
  personal data in any SCHEMA or RECORD, one line saying it was left out, every map applied
  (and a map of a stream the run does not select set aside with one line, not a crash), and a
  misspelt setting named once, though Meltano runs the tap twice (discovery, then the sync).
* `--from-ref` the Hub definition (a copy with `pip_url` pointing at the clone), against a
  sandbox process through `TAP_MINDZPAY_*` variables: no personal data by default, then exactly
  the property `include_personal_data` names.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from helpers import (
    PROJECT_ROOT,
    SandboxProcess,
    child_env,
    compare_with_truth,
    fold_messages,
    parse_messages,
)
from helpers.processes import venv_script

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

README = PROJECT_ROOT / "README.md"
HUB_DEFINITION = PROJECT_ROOT / "plugins" / "extractors" / "tap-mindzpay--mindzpay.yml"
PERSONAL = (
    *("cpf_cnpj", "phone", "birth_date"),
    *("zip_code", "street", "house_number", "complement", "district"),
)
#: What the embedded sandbox (`sandbox: true`) starts: the sandbox's defaults, in memory.
EMBEDDED_WORLD = {"seed": 42, "accounts": 3, "invoices_per_account": 2000}
MELTANO_TIMEOUT = 600


def _md5(value: object) -> str:
    return hashlib.md5(str(value).encode()).hexdigest()  # noqa: S324 - the map's own function


def _yaml_block_after(heading: str, starts_with: str) -> str:
    """The first ```yaml block of the README section `heading` whose text starts so."""
    section = README.read_text(encoding="utf-8").split(heading + "\n", 1)[1]
    for block in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL):
        if block.lstrip().startswith(starts_with):
            return str(block)
    msg = f"README: no yaml block starting with {starts_with!r} under {heading!r}"
    raise AssertionError(msg)


def readme_inline_definition() -> dict[str, Any]:
    """The README's inline plugin snippet, its `pip_url` set to this clone as it suggests."""
    snippet = yaml.safe_load(_yaml_block_after("## Install", "plugins:"))
    (plugin,) = snippet["plugins"]["extractors"]
    assert "-e /path/to/clone" in _yaml_block_after("## Install", "plugins:")
    plugin["pip_url"] = f"-e {PROJECT_ROOT}"
    return dict(plugin)


def readme_stream_maps() -> dict[str, Any]:
    """The stream maps of the README's "Stream maps" section."""
    config = yaml.safe_load(_yaml_block_after("### Stream maps", "config:"))
    return dict(config["config"]["stream_maps"])


class NewProject:
    """A new Meltano project in `root`, with its own system database, run offline."""

    def __init__(self, root: Path, extractor: dict[str, Any] | None = None) -> None:
        """Write `meltano.yml` (with `extractor` inline, if given)."""
        self.root = root
        project = {
            "project_id": "new-project-test",
            "send_anonymous_usage_stats": False,
            "default_environment": "dev",
            "venv": {"backend": "uv"},
            "environments": [{"name": "dev"}],
            "plugins": {"extractors": [extractor]} if extractor else {},
        }
        (root / "meltano.yml").write_text(yaml.safe_dump(project), encoding="utf-8")

    def meltano(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `meltano <args>` in the project; fail with its output unless it exits 0."""
        done = subprocess.run(
            [venv_script("meltano"), *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=child_env(
                {
                    "MELTANO_DATABASE_URI": f"sqlite:///{self.root / 'meltano.db'}",
                    "UV_OFFLINE": "1",
                    **(env or {}),
                }
            ),
            cwd=self.root,
            timeout=MELTANO_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, f"meltano {' '.join(args)}:\n{done.stderr[-6000:]}"
        return done

    def plugin(self) -> dict[str, Any]:
        """The tap's entry in the project's `meltano.yml`."""
        project = yaml.safe_load((self.root / "meltano.yml").read_text(encoding="utf-8"))
        (plugin,) = project["plugins"]["extractors"]
        return dict(plugin)

    def edit_plugin(self, **keys: Any) -> None:
        """Set `keys` on the tap's entry of `meltano.yml`, as a user editing the file would."""
        path = self.root / "meltano.yml"
        project = yaml.safe_load(path.read_text(encoding="utf-8"))
        project["plugins"]["extractors"][0].update(keys)
        path.write_text(yaml.safe_dump(project), encoding="utf-8")

    def invoke(self, env: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], str]:
        """`meltano invoke tap-mindzpay`: the messages the tap wrote, and Meltano's stderr."""
        done = self.meltano("invoke", "tap-mindzpay", env=env)
        return parse_messages(done.stdout), done.stderr


def _schema_properties(messages: list[dict[str, Any]], stream: str) -> dict[str, Any]:
    schemas = [m for m in messages if m["type"] == "SCHEMA" and m["stream"] == stream]
    assert schemas, f"no SCHEMA of {stream}"
    return dict(schemas[-1]["schema"]["properties"])


def _no_personal_data(messages: list[dict[str, Any]], stderr: str) -> None:
    assert not set(PERSONAL) & set(_schema_properties(messages, "users"))
    users = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "users"]
    assert users, "no users synced"
    assert all(not set(PERSONAL) & set(record) for record in users)
    told = [line for line in stderr.splitlines() if "Personal data (LGPD) left out" in line]
    assert len(told) == 1, stderr[-4000:]


def test_readme_inline_snippet_with_sandbox_true_and_the_readme_maps(tmp_path: Path) -> None:
    project = NewProject(tmp_path, readme_inline_definition())
    project.meltano("install")
    project.meltano("config", "set", "tap-mindzpay", "sandbox", "true")
    # An inline definition has no kinds: Meltano keeps the text, the tap reads it as a boolean.
    assert project.plugin()["config"]["sandbox"] == "true"
    maps = readme_stream_maps()
    assert set(maps) == {"users", "subscriptions", "payments"}, maps
    project.edit_plugin(
        select=["accounts.*", "users.*", "payments.*", "subscriptions.*"],
        # A typo too: Meltano runs the tap twice (discovery, then the sync); it is named once.
        config={**project.plugin()["config"], "stream_maps": maps, "pagesize": 10},
    )
    messages, stderr = project.invoke()
    _no_personal_data(messages, stderr)
    typo = "Unknown setting 'pagesize' is ignored; did you mean page_size?"
    assert stderr.count(typo) == 1, stderr[-4000:]
    with SandboxProcess.start(**EMBEDDED_WORLD) as world:
        truth = {stream: world.truth(stream) for stream in ("users", "payments", "subscriptions")}
    folded = fold_messages(messages)
    # The maps applied to the truth: what each stream must hold, whole rows.
    users = [{**row, "email": _md5(row["email"])} for row in truth["users"]]
    payments = [{**row, "client_id_hash": _md5(row["client_id"])} for row in truth["payments"]]
    expected = {
        "users": (users, PERSONAL),
        "payments": (payments, ("client_id",)),
        "subscriptions": (truth["subscriptions"], ("customer_email",)),
    }
    for stream, (rows, left_out) in expected.items():
        comparison = compare_with_truth(stream, folded[stream], rows, unselected=left_out)
        assert comparison.ok, comparison.summary()
    # The hash is announced as what it is: a loader gets a string column for a string value.
    assert _schema_properties(messages, "payments")["client_id_hash"]["type"][0] == "string"
    assert "client_id" not in _schema_properties(messages, "payments")

    # The same maps when users and payments are not selected: their maps are set aside, one line.
    project.edit_plugin(select=["accounts.*", "subscriptions.*"])
    messages, stderr = project.invoke()
    assert {m["stream"] for m in messages if m["type"] == "RECORD"} == {
        "accounts",
        "subscriptions",
    }
    told = [
        line for line in stderr.splitlines() if "Stream maps not applied: payments, users (" in line
    ]
    assert len(told) == 1, stderr[-4000:]
    assert "Traceback" not in stderr


def test_from_ref_the_hub_definition_leaves_personal_data_out_until_named(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    definition = yaml.safe_load(HUB_DEFINITION.read_text(encoding="utf-8"))
    definition["pip_url"] = f"-e {PROJECT_ROOT}"
    reference = tmp_path / "tap-mindzpay--mindzpay.yml"
    reference.write_text(yaml.safe_dump(definition), encoding="utf-8")
    root = tmp_path / "project"
    root.mkdir()
    project = NewProject(root)
    project.meltano(
        "add", "--plugin-type", "extractor", "tap-mindzpay", "--from-ref", str(reference)
    )
    assert project.plugin()["pip_url"] == f"-e {PROJECT_ROOT}"
    env = sandbox.tap_env()
    project.edit_plugin(select=["accounts.*", "users.*"])
    messages, stderr = project.invoke(env)
    _no_personal_data(messages, stderr)
    truth = sandbox.truth("users")
    comparison = compare_with_truth(
        "users", fold_messages(messages)["users"], truth, unselected=PERSONAL
    )
    assert comparison.ok, comparison.summary()

    project.meltano("config", "set", "tap-mindzpay", "include_personal_data", '["users.phone"]')
    assert project.plugin()["config"]["include_personal_data"] == ["users.phone"]
    messages, stderr = project.invoke(env)
    assert set(PERSONAL) & set(_schema_properties(messages, "users")) == {"phone"}
    left_out = tuple(name for name in PERSONAL if name != "phone")
    comparison = compare_with_truth(
        "users", fold_messages(messages)["users"], truth, unselected=left_out
    )
    assert comparison.ok, comparison.summary()
    assert any(row["phone"] for row in truth)
