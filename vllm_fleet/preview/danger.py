"""Verdicts on a stack's steps: which ones lose data, fail, or take a model down.

A reviewer reads "1 to replace" and moves on; these rules spell out what a
replace means for this fleet. Everything here is a pure function of the steps
and the two renders (their objects, resource options and `models` outputs).
The rules live by subject: `claims` (weights, namespaces, Pulumi's protect
rules), `workloads` (StatefulSets, group shape, fetch Jobs, what pods read),
`secrets` (rotated secret config).
"""

from __future__ import annotations

from typing import Iterable, Optional

from .claims import claim_finding, namespace_finding, protection_finding, shrink_finding
from .diff import Snapshot, Step
from .findings import Finding, Hazard, Severity
from .secrets import secret_findings
from .workloads import (
    fetch_findings,
    model_findings,
    replaced_config_findings,
    rollout_findings,
    stateful_set_finding,
    template_findings,
)

__all__ = ["Finding", "Hazard", "Severity", "assess"]


def _models(snapshot: Optional[Snapshot]):
    return snapshot.models if snapshot else {}


def step_findings(step: Step, base: Optional[Snapshot], head: Optional[Snapshot]) -> list[Finding]:
    found = (
        claim_finding(step),
        protection_finding(step),
        shrink_finding(step),
        namespace_finding(step, base),
        stateful_set_finding(step, _models(head)),
    )
    return [finding for finding in found if finding is not None]


def assess(steps: Iterable[Step], base: Optional[Snapshot], head: Optional[Snapshot]) -> list[Finding]:
    """Every finding for a stack: dangers first, in step order, then notes."""
    steps = list(steps)
    base_models, head_models = _models(base), _models(head)
    by_model = model_findings(base_models, head_models)
    restarting = {f.subject.removeprefix("model ") for f in by_model if f.hazard is Hazard.GROUP_RESTART}
    found = [finding for step in steps for finding in step_findings(step, base, head)]
    found += template_findings(steps, head_models, restarting)
    found += rollout_findings(steps, head_models)
    found += fetch_findings(steps, base_models, head_models)
    found += replaced_config_findings(steps, head)
    found += secret_findings(base, head)
    found += by_model
    return sorted(found, key=lambda finding: not finding.is_danger)
