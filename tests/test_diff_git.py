"""`vllm-fleet diff` against a real git history: a temp repo, a base commit, one change per test.

The base is rendered once (by the base's own code, in a subprocess) and each
test renders only its working tree, so every change costs one render.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vllm_fleet.cli import main
from vllm_fleet.preview import Op, Status, compare
from vllm_fleet.preview.danger import Hazard
from vllm_fleet.preview.sources import Side, base_side, working_tree_side
from vllm_fleet.project_copy import commit_all, copy_program

STACK = "ci"
NS = "llm-ci"

CI_STACK = {
    "config": {
        "vllm-fleet:namespace": NS,
        # A placeholder ciphertext: the render never decrypts it, the diff fingerprints it.
        "vllm-fleet:apiKey": {"secure": "v1:YmFzZS1rZXk="},
        "vllm-fleet:nodePool": {"gpusPerNode": 8},
        "vllm-fleet:models": [
            {
                "name": "small",
                "model": "Qwen/Qwen2.5-1.5B-Instruct",
                "storage": {"type": "new-pvc", "size": "20Gi", "accessMode": "ReadWriteOnce", "protect": False},
                "engineArgs": {"max-model-len": 8192},
            },
            {
                "name": "coder",
                "model": "Qwen/Qwen2.5-Coder-7B-Instruct",
                "parallelism": {"tensor": 2},
                "storage": {"type": "existing-pvc", "claimName": "model-weights", "path": "coder"},
            },
        ],
    }
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-C", str(repo), *args],
        check=True, capture_output=True, text=True,
    ).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A one-stack copy of the project, committed and tagged `base`."""
    root = copy_program(tmp_path_factory.mktemp("fleet") / "project")
    (root / "stacks").mkdir()
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(CI_STACK, sort_keys=False))
    commit_all(root, "base")
    _git(root, "tag", "base")
    return root


