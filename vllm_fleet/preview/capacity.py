"""What a change does to a stack's GPUs: the cost delta, the plan as Mermaid, and the memory table for the PR comment.

Why: a PR that turns TP=8 into TP=16 doubles a bill and changes what each
GPU holds; the reviewer should read "+8 H100-80GB-SXM → +$478.08/day" and see
the new plan, not only the changed StatefulSets. Everything is read from the
two renders' outputs (`models.<name>`, `pricing`), so the base is described
by the base's own code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..capacity.cost import cost_delta
from ..plan_picture import memory_rows, memory_table, picture_input, plan_mermaid, summaries
from ..summary import PlanSummary, stack_costs, stack_total_line
from .diff import Snapshot

@dataclass(frozen=True)
class CapacityChange:
    """The GPUs of a stack after the change, what changed in GPUs and money, and the pictures of changed plans."""

    #: "36 H100-80GB-SXM; 864 GPU-hours/day; $2,151.36/day" (after the change; 'none' when the stack is removed).
    total: str
    #: cost_delta's lines ("+8 H100-80GB-SXM → +$478.08/day"); empty when the GPUs don't change.
    delta: tuple[str, ...]
    #: (model, ```mermaid block) of each model whose plan is new or changed.
    diagrams: tuple[tuple[str, str], ...]
    #: The memory table of the stack's models after the change ('' when none has a memory plan).
    memory_table: str

    @property
    def headline(self) -> str:
        """One line for the stack's summary: the delta, or nothing when the GPUs don't change."""
        return "; ".join(self.delta)


def _models(snapshot: Optional[Snapshot]) -> Mapping[str, Any]:
    return snapshot.models if snapshot else {}


def _pricing(snapshot: Optional[Snapshot]) -> Mapping[str, Any]:
    return snapshot.outputs.get("pricing", {}) if snapshot else {}


def _changed(before: Mapping[str, PlanSummary], after: Mapping[str, PlanSummary]) -> list[str]:
    """Models whose picture would be drawn differently (or on another GPU type): the ones to show again."""
    return [
        name for name, row in after.items()
        if name not in before
        or picture_input(name, before[name]) != picture_input(name, row)
        or before[name].accelerator != row.accelerator
    ]


#: What every model's output holds since plans were summarised; outputs without it describe no plan.
_REQUIRED = ("tensor", "pipeline", "pods", "headGpus", "workerGpus", "totalGpus", "launcher", "apiUrl")


def capacity_change(base: Optional[Snapshot], head: Optional[Snapshot]) -> Optional[CapacityChange]:
    """The capacity side of one stack's preview (None on a side: the stack doesn't exist there).

    None when a side's outputs describe no plans (a render without `models.<name>` summaries).
    """
    if any(key not in row for side in (base, head) for row in _models(side).values() for key in _REQUIRED):
        return None
    before, after = summaries({"models": _models(base)}), summaries({"models": _models(head)})
    if any("accelerator" not in row for row in _models(base).values()):
        # A base rendered before the plan knew GPU types: every GPU would look like a new type.
        delta = ("(the base's plan names no GPU types: no cost delta until both sides do)",)
    else:
        delta = tuple(cost_delta(stack_costs(before, _pricing(base)), stack_costs(after, _pricing(head))))
    total = stack_total_line(after, _pricing(head)) if after else "none"
    diagrams = tuple(
        (name, plan_mermaid(picture_input(name, after[name]))) for name in _changed(before, after)
    )
    rows = memory_rows(after)
    return CapacityChange(total, delta, diagrams, memory_table(rows) if rows else "")
