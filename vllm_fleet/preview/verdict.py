"""One stack's preview: steps, findings, and whether it should fail a required check."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Optional

from .capacity import CapacityChange, capacity_change
from .danger import Finding, assess
from .diff import Op, Snapshot, Step, compute_steps
from .secrets import hidden_changes


class Status(str, Enum):
    CHANGED = "changed"
    SAME = "same"
    #: The stack has no file at the base: everything is a create.
    NEW = "new"
    #: The stack's file is gone from the working tree: everything is a delete.
    REMOVED = "removed"
    #: One side didn't render; `error` says which and why.
    ERROR = "error"


class FailOn(str, Enum):
    NEVER = "never"
    DANGER = "danger"
    ANY_CHANGE = "any-change"


@dataclass(frozen=True)
class StackDiff:
    stack: str
    base_ref: str
    status: Status
    steps: tuple[Step, ...] = ()
    unchanged: int = 0
    findings: tuple[Finding, ...] = ()
    error: Optional[str] = None
    #: GPUs and cost after the change, their delta, and the plans that changed (None: the stack didn't render).
    capacity: Optional[CapacityChange] = None

    def count(self, op: Op) -> int:
        return sum(1 for step in self.steps if step.op is op)

    @property
    def counts(self) -> dict[str, int]:
        """Steps per operation, in `pulumi preview`'s order; operations with none are left out."""
        return {op.value: self.count(op) for op in (Op.CREATE, Op.UPDATE, Op.REPLACE, Op.DELETE) if self.count(op)}

    @property
    def dangers(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.is_danger)

    @property
    def notes(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if not finding.is_danger)

    @property
    def blocked(self) -> bool:
        return any(finding.blocked for finding in self.findings)


def compare(stack: str, base_ref: str, base: Optional[Snapshot], head: Optional[Snapshot]) -> StackDiff:
    """The preview of `stack` going from `base` to `head`; None means the stack doesn't exist on that side."""
    steps, unchanged = compute_steps(base, head, hidden_changes(base, head))
    findings = assess(steps, base, head)
    if base is None:
        status = Status.NEW
    elif head is None:
        status = Status.REMOVED
    else:
        status = Status.CHANGED if steps else Status.SAME
    return StackDiff(stack, base_ref, status, tuple(steps), unchanged, tuple(findings), capacity=capacity_change(base, head))


def failed_render(stack: str, base_ref: str, error: str) -> StackDiff:
    return StackDiff(stack, base_ref, Status.ERROR, error=error)


def should_fail(diffs: Iterable[StackDiff], policy: FailOn) -> bool:
    """Whether `--fail-on POLICY` turns these previews into a failed check."""
    diffs = list(diffs)
    if policy is FailOn.DANGER:
        return any(diff.dangers for diff in diffs)
    if policy is FailOn.ANY_CHANGE:
        return any(diff.steps for diff in diffs)
    return False
