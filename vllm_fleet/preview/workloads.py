"""Verdicts on what serves: StatefulSets, the group's shape, fetch Jobs, and the objects pods read."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Iterable, Iterator, Mapping, Optional

from .diff import Op, Resource, Snapshot, Step
from .findings import Finding, Hazard, Severity

#: The plan fields whose change re-forms a model's whole group (outputs.json `models.<name>`).
GROUP_SHAPE = (("tensor", "TP"), ("pipeline", "PP"), ("headGpus", "head GPUs/pod"), ("workerGpus", "worker GPUs/pod"))
FETCH_COMPONENT = "fetch"
IMAGE_PATH = re.compile(r"^spec\.template\.spec\.(initContainers|containers)\[\d+\]\.image$")
#: Where a pod names a ConfigMap or Secret it reads: {reference key: field holding the name}.
REFERENCES = {
    "ConfigMap": {"configMap": "name", "configMapKeyRef": "name", "configMapRef": "name"},
    "Secret": {"secret": "secretName", "secretKeyRef": "name", "secretRef": "name"},
}


def _model(step: Step) -> str:
    return step.resource.model or "?"


def _template_changes(step: Step) -> list:
    """The changes inside the step's pod templates (a StatefulSet's `spec.template`, a LeaderWorkerSet's two)."""
    return [change for change in step.changes if step.resource.under_pod_template(change.path)]


def stateful_set_finding(step: Step, head_models: Mapping[str, Any]) -> Optional[Finding]:
    """A StatefulSet replaced, or deleted while its model stays: the model is down."""
    if step.kind != "StatefulSet":
        return None
    model, subject = _model(step), f"{step.kind} {step.display_name}"
    if step.op is Op.REPLACE:
        reasons = ", ".join(step.replace_reasons)
        return Finding(Severity.DANGER, Hazard.DOWNTIME, subject, (
            f"{reasons} can't change in place: the StatefulSet is deleted, then recreated (it has an explicit "
            f"name), so model {model} is down until its pods are scheduled again and have reloaded the weights"
        ))
    if step.op is Op.DELETE and model in head_models:
        return Finding(Severity.DANGER, Hazard.DOWNTIME, subject, (
            f"model {model} stays in the stack but this StatefulSet goes: its pods stop, and the group re-forms"
        ))
    return None


def template_findings(steps: Iterable[Step], head_models: Mapping[str, Any], restarting: set[str]) -> list[Finding]:
    """Pod-template updates, per model: a group restarts as a whole (danger); a single pod is down while it reloads."""
    updated: dict[str, list[Step]] = defaultdict(list)
    for step in steps:
        if step.kind == "StatefulSet" and step.op is Op.UPDATE and _template_changes(step):
            updated[_model(step)].append(step)
    findings = []
    for model, model_steps in updated.items():
        if model in restarting:  # the group-shape finding already says every pod restarts together
            continue
        images = sorted({f"{c.old} → {c.new}" for s in model_steps for c in _template_changes(s) if IMAGE_PATH.match(c.path)})
        what = f"the image changes ({', '.join(images)})" if images else "the pod template changes"
        where = ", ".join(s.display_name for s in model_steps)
        pods = head_models.get(model, {}).get("pods", 1)
        groups = head_models.get(model, {}).get("replicas", 1)
        if pods > 1:
            across = (f"; with {groups} groups it can't roll group by group either: the head and worker StatefulSets "
                      "roll independently, pod by pod, so several groups break at once (the leaderworkerset workload "
                      "rolls one whole group at a time)") if groups > 1 else ""
            findings.append(Finding(Severity.DANGER, Hazard.DOWNTIME, f"model {model}", (
                f"{what} in {where}: its {pods} pods are one group that fails as a whole, so the rolling update "
                "restarts the whole group (every member that restarts breaks it, and the head's watchdog takes "
                f"it down): model {model} is down until every pod has restarted and reloaded the weights{across}"
            )))
        else:
            findings.append(Finding(Severity.NOTE, Hazard.ROLLING_RESTART, f"model {model}", (
                f"{what} in {where}: one pod serves model {model} and the rolling update stops it before its "
                "successor is ready, so the model is unavailable while the new pod loads the weights"
            )))
    return findings


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
        if changed and new.get("workload") == "leaderworkerset" and old.get("workload") == "leaderworkerset":
            findings.append(Finding(Severity.NOTE, Hazard.GROUP_RESTART, f"model {name}", (
                f"{', '.join(changed)} change ({_shape(old)} → {_shape(new)}): every pod of a group restarts "
                "together; the LeaderWorkerSet rolls group by group (see its rollout finding)"
            )))
        elif changed:
            findings.append(Finding(Severity.DANGER, Hazard.GROUP_RESTART, f"model {name}", (
                f"{', '.join(changed)} change ({_shape(old)} → {_shape(new)}): every pod of the group restarts "
                "together, and the model is down while the group re-forms and reloads the weights"
            )))
    for name in base_models.keys() - head_models.keys():
        findings.append(Finding(Severity.NOTE, Hazard.REMOVED, f"model {name}", "removed: its API stops serving"))
    return findings


