"""The PR workflows: actionlint-clean, pinned, and in step with the project's stacks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from vllm_fleet.render import load_project

from .conftest import tool

PROJECT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((PROJECT / ".github" / "workflows").glob("*.yml"))
# A full version tag (v6.6.1) or a commit SHA: a moving major tag can change under a required check.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")
FIRST_PARTY = re.compile(r"^actions/[\w-]+@v\d+$")


def _load(name: str) -> dict:
    return yaml.safe_load((PROJECT / ".github" / "workflows" / name).read_text())


def _steps(workflow: dict):
    for job in workflow["jobs"].values():
        yield from job["steps"]


def test_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"preview.yml", "offline-diff.yml", "offline-diff-comment.yml"}


def test_actionlint_finds_nothing():
    result = subprocess.run(
        [tool("actionlint"), "-no-color", *map(str, WORKFLOWS)], cwd=PROJECT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_third_party_actions_are_pinned(path):
    uses = [step["uses"] for step in _steps(yaml.safe_load(path.read_text())) if "uses" in step]
    loose = [u for u in uses if not (PINNED.match(u) or FIRST_PARTY.match(u))]
    assert not loose, f"pin these to a full version tag or SHA: {loose}"


def test_pulumi_preview_matrix_covers_every_stack():
    workflow = _load("preview.yml")
    assert sorted(workflow["jobs"]["preview"]["strategy"]["matrix"]["stack"]) == load_project(PROJECT).stacks()
    (pulumi,) = [step for step in _steps(workflow) if step.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["diff"] is True
    assert "PULUMI_ACCESS_TOKEN" in pulumi["env"]


def test_offline_diff_blocks_on_danger_and_comments_from_the_trusted_side():
    diff = _load("offline-diff.yml")
    assert diff["permissions"] == {"contents": "read"}
    run = "\n".join(step.get("run", "") for step in _steps(diff))
    assert "diff --all-stacks" in run and "--fail-on danger" in run and "--format markdown" in run
    comment = _load("offline-diff-comment.yml")
    trigger = comment[True]["workflow_run"]  # YAML 1.1 reads the key `on` as True
    assert trigger["workflows"] == [diff["name"]]
    assert not any("actions/checkout" in step.get("uses", "") for step in _steps(comment))
    sticky = [s for s in _steps(comment) if s.get("uses", "").startswith("marocchino/sticky-pull-request-comment@")]
    assert sticky and sticky[0]["with"]["path"] == "preview/comment.md"


BASE_SHA = "${{ github.event.pull_request.base.sha }}"


def _checkouts(workflow: dict) -> dict[str, dict]:
    """Checkout steps by the folder they fill ('.' for the default)."""
    return {
        (step.get("with") or {}).get("path", "."): step.get("with") or {}
        for step in _steps(workflow)
        if step.get("uses", "").startswith("actions/checkout@")
    }


def test_the_gate_runs_the_base_tool_and_never_installs_the_pr():
    """A PR that edits vllm_fleet/preview/danger.py must not judge itself (test_diff_git proves the harm)."""
    workflow = _load("offline-diff.yml")
    checkouts = _checkouts(workflow)
    tool_dir = next(path for path, options in checkouts.items() if options.get("ref") == BASE_SHA)
    pr_dir = next(path for path, options in checkouts.items() if "ref" not in options)
    assert tool_dir != pr_dir and checkouts[pr_dir].get("fetch-depth") == 0
    steps = list(_steps(workflow))
    installs = [s for s in steps if "pip install" in s.get("run", "") and "-e" in s.get("run", "")]
    assert installs and all(s.get("working-directory") == tool_dir for s in installs), "install only the base's tool"
    assert not any(re.search(rf"pip install[^\n]*\b{re.escape(pr_dir)}\b", s.get("run", "")) for s in steps)
    (diff,) = [s for s in steps if "diff --all-stacks" in s.get("run", "")]
    # Run from the base folder (first on sys.path) as a module, against the PR's tree, compared with the base commit.
    assert diff.get("working-directory") == tool_dir
    assert "python -m vllm_fleet.cli" in diff["run"] and f'--project-dir "$GITHUB_WORKSPACE/{pr_dir}"' in diff["run"]
    assert diff["env"]["BASE_SHA"] == BASE_SHA and '--base "$BASE_SHA"' in diff["run"]
    # The PR's program runs to be rendered: it gets no handle on the step's outputs or environment.
    for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH"):
        assert f"-u {name}" in diff["run"]
    # No step before the diff runs anything from the PR folder.
    before = steps[: steps.index(diff)]
    assert not any(s.get("working-directory") == pr_dir or f"{pr_dir}/" in s.get("run", "") for s in before)


def test_pulumi_preview_runs_the_base_policy_pack():
    workflow = _load("preview.yml")
    checkouts = _checkouts(workflow)
    (pulumi,) = [step for step in _steps(workflow) if step.get("uses", "").startswith("pulumi/actions@")]
    pack = pulumi["with"]["policyPacks"]
    folder = pack.rsplit("/", 1)[0]
    assert pack.endswith("/policy") and checkouts[folder]["ref"] == BASE_SHA
    assert (PROJECT / "policy" / "PulumiPolicy.yaml").is_file()
