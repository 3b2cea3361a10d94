"""`vllm-fleet diff`: which stacks to compare, rendered at the base ref and in the working tree."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

from .sources import Side, SourceError, base_side, working_tree_side
from .verdict import StackDiff, compare, failed_render


def choose_stacks(base: Side, head: Side, stack: Optional[str]) -> list[str]:
    """One named stack, or (stack=None) every stack that exists on either side."""
    known = sorted(set(base.stacks()) | set(head.stacks()))
    if stack is None:
        if not known:
            raise SourceError(f"no stacks at {base.label} nor in {head.label}")
        return known
    if stack not in known:
        raise SourceError(
            f"stack {stack!r} exists neither at {base.label} nor in {head.label}; stacks: {', '.join(known) or 'none'}"
        )
    return [stack]


def diff_stack(stack: str, base: Side, head: Side) -> StackDiff:
    # Each render is its own interpreter (~1 s); the two sides don't depend on each other.
    with ThreadPoolExecutor(max_workers=2) as pool:
        old_future, new_future = pool.submit(base.render, stack), pool.submit(head.render, stack)
        old, new = old_future.result(), new_future.result()
    error = "\n".join(e for e in (new.error, old.error) if e)
    if error:
        return failed_render(stack, base.label, error)
    return compare(stack, base.label, old.snapshot, new.snapshot)


def preview(project_dir: Path, base_ref: str, stack: Optional[str]) -> list[StackDiff]:
    with tempfile.TemporaryDirectory(prefix="vllm-fleet-diff-") as scratch:
        base = base_side(project_dir, base_ref, Path(scratch) / "base")
        head = working_tree_side(project_dir, Path(scratch) / "head")
        return [diff_stack(name, base, head) for name in choose_stacks(base, head, stack)]
