"""Every sample of the tool's output in README.md and docs/*.md is what the tool prints today."""

from __future__ import annotations

from pathlib import Path

import pytest

from vllm_fleet.docs_samples import (
    PROJECT_DIR,
    REFRESH_COMMAND,
    SAMPLE,
    Edit,
    Runs,
    SampleError,
    _apply,
    _copy_project,
    documents,
    regenerate,
)

# The samples the docs must carry (a deleted marker would silently stop the checking).
EXPECTED = {
    "README.md": {"config-error", "output-tree prod", "plan-table prod", "pr-comment summary"},
    "docs/preview-diffs.md": {"pr-comment full", "diff-terminal"},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("docs-samples"))


def test_every_sample_in_the_docs_is_what_the_tool_prints(runs):
    stale = []
    for path in documents():
        text = path.read_text()
        if regenerate(text, runs, str(path)) != text:
            stale.append(str(path.relative_to(PROJECT_DIR)))
    assert not stale, f"samples out of date in {', '.join(stale)}: refresh them with {REFRESH_COMMAND}"


def test_the_docs_carry_their_samples():
    for name, specs in EXPECTED.items():
        found = {match["spec"] for match in SAMPLE.finditer((PROJECT_DIR / name).read_text())}
        assert specs <= found, f"{name} lost the sample markers {sorted(specs - found)}"


def test_a_hand_edited_sample_is_stale(runs):
    fresh = regenerate("<!-- sample: plan-table dev -->\n```\nanything\n```\n<!-- /sample -->\n", runs)
    assert "stack dev (namespace llm-dev)" in fresh and "anything" not in fresh
    assert regenerate(fresh, runs) == fresh
    edited = fresh.replace("llm-dev", "llm-dve", 1)
    assert regenerate(edited, runs) == fresh


def test_the_sample_pr_shows_the_dangers_its_text_promises(runs):
    code, comment = runs.comment
    assert code == 1, "--fail-on danger must fail on the sample PR"
    assert "DATA LOSS" in comment and "llm-prod/qwen-72b-weights" in comment
    assert "GROUP RESTART" in comment and "TP×PP 4×4" in comment
    assert "- 🟡 **dev**: 1 to update, 1 to replace" in comment  # the entrypoints ConfigMap is replaced


def test_the_config_error_sample_reports_both_mistakes(runs):
    code, errors = runs.bad_config
    assert code == 2
    assert "tensr" in errors and "gpusPerPod" in errors and "(2 problems)" in errors


def test_an_unknown_sample_is_an_error(runs):
    with pytest.raises(SampleError, match="unknown sample 'plan-tabel'"):
        regenerate("<!-- sample: plan-tabel prod -->\n<!-- /sample -->\n", runs, "README.md")


def test_a_sample_change_that_no_longer_applies_names_where_to_fix_it(tmp_path: Path):
    project = _copy_project(tmp_path / "p")
    with pytest.raises(SampleError, match="vllm_fleet/docs_samples.py"):
        _apply(project, (Edit("prod", "no-such-model", ("parallelism", "tensor"), 2, "x"),))
