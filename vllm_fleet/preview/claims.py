"""Verdicts on claims and namespaces: where weights can be lost, as Pulumi's engine really decides it.

The engine's rules (pulumi/pulumi `pkg/resource/deploy/step_generator.go` and
`step.go`; the maintainers' table in pulumi/pulumi#13428):

- a replace is refused only when the object is protected both in the state and
  in the program (`new.Protect && old.Protect`), so a change that turns
  `protect` off and forces a replace runs in one `pulumi up`;
- a delete (the object left the program, or `pulumi destroy`) is refused when
  the state protects the object;
- whether the old object is really deleted, on a delete or a replace, is
  decided by `retainOnDelete` in the state, never by the program: a retained
  object is dropped from the state and left in the cluster.
"""

from __future__ import annotations

from enum import Enum
from typing import Optional

from ..constants import WEIGHTS_VOLUME
from ..quantity import parse_quantity
from .diff import Op, Resource, Snapshot, Step
from .findings import Finding, Hazard, Severity

WEIGHTS_COMPONENT = "weights"
CLAIM = "PersistentVolumeClaim"
OPTION_PATHS = (("protect", "protect (resource option)"), ("retain_on_delete", "retainOnDelete (resource option)"))


class Removal(str, Enum):
    """What becomes of the old object when a step deletes it (outright, or to replace it)."""

    BLOCKED = "blocked"
    KEPT = "kept"
    DELETED = "deleted"


def removal(old: Resource, new: Optional[Resource]) -> Removal:
    """The engine's decision for the old object; `new` is the program's object for a replace, None for a delete."""
    if old.protect and (new is None or new.protect):
        return Removal.BLOCKED
    if old.retain_on_delete:
        return Removal.KEPT
    return Removal.DELETED


def holds_weights(resource: Optional[Resource]) -> bool:
    return bool(resource) and resource.kind == CLAIM and (resource.component == WEIGHTS_COMPONENT or resource.protect)


def _subject(step: Step) -> str:
    return f"{step.kind} {step.display_name}"


def _unprotect_clause(step: Step) -> str:
    if step.old and step.new and step.old.protect and not step.new.protect:
        return (
            ", and this change removes `protect`: Pulumi refuses a replace only when both the state and the "
            "program protect the claim, so this `pulumi up` unprotects and replaces in one go"
        )
    return ""


def _replace_claim(step: Step) -> Finding:
    what = f"replacing the claim ({', '.join(step.replace_reasons)} can't change in place)"
    fate = removal(step.old, step.new)
    if fate is Removal.BLOCKED:
        return Finding(Severity.DANGER, Hazard.DATA_LOSS, _subject(step), (
            f"{what} would delete it and the weights on it; `protect` is set in the stack's state and in the "
            "program, so `pulumi up` refuses the whole update until the claim is unprotected"
        ), blocked=True)
    if fate is Removal.KEPT:
        return Finding(Severity.DANGER, Hazard.REJECTED, _subject(step), (
            f"{what}{_unprotect_clause(step)}; `retainOnDelete` in the state keeps the old claim (the weights "
            "survive) but drops it from Pulumi's state, and its replacement has the same name, so creating it "
            "fails: `pulumi up` fails and leaves the old claim unmanaged"
        ))
    return Finding(Severity.DANGER, Hazard.DATA_LOSS, _subject(step), (
        f"{what}{_unprotect_clause(step)}: it is deleted with the weights on it (a named object is deleted "
        "before it is recreated), and the new claim starts empty"
    ))


def _delete_claim(step: Step) -> Finding:
    fate = removal(step.old, None)
    if fate is Removal.BLOCKED:
        return Finding(Severity.DANGER, Hazard.DATA_LOSS, _subject(step), (
            "deleting the claim would delete the weights on it; `protect` in the state makes `pulumi up` and "
            "`pulumi destroy` refuse until `pulumi state unprotect`"
        ), blocked=True)
    if fate is Removal.KEPT:
        return Finding(Severity.NOTE, Hazard.ORPHANED, _subject(step), (
            "Pulumi stops managing the claim and leaves it, with the weights, in the cluster (`retainOnDelete` "
            "in the state); delete it by hand once nothing needs it"
        ))
    return Finding(Severity.DANGER, Hazard.DATA_LOSS, _subject(step), "deleting the claim deletes the weights on it")


