"""Offline `pulumi preview`: diff two renders, call out data loss and downtime.

`diff` compares renders (pure), `rules` holds pulumi-kubernetes' replacement
rules, `danger` the fleet's verdicts, `verdict` a stack's result and the
`--fail-on` policy, `sources` the git/subprocess side, `report` the views.
"""

from .diff import Op, Snapshot, Step, load_snapshot
from .runner import preview
from .sources import SourceError
from .verdict import FailOn, StackDiff, Status, compare, should_fail

__all__ = [
    "FailOn",
    "Op",
    "Snapshot",
    "SourceError",
    "StackDiff",
    "Status",
    "Step",
    "compare",
    "load_snapshot",
    "preview",
    "should_fail",
]
