"""Text and markdown views of stack previews (the layout lives in templates/preview/).

Values are shaped here, once, so both templates print a field the same way:
scalars as they are, objects as compact JSON, scripts as a line diff.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Sequence

from ..templates import render
from .diff import ABSENT, FieldChange
from .verdict import FailOn, StackDiff, should_fail

NONE = "(none)"


def show(value: Any) -> str:
    if value is ABSENT:
        return NONE
    if isinstance(value, str):
        return f"({len(value.splitlines())}-line text)" if "\n" in value else value
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def is_multiline(change: FieldChange) -> bool:
    return any(isinstance(value, str) and "\n" in value for value in (change.old, change.new))


def line_diff(change: FieldChange) -> list[str]:
    """The changed lines of a script-like value and one line around each, without diff headers.

    Every line keeps its one-character marker (`-`, `+` or a space), so the
    lines drop straight into a ```diff block.
    """
    old = change.old.splitlines() if isinstance(change.old, str) else []
    new = change.new.splitlines() if isinstance(change.new, str) else []
    lines = difflib.unified_diff(old, new, n=1, lineterm="")
    return [line for line in lines if not line.startswith(("---", "+++", "@@"))]


def summary(diff: StackDiff) -> str:
    """`1 to create, 2 to update` (or `no changes`): the first thing a reviewer reads."""
    if diff.error:
        return "did not render"
    parts = [f"{count} to {op}" for op, count in diff.counts.items()]
    return ", ".join(parts) if parts else "no changes"


def _context(diffs: Sequence[StackDiff], base_ref: str) -> dict[str, Any]:
    return {
        "diffs": diffs,
        "base_ref": base_ref,
        "dangers": sum(len(diff.dangers) for diff in diffs),
        "would_block": should_fail(diffs, FailOn.DANGER),
        "show": show,
        "is_multiline": is_multiline,
        "line_diff": line_diff,
        "summary": summary,
        "absent": NONE,
    }


def render_text(diffs: Sequence[StackDiff], base_ref: str) -> str:
    return render("preview/diff.txt.j2", **_context(diffs, base_ref))


def render_markdown(diffs: Sequence[StackDiff], base_ref: str) -> str:
    return render("preview/pr-comment.md.j2", **_context(diffs, base_ref))