def claim_finding(step: Step) -> Optional[Finding]:
    """A replaced or deleted weights claim: refused, orphaned, or lost, by the engine's rules above."""
    if not holds_weights(step.old):
        return None
    if step.op is Op.REPLACE:
        return _replace_claim(step)
    if step.op is Op.DELETE:
        return _delete_claim(step)
    return None


def protection_finding(step: Step) -> Optional[Finding]:
    """`protect` or `retainOnDelete` turned off on a weights claim: the next replace or destroy loses the weights."""
    if step.op is not Op.UPDATE or not holds_weights(step.old):
        return None
    removed = [
        label for attribute, label in OPTION_PATHS if getattr(step.old, attribute) and not getattr(step.new, attribute)
    ]
    if not removed:
        return None
    options = " and ".join(label.split(" ", 1)[0] for label in removed)
    return Finding(Severity.DANGER, Hazard.PROTECTION_REMOVED, _subject(step), (
        f"this change removes {options} from the claim: from now on a replace, a removal or `pulumi destroy` "
        "deletes the weights instead of being refused or leaving the claim behind"
    ))


def _requested_storage(resource: Optional[Resource]):
    text = ((resource.manifest or {}).get("spec", {}).get("resources", {}).get("requests", {}).get("storage")
            if resource else None)
    try:
        return parse_quantity(text) if text is not None else None
    except ValueError:
        return None


def shrink_finding(step: Step) -> Optional[Finding]:
    """A claim's size going down: shown as an update, refused by the API server."""
    if step.kind != CLAIM or step.op is not Op.UPDATE:
        return None
    old, new = _requested_storage(step.old), _requested_storage(step.new)
    if old is None or new is None or new >= old:
        return None
    sizes = [side.manifest["spec"]["resources"]["requests"]["storage"] for side in (step.old, step.new)]
    return Finding(Severity.DANGER, Hazard.REJECTED, _subject(step), (
        f"spec.resources.requests.storage shrinks from {sizes[0]} to {sizes[1]}: the API server refuses to shrink "
        "a claim; pulumi up will fail (a smaller claim means a new claim and fetching the weights again)"
    ))


def claims_in(snapshot: Optional[Snapshot], namespace: Optional[str]) -> list[str]:
    """The weights claims a namespace holds: the stack's own and the existing ones its models read."""
    if snapshot is None or namespace is None:
        return []
    names = {
        r.manifest["metadata"]["name"] for r in snapshot.resources.values() if holds_weights(r) and r.namespace == namespace
    }
    if snapshot.outputs.get("namespace") == namespace:
        models = snapshot.models.values()
        for model in models:
            names.update(model.get("weightsClaims", []))
        if any("weightsClaims" not in model for model in models):
            # A base older than `weightsClaims`: the pods' weights volume names the claim.
            for resource in snapshot.resources.values():
                if resource.namespace != namespace:
                    continue
                for _, template in resource.pod_templates:
                    for volume in template.get("spec", {}).get("volumes", []):
                        if volume.get("name") == WEIGHTS_VOLUME and "persistentVolumeClaim" in volume:
                            names.add(volume["persistentVolumeClaim"]["claimName"])
    return sorted(names)


def namespace_finding(step: Step, base: Optional[Snapshot]) -> Optional[Finding]:
    """A namespace that leaves the stack (renamed, or the stack destroyed) takes every claim in it along."""
    if step.kind != "Namespace" or step.op not in (Op.DELETE, Op.REPLACE):
        return None
    claims = claims_in(base, step.old.namespace)
    if not claims:
        return None
    held = ", ".join(claims)
    fate = removal(step.old, step.new if step.op is Op.REPLACE else None)
    if fate is Removal.BLOCKED:
        return Finding(Severity.DANGER, Hazard.DATA_LOSS, _subject(step), (
            f"deleting the namespace would delete the weights claims in it ({held}); `protect` in the state "
            "makes `pulumi up` refuse"
        ), blocked=True)
    if fate is Removal.KEPT:
        return Finding(Severity.NOTE, Hazard.ORPHANED, _subject(step), (
            f"Pulumi drops the namespace from its state and leaves it in the cluster (`retainOnDelete` in the "
            f"state), with the weights claims in it: {held}"
        ))
    return Finding(Severity.DANGER, Hazard.DATA_LOSS, _subject(step), (
        f"the namespace leaves the stack (renamed, or the stack removed): deleting it deletes every object in "
        f"it, and with them the weights claims {held}, existing claims this stack never created included; "
        "`retainOnDelete` is read from the stack's state, where this namespace lacks it"
    ))
