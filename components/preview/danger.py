"""Verdicts on a stack's steps: which ones lose data or take a model down.

A reviewer reads "1 to replace" and moves on; these rules spell out what a
replace means for this fleet. Everything here is a pure function of the steps
and the two renders' `models` outputs (the plan each side was built from).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Mapping, Optional

from .diff import Op, Step

WEIGHTS_COMPONENT = "weights"
#: The plan fields whose change re-forms a model's whole group (outputs.json `models.<name>`).
GROUP_SHAPE = (("tensor", "TP"), ("pipeline", "PP"), ("headGpus", "head GPUs/pod"), ("workerGpus", "worker GPUs/pod"))


class Severity(str, Enum):
    DANGER = "danger"
    NOTE = "note"


class Hazard(str, Enum):
    DATA_LOSS = "data loss"
    DOWNTIME = "downtime"
    GROUP_RESTART = "group restart"
    ROLLING_RESTART = "rolling restart"
    REMOVED = "model removed"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    hazard: Hazard
    subject: str
    message: str
    #: Pulumi refuses the step (`protect` in the stack's state): `pulumi up` fails rather than loses data.
    blocked: bool = False

    @property
    def is_danger(self) -> bool:
        return self.severity is Severity.DANGER


def _holds_weights(step: Step) -> bool:
    resource = step.resource
    return resource.kind == "PersistentVolumeClaim" and (resource.component == WEIGHTS_COMPONENT or step.protected)


def _subject(step: Step) -> str:
    return f"{step.kind} {step.display_name}"


def _blocked_suffix(step: Step) -> str:
    if not step.protected:
        return ""
    return "; `protect` makes `pulumi up` refuse it until the claim is unprotected (`pulumi state unprotect`)"


def weights_claim_finding(step: Step) -> Optional[Finding]:
    if step.op not in (Op.REPLACE, Op.DELETE) or not _holds_weights(step):
        return None
    if step.op is Op.REPLACE:
        reasons = ", ".join(step.replace_reasons)
        message = (
            f"replacing the claim ({reasons} can't change in place) deletes it and the weights on it; "
            "the new claim starts empty"
        )
    else:
        message = "deleting the claim deletes the weights on it"
        if step.old and step.old.retain_on_delete:
            message += " (retainOnDelete keeps the object in the cluster, but Pulumi stops managing it)"
    return Finding(Severity.DANGER, Hazard.DATA_LOSS, _subject(step), message + _blocked_suffix(step), step.protected)


def stateful_set_finding(step: Step, head_models: Mapping[str, Any]) -> Optional[Finding]:
    if step.kind != "StatefulSet":
        return None
    model = step.resource.model or "?"
    if step.op is Op.REPLACE:
        reasons = ", ".join(step.replace_reasons)
        return Finding(
            Severity.DANGER,
            Hazard.DOWNTIME,
            _subject(step),
            f"{reasons} can't change in place: the StatefulSet is deleted, then recreated (it has an explicit "
            f"name), so model {model} is down until its pods are scheduled again and have reloaded the weights",
        )
    if step.op is Op.DELETE and model in head_models:
        return Finding(
            Severity.DANGER,
            Hazard.DOWNTIME,
            _subject(step),
            f"model {model} stays in the stack but this StatefulSet goes: its pods stop, and the group re-forms",
        )
    if step.op is Op.UPDATE and any(change.path.startswith("spec.template.") for change in step.changes):
        return Finding(
            Severity.NOTE,
            Hazard.ROLLING_RESTART,
            _subject(step),
            "the pod template changes: a rolling update recreates the pods, and a model served by a single "
            "pod is unavailable while the new pod loads the weights",
        )
    return None


def step_findings(step: Step, head_models: Mapping[str, Any]) -> list[Finding]:
    return [f for f in (weights_claim_finding(step), stateful_set_finding(step, head_models)) if f is not None]


def _shape(row: Mapping[str, Any]) -> str:
    """`TP×PP 4×3, GPUs/pod 4 + 1×8`; tolerant of a base whose outputs predate a key."""
    workers = row.get("pods", 1) - 1
    text = f"TP×PP {row.get('tensor', '?')}×{row.get('pipeline', '?')}, GPUs/pod {row.get('headGpus', '?')}"
    return text + (f" + {workers}×{row.get('workerGpus', '?')}" if workers > 0 else "")


def model_findings(base_models: Mapping[str, Any], head_models: Mapping[str, Any]) -> list[Finding]:
    """A changed TP/PP or GPUs-per-pod restarts every pod of the group at once, not one by one."""
    findings = []
    for name, new in head_models.items():
        old = base_models.get(name)
        if old is None:
            continue
        changed = [label for key, label in GROUP_SHAPE if old.get(key) != new.get(key)]
        if changed:
            findings.append(Finding(
                Severity.DANGER,
                Hazard.GROUP_RESTART,
                f"model {name}",
                f"{', '.join(changed)} change ({_shape(old)} → {_shape(new)}): every pod of the group restarts "
                "together, and the model is down while the group re-forms and reloads the weights",
            ))
    for name in base_models.keys() - head_models.keys():
        findings.append(Finding(Severity.NOTE, Hazard.REMOVED, f"model {name}", "removed: its API stops serving"))
    return findings


def assess(steps: Iterable[Step], base_models: Mapping[str, Any], head_models: Mapping[str, Any]) -> list[Finding]:
    """Every finding for a stack: dangers first, in step order, then notes."""
    by_model = model_findings(base_models, head_models)
    restarting = {f.subject for f in by_model if f.hazard is Hazard.GROUP_RESTART}
    found = [
        f for step in steps for f in step_findings(step, head_models)
        # A group restart already says the pods go down; "one by one" would contradict it.
        if not (f.hazard is Hazard.ROLLING_RESTART and f"model {step.resource.model}" in restarting)
    ]
    found += by_model
    return sorted(found, key=lambda finding: not finding.is_danger)
