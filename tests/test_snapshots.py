"""Every shipped stack (and the test-only groups stack) renders exactly its committed snapshot.

An intended change updates the snapshot in the same commit, so a reviewer sees
the objects change beside the code: `make snapshots` (which runs
`vllm-fleet render --all-stacks --out tests/snapshots` and writes the groups stack).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from vllm_fleet.render import write_render
from .conftest import PROJECT_DIR, STACKS
from .test_workloads import write_groups_render

SNAPSHOTS = PROJECT_DIR / "tests" / "snapshots"
TEST_ONLY = {"groups": write_groups_render}
UPDATE = "make snapshots"


def _files(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): path.read_text() for path in sorted(folder.rglob("*")) if path.is_file()}


def _differences(expected: Path, actual: Path) -> list[str]:
    want, got = _files(expected), _files(actual)
    problems = [f"missing from the render: {name}" for name in sorted(want.keys() - got.keys())]
    problems += [f"not in the snapshot: {name}" for name in sorted(got.keys() - want.keys())]
    for name in sorted(want.keys() & got.keys()):
        if want[name] != got[name]:
            diff = difflib.unified_diff(want[name].splitlines(), got[name].splitlines(), "snapshot", "render", lineterm="", n=1)
            problems.append(f"changed: {name}\n" + "\n".join(list(diff)[:40]))
    return problems


def test_every_stack_has_a_snapshot_and_no_snapshot_is_stale():
    assert sorted(p.name for p in SNAPSHOTS.iterdir() if p.is_dir()) == sorted([*STACKS, *TEST_ONLY])


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stack_matches_its_snapshot(stack, stack_renders, tmp_path):
    problems = _differences(SNAPSHOTS / stack, write_render(stack_renders[stack], tmp_path / stack))
    assert not problems, f"stack {stack} differs from tests/snapshots/{stack} (intended? run `{UPDATE}`):\n" + "\n".join(problems)


@pytest.mark.parametrize("stack", sorted(TEST_ONLY))
def test_test_only_stack_matches_its_snapshot(stack, tmp_path):
    TEST_ONLY[stack](str(tmp_path / stack))
    problems = _differences(SNAPSHOTS / stack, tmp_path / stack)
    assert not problems, f"stack {stack} differs from tests/snapshots/{stack} (intended? run `{UPDATE}`):\n" + "\n".join(problems)


def test_a_changed_object_is_reported_with_its_diff(tmp_path):
    """The comparison can fail: one edited line shows up as a change of that file."""
    stack = STACKS[0]
    copy = tmp_path / "copy"
    for name, text in _files(SNAPSHOTS / stack).items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_text(text.replace("kind:", "kind: X", 1) if name.endswith(".yaml") else text)
    (copy / "extra.yaml").write_text("x\n")
    problems = _differences(SNAPSHOTS / stack, copy)
    assert any(p.startswith("changed: ") and "+kind: X" in p for p in problems)
    assert "not in the snapshot: extra.yaml" in problems