# ------------------------------------------------------------------ LeaderWorkerSet rollouts


def _scaled(value: Any, groups: int, round_up: bool) -> int:
    """An LWS int-or-percent of `groups`: maxSurge rounds up, maxUnavailable down (as LWS does)."""
    if isinstance(value, str) and value.endswith("%"):
        share = int(value[:-1]) * groups
        return -(-share // 100) if round_up else share // 100
    return int(value)


def lws_rollout(manifest: Mapping[str, Any], group_gpus: int) -> dict[str, Any]:
    """How a LeaderWorkerSet rolls a template change: groups at once, surge groups and GPUs, and whether all may be down."""
    spec = manifest.get("spec", {})
    groups = int(spec.get("replicas", 1))
    rolling = spec.get("rolloutStrategy", {}).get("rollingUpdateConfiguration", {})
    unavailable = _scaled(rolling.get("maxUnavailable", 1), groups, round_up=False)
    surge = _scaled(rolling.get("maxSurge", 0), groups, round_up=True)
    # LWS: maxUnavailable 0 with maxSurge 0 would never progress; it takes 1 then.
    unavailable = max(unavailable, 1) if surge == 0 else unavailable
    return {
        "groups": groups, "unavailable": unavailable, "surge": surge, "surge_gpus": surge * group_gpus,
        "downtime": unavailable >= groups,
    }


def rollout_findings(steps: Iterable[Step], head_models: Mapping[str, Any]) -> list[Finding]:
    """A LeaderWorkerSet template change restarts groups: how many at a time, extra GPUs at the peak, downtime or not."""
    findings = []
    for step in steps:
        if step.kind != "LeaderWorkerSet" or step.op is not Op.UPDATE:
            continue
        if not any(c.path.startswith("spec.leaderWorkerTemplate.") for c in step.changes):
            continue
        model = _model(step)
        row = head_models.get(model, {})
        plan = lws_rollout(step.resource.manifest or {}, int(row.get("groupGpus", 0)))
        groups, down = plan["groups"], min(plan["unavailable"], plan["groups"])
        at_once = min(max(down, plan["surge"]), groups)
        surge = (f"a surge of {plan['surge']} extra group(s) needs {plan['surge_gpus']} more GPUs free at the "
                 "rollout's peak (else the rollout waits for them)") if plan["surge"] else "no surge: no extra GPUs"
        settings = f"maxUnavailable {down}, maxSurge {plan['surge']}"
        if plan["downtime"]:
            findings.append(Finding(Severity.DANGER, Hazard.DOWNTIME, f"model {model}", (
                f"the group template changes and the LeaderWorkerSet may restart all {groups} group(s) at once "
                f"({settings}): model {model} is down until a group has restarted and reloaded the weights; {surge}. "
                "Run replicas ≥ 2, or maxUnavailable 0 with maxSurge 1, to keep serving"
            )))
            continue
        findings.append(Finding(Severity.NOTE, Hazard.ROLLOUT, f"model {model}", (
            f"the group template changes: the LeaderWorkerSet restarts {at_once} of its {groups} groups at a time "
            f"({settings}), at least {groups - down} keep serving: no downtime; {surge}"
        )))
    return findings


# ------------------------------------------------------------------ fetch


def _source_changes(step: Step) -> list:
    """Changed annotations that name what is fetched (`…/source`, `…/revision`)."""
    return [
        change for change in step.changes
        if ".annotations." in change.path and re.search(r"(source|revision)$", change.path.rsplit(".", 1)[-1])
    ]


def _weights_source(models: Mapping[str, Any], model: str) -> str:
    description = str(models.get(model, {}).get("weights", "")) or "?"
    return description.split(" -> ", 1)[0]


def fetch_findings(steps: Iterable[Step], base_models: Mapping[str, Any], head_models: Mapping[str, Any]) -> list[Finding]:
    """A fetch Job replaced (or its source annotation changed) fetches the weights again: the weights change."""
    by_model: dict[str, list[Step]] = defaultdict(list)
    for step in steps:
        fetch_object = step.resource.component == FETCH_COMPONENT and step.kind in ("Job", "ConfigMap")
        if fetch_object and step.op in (Op.UPDATE, Op.REPLACE):
            by_model[_model(step)].append(step)
    findings = []
    for model, model_steps in by_model.items():
        sources = [change for step in model_steps for change in _source_changes(step)]
        refetch = sources or [s for s in model_steps if s.kind == "Job" and s.op is Op.REPLACE]
        if refetch:
            old, new = (sources[0].old, sources[0].new) if sources else (
                _weights_source(base_models, model), _weights_source(head_models, model))
            if old == new:  # the Job is replaced for another reason (a label): same source, fetched again
                findings.append(Finding(Severity.NOTE, Hazard.WEIGHTS_CHANGE, f"model {model}", (
                    f"the fetch Job is replaced, so it runs again and fetches {old} into the claim once more; the "
                    "source is unchanged"
                )))
                continue
            findings.append(Finding(Severity.DANGER, Hazard.WEIGHTS_CHANGE, f"model {model}", (
                f"the weights change: refetch of {old} -> {new}; the fetch Job runs again into the claim and the "
                "pods wait for its new completion marker before they serve"
            )))
        elif any(s.kind == "ConfigMap" and s.op is Op.REPLACE for s in model_steps):
            findings.append(Finding(Severity.NOTE, Hazard.REPLACED, f"model {model}", (
                "the fetch script's ConfigMap is replaced but the fetch Job is not: a completed Job does not run "
                "again, so the claim keeps the weights it already holds"
            )))
    return findings


# ------------------------------------------------------- ConfigMaps, Secrets


def _names_referenced(value: Any, kind: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            field = REFERENCES[kind].get(key)
            if field and isinstance(item, dict) and isinstance(item.get(field), str):
                yield item[field]
            yield from _names_referenced(item, kind)
    elif isinstance(value, list):
        for item in value:
            yield from _names_referenced(item, kind)


def readers(snapshot: Optional[Snapshot], target: Resource) -> list[Resource]:
    """The workloads whose pods read `target` (a ConfigMap or Secret) in its namespace."""
    if snapshot is None:
        return []
    name = (target.manifest or {}).get("metadata", {}).get("name")
    return [
        r for r in snapshot.resources.values()
        if r.namespace == target.namespace
        and any(name in set(_names_referenced(template, target.kind)) for _, template in r.pod_templates)
    ]


def replaced_config_findings(steps: list[Step], head: Optional[Snapshot]) -> list[Finding]:
    """A ConfigMap or Secret replaced for its data: what Pulumi does, and which pods see the new content."""
    rolling = {step.urn for step in steps if _template_changes(step)}
    findings = []
    for step in steps:
        if step.op is not Op.REPLACE or step.kind not in REFERENCES or step.resource.component == FETCH_COMPONENT:
            continue
        if any(reason.startswith(("metadata.name", "metadata.namespace")) for reason in step.replace_reasons):
            continue
        message = (
            f"pulumi-kubernetes replaces a {step.kind} whose data changes (the provider's "
            f"enable{step.kind}Mutable is off): it is deleted and created again under the same name"
        )
        found = readers(head, step.resource)
        rolls = [r.display_name for r in found if r.urn in rolling]
        stale = [r.display_name for r in found if r.urn not in rolling]
        if rolls:
            message += f"; the pods of {', '.join(rolls)} roll with it (their template changes too)"
        if stale:
            message += f"; the pods of {', '.join(stale)} keep the old content until they restart (their template doesn't change)"
        findings.append(Finding(Severity.NOTE, Hazard.REPLACED, f"{step.kind} {step.display_name}", message))
    return findings
