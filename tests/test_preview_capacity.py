"""The capacity side of a preview: GPUs and cost after the change, the delta, the memory table and changed plans."""

from __future__ import annotations

import copy
from decimal import Decimal

from vllm_fleet.capacity.cost import HOURS_PER_DAY
from vllm_fleet.preview import Snapshot, compare
from vllm_fleet.preview.diff import Resource
from vllm_fleet.preview.capacity import capacity_change
from vllm_fleet.preview.report import render_markdown, render_text, summary
from vllm_fleet.summary import PlanSummary


def _snapshot(outputs) -> Snapshot:
    return Snapshot("prod", {}, outputs)


def _grown(outputs, model: str, pipeline: int) -> dict:
    """The prod outputs with one model's group grown to PP=`pipeline` (4 GPUs per stage)."""
    grown = copy.deepcopy(outputs)
    row = grown["models"][model]
    row.update(pipeline=pipeline, totalGpus=4 * pipeline, groupGpus=4 * pipeline, headGpus=8, workerGpus=8, pods=pipeline // 2)
    return grown


def test_a_bigger_group_costs_its_gpus_per_day(stack_renders):
    base = stack_renders["prod"].outputs
    change = capacity_change(_snapshot(base), _snapshot(_grown(base, "qwen-72b", 4)))
    price = Decimal(base["pricing"]["H100"])
    assert change.delta == (f"+4 H100-80GB-SXM → +${4 * HOURS_PER_DAY * price:,.2f}/day",)
    assert [name for name, _ in change.diagrams] == ["qwen-72b"]
    assert change.diagrams[0][1].startswith("```mermaid\nflowchart LR")
    assert change.memory_table.count("\n| ") == len(base["models"])  # one row per model below the header


def test_no_gpu_change_no_delta_and_no_diagram(stack_renders):
    base = stack_renders["prod"].outputs
    change = capacity_change(_snapshot(base), _snapshot(copy.deepcopy(base)))
    assert change.delta == () and change.diagrams == () and change.headline == ""


def test_a_new_most_groups_redraws_the_autoscaled_model(stack_renders):
    """The picture draws an autoscaled model at its most groups: raising only maxReplicas changes it."""
    base = stack_renders["prod"].outputs
    head = copy.deepcopy(base)
    row = head["models"]["llama-405b"]
    assert row["minReplicas"] < row["maxReplicas"]  # prod's autoscaled model
    row["maxReplicas"] += 4
    change = capacity_change(_snapshot(base), _snapshot(head))
    assert [name for name, _ in change.diagrams] == ["llama-405b"]


def test_a_base_without_gpu_types_gives_no_false_delta(stack_renders):
    head = stack_renders["prod"].outputs
    base = copy.deepcopy(head)
    for row in base["models"].values():
        del row["accelerator"]
    change = capacity_change(_snapshot(base), _snapshot(head))
    assert len(change.delta) == 1 and "no cost delta" in change.delta[0]


def test_a_removed_stack_gives_its_gpus_back(stack_renders):
    base = stack_renders["staging"].outputs
    change = capacity_change(_snapshot(base), None)
    rows = [PlanSummary.from_output(row) for row in base["models"].values()]
    fewest, most = sum(row.gpu_range[0] for row in rows), sum(row.gpu_range[1] for row in rows)
    assert change.total == "none" and change.delta[0].startswith(f"-{fewest}..-{most} A100-80GB → -$")


def _config_map(value: str) -> dict:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "llm-prod"}, "data": {"k": value}}
    urn = "urn:pulumi:prod::vllm-fleet::kubernetes:core/v1:ConfigMap::c"
    return {urn: Resource(urn, "kubernetes:core/v1:ConfigMap", "c", manifest)}


def test_the_comment_and_the_terminal_show_the_delta(stack_renders):
    base = stack_renders["prod"].outputs
    before = Snapshot("prod", _config_map("a"), base)
    after = Snapshot("prod", _config_map("b"), _grown(base, "qwen-72b", 4))
    diff = compare("prod", "origin/main", before, after)
    assert diff.steps, "a changed object makes the stack's details show"
    markdown, text = render_markdown([diff], "origin/main"), render_text([diff], "origin/main")
    delta = diff.capacity.delta[0]
    whole = [PlanSummary.from_output(row) for row in base["models"].values() if not row.get("gpuSlice")]
    fewest, most = sum(row.gpu_range[0] for row in whole) + 4, sum(row.gpu_range[1] for row in whole) + 4
    assert delta in text and f"GPUs requested: {fewest}..{most} H100-80GB-SXM" in text
    assert f"**prod**: {summary(diff)} · {delta}" in markdown
    assert "```mermaid" in markdown and "| qwen-72b | H100-80GB-SXM | 4×4 |" in markdown
