"""The pure preview: replacement rules, steps, verdicts and views, on synthetic renders."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.preview import FailOn, Op, Snapshot, Status, compare, should_fail
from components.preview.danger import Hazard
from components.preview.diff import Resource, format_path
from components.preview.report import render_markdown, render_text
from components.preview.rules import forces_replacement
from components.preview.verdict import failed_render

NS = "llm-test"
STACK_URN = "urn:pulumi:test::vllm-fleet::pulumi:pulumi:Stack$"


def _urn(kind: str, name: str) -> str:
    group = {"StatefulSet": "apps/v1", "PersistentVolumeClaim": "core/v1", "ConfigMap": "core/v1"}[kind]
    return f"{STACK_URN}kubernetes:{group}:{kind}::{name}"


def _pvc(name: str = "m-weights", storage_class: str = "fast", size: str = "20Gi", protect: bool = False, **labels) -> Resource:
    manifest = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NS, "labels": {"app.kubernetes.io/instance": "m", **labels}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            "storageClassName": storage_class,
        },
    }
    return Resource(_urn("PersistentVolumeClaim", f"persistentvolumeclaim-{name}"), "kubernetes:core/v1:PersistentVolumeClaim",
                    f"persistentvolumeclaim-{name}", manifest, protect=protect, retain_on_delete=protect)


def _weights(**overrides) -> Resource:
    return _pvc(**{"app.kubernetes.io/component": "weights"}, **overrides)


def _sts(name: str = "m-head", gpus: int = 1, service: str = "m-group", args: tuple = ("--max-model-len", "8192")) -> Resource:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NS, "labels": {"app.kubernetes.io/instance": "m"}},
        "spec": {
            "replicas": 1,
            "serviceName": service,
            "selector": {"matchLabels": {"app.kubernetes.io/instance": "m"}},
            "template": {"spec": {"containers": [{
                "name": "vllm", "args": list(args), "resources": {"limits": {"nvidia.com/gpu": gpus}},
            }]}},
        },
    }
    return Resource(_urn("StatefulSet", name), "kubernetes:apps/v1:StatefulSet", name, manifest)


def _model(tensor: int = 1, pipeline: int = 1, head: int = 1, worker: int = 0, pods: int = 1) -> dict[str, Any]:
    return {"tensor": tensor, "pipeline": pipeline, "headGpus": head, "workerGpus": worker, "pods": pods}


def _snapshot(*resources: Resource, models: dict | None = None) -> Snapshot:
    return Snapshot("test", {r.urn: r for r in resources}, {"models": models if models is not None else {"m": _model()}})


def _diff(base: Snapshot | None, head: Snapshot | None):
    return compare("test", "main", base, head)


def _ops(diff) -> dict[str, Op]:
    return {step.display_name: step.op for step in diff.steps}


# ------------------------------------------------------------------ rules


@pytest.mark.parametrize(
    ("kind", "path", "replaces"),
    [
        ("StatefulSet", ("spec", "serviceName"), True),
        ("StatefulSet", ("spec", "selector", "matchLabels", "app"), True),
        ("StatefulSet", ("spec", "volumeClaimTemplates", 0, "spec", "resources"), True),
        ("StatefulSet", ("spec", "podManagementPolicy"), True),
        ("StatefulSet", ("spec", "revisionHistoryLimit"), True),
        ("StatefulSet", ("spec", "template", "spec", "containers", 0, "image"), False),
        ("StatefulSet", ("spec", "replicas"), False),
        ("PersistentVolumeClaim", ("spec", "storageClassName"), True),
        ("PersistentVolumeClaim", ("spec", "accessModes", 0), True),
        ("PersistentVolumeClaim", ("spec", "volumeName"), True),
        ("PersistentVolumeClaim", ("spec", "resources", "requests", "storage"), False),
        ("Service", ("spec", "clusterIP"), True),
        ("Service", ("spec", "ports", 0, "port"), False),
        ("Deployment", ("spec", "selector"), True),
        ("Job", ("spec", "template", "spec", "containers"), True),
        ("ConfigMap", ("metadata", "namespace"), True),
        ("ConfigMap", ("metadata", "name"), True),
        ("ConfigMap", ("metadata", "labels", "x"), False),
        # The provider treats ConfigMaps and Secrets as immutable (no enable*Mutable): data changes replace.
        ("ConfigMap", ("data", "head.sh"), True),
        ("ConfigMap", ("binaryData", "x"), True),
        ("Secret", ("stringData", "api-key"), True),
        ("Secret", ("data", "token"), True),
        ("Secret", ("type",), True),
        ("Secret", ("metadata", "labels", "x"), False),
    ],
)
def test_replacement_rules_follow_pulumi_kubernetes(kind, path, replaces):
    assert forces_replacement(kind, path) is replaces


def test_paths_print_like_pulumi():
    path = ("spec", "template", "spec", "containers", 0, "resources", "limits", "nvidia.com/gpu")
    assert format_path(path) == "spec.template.spec.containers[0].resources.limits.nvidia.com/gpu"


# ------------------------------------------------------------------ steps


def test_identical_renders_have_no_steps():
    diff = _diff(_snapshot(_sts(), _weights()), _snapshot(_sts(), _weights()))
    assert diff.status is Status.SAME
    assert diff.steps == () and diff.unchanged == 2 and diff.findings == ()


def test_new_resource_is_a_create():
    diff = _diff(_snapshot(_sts()), _snapshot(_sts(), _sts("m-worker")))
    assert _ops(diff) == {f"{NS}/m-worker": Op.CREATE}


def test_gpu_change_is_an_update_with_old_and_new_values():
    diff = _diff(_snapshot(_sts(gpus=8)), _snapshot(_sts(gpus=4)))
    (step,) = diff.steps
    assert step.op is Op.UPDATE
    (change,) = step.changes
    assert change.path == "spec.template.spec.containers[0].resources.limits.nvidia.com/gpu"
    assert (change.old, change.new, change.replaces) == (8, 4, False)


def test_list_growth_is_reported_per_index():
    diff = _diff(_snapshot(_sts()), _snapshot(_sts(args=("--max-model-len", "8192", "--enforce-eager"))))
    (change,) = diff.steps[0].changes
    assert change.path == "spec.template.spec.containers[0].args[2]"
    assert change.new == "--enforce-eager"


def test_service_name_change_replaces_the_stateful_set_and_is_downtime():
    diff = _diff(_snapshot(_sts()), _snapshot(_sts(service="m-peers")))
    (step,) = diff.steps
    assert step.op is Op.REPLACE and step.replace_reasons == ("spec.serviceName",)
    (danger,) = diff.dangers
    assert danger.hazard is Hazard.DOWNTIME and "spec.serviceName" in danger.message


def test_storage_class_change_replaces_the_weights_claim_and_loses_data():
    diff = _diff(_snapshot(_weights()), _snapshot(_weights(storage_class="slow")))
    assert _ops(diff) == {f"{NS}/m-weights": Op.REPLACE}
    (danger,) = diff.dangers
    assert danger.hazard is Hazard.DATA_LOSS and not danger.blocked


def test_protected_claim_replace_is_called_blocked():
    diff = _diff(_snapshot(_weights(protect=True)), _snapshot(_weights(protect=True, storage_class="slow")))
    (danger,) = diff.dangers
    assert danger.blocked and "protect" in danger.message
    assert diff.blocked


def test_protect_alone_marks_a_claim_as_holding_weights():
    diff = _diff(_snapshot(_pvc(protect=True)), _snapshot())
    assert [d.hazard for d in diff.dangers] == [Hazard.DATA_LOSS]


def test_claim_without_weights_replaced_is_not_data_loss():
    diff = _diff(_snapshot(_pvc()), _snapshot(_pvc(storage_class="slow")))
    assert _ops(diff) == {f"{NS}/m-weights": Op.REPLACE}
    assert diff.dangers == ()


def test_size_only_claim_change_is_an_update_without_danger():
    diff = _diff(_snapshot(_weights()), _snapshot(_weights(size="40Gi")))
    (step,) = diff.steps
    assert step.op is Op.UPDATE
    assert diff.dangers == ()


def test_removed_model_deletes_and_its_weights_are_data_loss():
    diff = _diff(_snapshot(_sts(), _weights(), models={"m": _model()}), _snapshot(models={}))
    assert set(_ops(diff).values()) == {Op.DELETE}
    assert [d.hazard for d in diff.dangers] == [Hazard.DATA_LOSS]
    assert [n.hazard for n in diff.notes] == [Hazard.REMOVED]


def test_namespace_move_replaces_everything():
    moved = copy.deepcopy(_sts().manifest)
    moved["metadata"]["namespace"] = "elsewhere"
    diff = _diff(_snapshot(_sts()), _snapshot(Resource(_sts().urn, _sts().type, _sts().name, moved)))
    assert diff.steps[0].op is Op.REPLACE
    assert diff.steps[0].replace_reasons == ("metadata.namespace",)


def test_tp_change_restarts_the_group():
    diff = _diff(
        _snapshot(_sts(), models={"m": _model(tensor=8, head=8)}),
        _snapshot(_sts(gpus=4), models={"m": _model(tensor=4, head=4)}),
    )
    (danger,) = diff.dangers
    assert danger.hazard is Hazard.GROUP_RESTART and danger.subject == "model m"
    assert "TP" in danger.message
    # The group restart says it; a "one by one" note would contradict it.
    assert not [n for n in diff.notes if n.hazard is Hazard.ROLLING_RESTART]


def test_engine_arg_change_is_a_rolling_restart_note_not_a_danger():
    diff = _diff(_snapshot(_sts()), _snapshot(_sts(args=("--max-model-len", "16384"))))
    assert diff.dangers == ()
    assert [n.hazard for n in diff.notes] == [Hazard.ROLLING_RESTART]


def test_option_change_is_an_update():
    diff = _diff(_snapshot(_weights(protect=True)), _snapshot(_weights(protect=False)))
    (step,) = diff.steps
    assert step.op is Op.UPDATE
    assert {c.path for c in step.changes} == {"protect (resource option)", "retainOnDelete (resource option)"}


def test_stack_missing_at_base_is_all_creates():
    diff = _diff(None, _snapshot(_sts()))
    assert diff.status is Status.NEW and _ops(diff) == {f"{NS}/m-head": Op.CREATE}


def test_stack_removed_in_head_is_all_deletes():
    diff = _diff(_snapshot(_sts()), None)
    assert diff.status is Status.REMOVED and _ops(diff) == {f"{NS}/m-head": Op.DELETE}


# ----------------------------------------------------------------- policy


@pytest.mark.parametrize(
    ("policy", "same", "update", "danger"),
    [(FailOn.NEVER, False, False, False), (FailOn.DANGER, False, False, True), (FailOn.ANY_CHANGE, False, True, True)],
)
def test_fail_on_policies(policy, same, update, danger):
    unchanged = _diff(_snapshot(_sts()), _snapshot(_sts()))
    updated = _diff(_snapshot(_sts()), _snapshot(_sts(args=("--max-model-len", "1"))))
    dangerous = _diff(_snapshot(_sts()), _snapshot(_sts(service="x")))
    assert (should_fail([unchanged], policy), should_fail([updated], policy), should_fail([dangerous], policy)) == (
        same, update, danger
    )


# ------------------------------------------------------------------ views


def test_text_says_no_changes_plainly():
    text = render_text([_diff(_snapshot(_sts()), _snapshot(_sts()))], "main")
    assert "no changes: stack test renders identically at main and in the working tree" in text


def test_text_reads_like_pulumi_preview():
    diff = _diff(_snapshot(_sts(gpus=8), _weights()), _snapshot(_sts(gpus=4), _weights(storage_class="slow")))
    text = render_text([diff], "main")
    assert "+- replace  PersistentVolumeClaim llm-test/m-weights" in text
    assert "~  update   StatefulSet llm-test/m-head" in text
    assert "spec.template.spec.containers[0].resources.limits.nvidia.com/gpu: 8 -> 4" in text
    assert "spec.storageClassName: fast -> slow  [forces replacement]" in text
    assert "!! DANGER (data loss)" in text
    assert "Resources: 1 to update, 1 to replace; 0 unchanged" in text


def test_markdown_has_a_summary_line_per_stack_and_folded_details():
    dangerous = _diff(_snapshot(_weights()), _snapshot(_weights(storage_class="slow")))
    same = compare("prod", "main", _snapshot(_sts()), _snapshot(_sts()))
    broken = failed_render("staging", "main", "staging does not render at main:\nerror: boom")
    body = render_markdown([dangerous, same, broken], "main")
    assert "- 🔴 **test**: 1 to replace" in body
    assert "🔴 **DATA LOSS**" in body
    assert "- ✅ **prod**: no changes" in body
    assert "- ⚠️ **staging**: did not render" in body
    assert body.count("<details>") == 2  # the changed stack and the broken one; nothing to fold for prod
    assert "-     spec.storageClassName: fast  (forces replacement)" in body
    assert "+     spec.storageClassName: slow  (forces replacement)" in body
