"""The GitHub Actions workflows are valid, pinned by commit SHA and read-only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def validate(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    """Run check-jsonschema's vendored (offline) GitHub workflow schema on the files."""
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def load(path: Path) -> dict:
    # PyYAML reads the `on:` key as True (YAML 1.1); the tests below do not need it.
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_ci_and_release_workflows_exist():
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "release.yml"}


def test_workflows_validate_against_github_workflow_schema():
    result = validate(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: 5\n",
        encoding="utf-8",
    )
    result = validate([broken])
    assert result.returncode == 1
    assert "not of type 'string'" in result.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_by_full_commit_sha_with_version_comment(path):
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        reference = line.split("uses:", 1)[1].split("#", 1)[0].strip()
        assert PINNED.match(reference), f"{path.name}: not pinned by SHA: {line.strip()}"
        assert re.search(r"# v\d+(\.\d+)*\s*$", line), f"{path.name}: no version comment: {line}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_token_is_read_only(path):
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        assert job.get("permissions", {"contents": "read"}) == {"contents": "read"}, name


def test_ci_runs_python_matrix_with_postgres_and_a_lint_job():
    jobs = load(ROOT / ".github" / "workflows" / "ci.yml")["jobs"]
    test = jobs["test"]
    assert test["strategy"]["matrix"]["python-version"] == ["3.10", "3.11", "3.12", "3.13"]
    assert test["services"]["postgres"]["image"].startswith("postgres:")
    assert "TAP_MINDZPAY_TEST_POSTGRES_DSN" in test["env"]
    lint_steps = " ".join(step.get("run", "") for step in jobs["lint"]["steps"])
    assert "make lint" in lint_steps


def test_release_builds_sdist_and_wheel_on_tags():
    workflow = load(ROOT / ".github" / "workflows" / "release.yml")
    assert workflow[True]["push"]["tags"]
    runs = " ".join(step.get("run", "") for step in workflow["jobs"]["build"]["steps"])
    assert "--sdist" in runs
    assert "--wheel" in runs