@pytest.fixture(scope="module")
def base(repo, tmp_path_factory) -> Side:
    return base_side(repo, "base", tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def base_snapshot(base):
    rendered = base.render(STACK)
    assert rendered.error is None, rendered.error
    return rendered.snapshot


@pytest.fixture
def work(repo):
    """The working tree, reset to the base after each test."""
    yield repo
    _git(repo, "checkout", "-q", "--", ".")
    _git(repo, "clean", "-qfd")


def _edit_stack(repo: Path, change) -> None:
    path = repo / "stacks" / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"]["vllm-fleet:models"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _preview(repo: Path, base_snapshot, tmp_path: Path):
    rendered = working_tree_side(repo, tmp_path).render(STACK)
    assert rendered.error is None, rendered.error
    return compare(STACK, "base", base_snapshot, rendered.snapshot)


def _ops(diff) -> dict[str, Op]:
    return {f"{step.kind} {step.display_name}": step.op for step in diff.steps}


def test_no_op_says_so_plainly(work, base_snapshot, tmp_path, capsys):
    diff = _preview(work, base_snapshot, tmp_path)
    assert diff.status is Status.SAME and diff.steps == ()
    assert main(["--project-dir", str(work), "diff", STACK, "--base", "base", "--fail-on", "any-change"]) == 0
    assert f"no changes: stack {STACK} renders identically at base and in the working tree" in capsys.readouterr().out


def test_new_model_is_created(work, base_snapshot, tmp_path):
    _edit_stack(work, lambda models: models.append({
        "name": "extra", "model": "Qwen/Qwen2.5-0.5B-Instruct",
        "storage": {"type": "existing-pvc", "claimName": "model-weights", "path": "extra"},
    }))
    diff = _preview(work, base_snapshot, tmp_path)
    assert set(_ops(diff).values()) == {Op.CREATE}
    assert _ops(diff)[f"StatefulSet {NS}/extra-head"] is Op.CREATE
    assert diff.dangers == ()


def test_changed_engine_arg_replaces_the_entrypoints_and_rolls_the_pod(work, base_snapshot, tmp_path):
    _edit_stack(work, lambda models: models[0]["engineArgs"].update({"max-model-len": 16384}))
    diff = _preview(work, base_snapshot, tmp_path)
    # pulumi-kubernetes replaces a ConfigMap whose data changes (no enableConfigMapMutable).
    assert _ops(diff) == {f"StatefulSet {NS}/small-head": Op.UPDATE, f"ConfigMap {NS}/small-entrypoints": Op.REPLACE}
    assert diff.dangers == ()  # one pod: a rolling restart, said as a note
    assert sorted(note.hazard.value for note in diff.notes) == [Hazard.REPLACED.value, Hazard.ROLLING_RESTART.value]
    (replaced,) = [n for n in diff.notes if n.hazard is Hazard.REPLACED]
    assert f"the pods of {NS}/small-head roll" in replaced.message


def test_changed_service_name_replaces_the_stateful_set(work, base_snapshot, tmp_path):
    # serviceName comes from code, not config: the head side must run the working tree's code.
    plan = work / "vllm_fleet" / "names.py"
    plan.write_text(plan.read_text().replace('return f"{self.model}-group"', 'return f"{self.model}-peers"'))
    diff = _preview(work, base_snapshot, tmp_path)
    ops = _ops(diff)
    assert ops[f"StatefulSet {NS}/small-head"] is Op.REPLACE
    head = next(step for step in diff.steps if step.display_name == f"{NS}/small-head")
    assert "spec.serviceName" in head.replace_reasons
    # The group Service's name is its URN: Pulumi deletes the old one and creates the new one.
    assert ops[f"Service {NS}/small-group"] is Op.DELETE and ops[f"Service {NS}/small-peers"] is Op.CREATE
    assert {(d.hazard, d.subject) for d in diff.dangers} >= {
        (Hazard.DOWNTIME, f"StatefulSet {NS}/small-head"), (Hazard.DOWNTIME, f"StatefulSet {NS}/coder-head")
    }


def test_storage_class_change_replaces_the_claim_with_data_loss(work, base_snapshot, tmp_path):
    _edit_stack(work, lambda models: models[0]["storage"].update({"storageClass": "fast-nvme"}))
    diff = _preview(work, base_snapshot, tmp_path)
    assert _ops(diff) == {f"PersistentVolumeClaim {NS}/small-weights": Op.REPLACE}
    (danger,) = diff.dangers
    assert danger.hazard is Hazard.DATA_LOSS and "spec.storageClassName" in danger.message


def test_removed_model_is_deleted(work, base_snapshot, tmp_path):
    _edit_stack(work, lambda models: models.pop(1))
    diff = _preview(work, base_snapshot, tmp_path)
    ops = _ops(diff)
    # The existing claim was what kept the namespace (small's claim opted out of protection).
    assert ops.pop(f"Namespace {NS}") is Op.UPDATE
    assert set(ops.values()) == {Op.DELETE}
    assert {f"StatefulSet {NS}/coder-head", f"Service {NS}/coder", f"ConfigMap {NS}/coder-entrypoints"} <= set(ops)
    assert diff.dangers == ()  # its weights live on a claim the stack doesn't own
    assert [(n.hazard, n.subject) for n in diff.notes] == [(Hazard.REMOVED, "model coder")]


def test_size_only_claim_change_is_an_update(work, base_snapshot, tmp_path):
    _edit_stack(work, lambda models: models[0]["storage"].update({"size": "40Gi"}))
    diff = _preview(work, base_snapshot, tmp_path)
    assert _ops(diff) == {f"PersistentVolumeClaim {NS}/small-weights": Op.UPDATE}
    assert diff.dangers == ()


def test_gpu_change_restarts_the_group(work, base_snapshot, tmp_path):
    _edit_stack(work, lambda models: models[1]["parallelism"].update({"tensor": 4}))
    diff = _preview(work, base_snapshot, tmp_path)
    assert [(d.hazard, d.subject) for d in diff.dangers] == [(Hazard.GROUP_RESTART, "model coder")]
    head = next(step for step in diff.steps if step.display_name == f"{NS}/coder-head")
    assert any(c.path.endswith("limits.nvidia.com/gpu") and (c.old, c.new) == (2, 4) for c in head.changes)


# ------------------------------------------------------------------- the CLI


def test_fail_on_danger_exits_1_and_writes_markdown(work, tmp_path):
    _edit_stack(work, lambda models: models[0]["storage"].update({"storageClass": "fast-nvme"}))
    out = tmp_path / "comment.md"
    argv = ["--project-dir", str(work), "diff", "--all-stacks", "--base", "base", "--format", "markdown", "-o", str(out)]
    assert main(argv + ["--fail-on", "danger"]) == 1
    body = out.read_text()
    assert f"- 🔴 **{STACK}**: 1 to replace" in body and "<details>" in body


def test_added_and_removed_stacks(work, tmp_path, capsys):
    stacks = work / "stacks"
    (stacks / f"Pulumi.{STACK}.yaml").rename(stacks / "Pulumi.next.yaml")
    assert main(["--project-dir", str(work), "diff", "--all-stacks", "--base", "base"]) == 0
    out = capsys.readouterr().out
    assert "(the stack has no file at base: everything is created)" in out
    assert "(the stack's file is gone from the working tree: everything is deleted)" in out


def test_invalid_head_config_exits_2_with_the_key_path(work, capsys):
    _edit_stack(work, lambda models: models[1]["parallelism"].update({"tensr": 2}))
    assert main(["--project-dir", str(work), "diff", STACK, "--base", "base"]) == 2
    err = capsys.readouterr().err
    assert "does not render at the working tree" in err and "vllm-fleet:models[1].parallelism" in err


def test_unknown_base_ref_exits_2(work, capsys):
    assert main(["--project-dir", str(work), "diff", STACK, "--base", "no-such-ref"]) == 2
    assert "'no-such-ref' is not a commit" in capsys.readouterr().err


def test_base_that_does_not_render_is_reported(repo, tmp_path, capsys):
    """A base commit whose program is broken: the head is fine, the report names the base."""
    broken = tmp_path / "broken"
    shutil.copytree(repo, broken)
    (broken / "__main__.py").write_text("raise SystemExit('base program is broken')\n")
    _git(broken, "commit", "-qam", "broken")
    _git(broken, "tag", "broken")
    _git(broken, "checkout", "-q", "base", "--", "__main__.py")
    assert main(["--project-dir", str(broken), "diff", STACK, "--base", "broken"]) == 2
    captured = capsys.readouterr()
    assert "does not render at broken" in captured.err and "base program is broken" in captured.err
    assert "cannot preview this stack" in captured.out


# ---------------------------------------------------------- safety classes


def test_namespace_rename_with_an_existing_claim_names_the_claim(work, base_snapshot, tmp_path):
    """The base retains the namespace (coder reads an existing claim in it): the rename leaves it, claims and all."""
    path = work / "stacks" / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["vllm-fleet:namespace"] = "llm-ci2"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    diff = _preview(work, base_snapshot, tmp_path)
    (kept,) = [f for f in diff.findings if f.subject == f"Namespace {NS}"]
    assert kept.hazard is Hazard.ORPHANED and "model-weights" in kept.message and "small-weights" in kept.message
    # small's own claim moves namespace: a replace of an unprotected claim loses its weights.
    assert (Hazard.DATA_LOSS, "PersistentVolumeClaim llm-ci2/small-weights") in {(d.hazard, d.subject) for d in diff.dangers}


def test_api_key_rotation_replaces_the_secret_and_rolls_the_heads(work, base_snapshot, tmp_path, capsys):
    path = work / "stacks" / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["vllm-fleet:apiKey"] = {"secure": "v1:cm90YXRlZC1rZXk="}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    diff = _preview(work, base_snapshot, tmp_path)
    ops = _ops(diff)
    assert ops == {
        f"Secret {NS}/vllm-api-key": Op.REPLACE,
        f"StatefulSet {NS}/small-head": Op.UPDATE,
        f"StatefulSet {NS}/coder-head": Op.UPDATE,
    }
    assert [f.subject for f in diff.findings if f.hazard is Hazard.SECRET_CHANGED] == ["vllm-fleet:apiKey"]
    assert main(["--project-dir", str(work), "diff", STACK, "--base", "base"]) == 0
    out = capsys.readouterr().out
    assert "vllm-fleet.io/api-key-fingerprint: [secret] -> [secret, changed]" in out
    assert "cm90YXRlZC1rZXk" not in out and "YmFzZS1rZXk" not in out


def _run_tool(tool_dir: Path, project: Path) -> int:
    """`vllm-fleet diff --fail-on danger` run by the code in `tool_dir`, against the tree in `project`."""
    command = [sys.executable, "-m", "vllm_fleet.cli", "--project-dir", str(project), "diff", STACK, "--base", "base",
               "--fail-on", "danger"]
    env = dict(os.environ, PYTHONPATH=str(tool_dir), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(command, cwd=tool_dir, env=env, capture_output=True, text=True, check=False).returncode


def test_a_pr_cannot_turn_off_its_own_gate_when_the_base_tool_judges_it(work, base, tmp_path):
    """The PR deletes every danger rule and does something dangerous; the base's rules still fail the check.

    This is the arrangement offline-diff.yml uses: the tool comes from a checkout of the base commit.
    """
    danger = work / "vllm_fleet" / "preview" / "danger.py"
    danger.write_text(danger.read_text().replace(
        "    return sorted(found, key=lambda finding: not finding.is_danger)", "    return []"))
    _edit_stack(work, lambda models: models[0]["storage"].update({"storageClass": "fast-nvme"}))
    assert _run_tool(work, work) == 0  # the PR's own tool waves its change through
    assert _run_tool(base.directory, work) == 1  # the base's tool does not
