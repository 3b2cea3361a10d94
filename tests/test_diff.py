"""The pure preview: replacement rules, steps, verdicts and views, on synthetic renders."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vllm_fleet.preview import FailOn, Op, Snapshot, Status, compare, should_fail
from vllm_fleet.preview.claims import Removal, removal
from vllm_fleet.preview.danger import Hazard
from vllm_fleet.preview.diff import Resource, format_path
from vllm_fleet.preview.report import render_markdown, render_text
from vllm_fleet.preview.rules import forces_replacement
from vllm_fleet.preview.verdict import failed_render

NS = "llm-test"
STACK_URN = "urn:pulumi:test::vllm-fleet::pulumi:pulumi:Stack$"


def _urn(kind: str, name: str) -> str:
    group = {"StatefulSet": "apps/v1", "Job": "batch/v1"}.get(kind, "core/v1")
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


# ------------------------------------------- Pulumi's protect/retain rules


def _claim(protect: bool, retain: bool, storage_class: str = "fast", size: str = "20Gi") -> Resource:
    claim = _weights(storage_class=storage_class, size=size)
    return Resource(claim.urn, claim.type, claim.name, claim.manifest, protect=protect, retain_on_delete=retain)


# (old protect, old retainOnDelete, new protect) -> the engine's decision for a replace:
# refused only when state AND program protect (step_generator: `new.Protect && old.Protect`);
# otherwise the STATE's retainOnDelete decides whether the old object is deleted (step.go, pulumi#13428).
REPLACE_TABLE = [
    (True, True, True, Removal.BLOCKED),
    (True, False, True, Removal.BLOCKED),
    (True, True, False, Removal.KEPT),
    (True, False, False, Removal.DELETED),
    (False, True, True, Removal.KEPT),
    (False, True, False, Removal.KEPT),
    (False, False, True, Removal.DELETED),
    (False, False, False, Removal.DELETED),
]


@pytest.mark.parametrize(("old_protect", "old_retain", "new_protect", "fate"), REPLACE_TABLE)
@pytest.mark.parametrize("new_retain", [True, False])
def test_replace_follows_the_engine_state_not_the_program(old_protect, old_retain, new_protect, fate, new_retain):
    old, new = _claim(old_protect, old_retain), _claim(new_protect, new_retain, storage_class="slow")
    assert removal(old, new) is fate  # the program's retainOnDelete never matters for the old object
    diff = _diff(_snapshot(old), _snapshot(new))
    (danger,) = diff.dangers
    assert danger.blocked is (fate is Removal.BLOCKED)
    expected = {Removal.BLOCKED: Hazard.DATA_LOSS, Removal.KEPT: Hazard.REJECTED, Removal.DELETED: Hazard.DATA_LOSS}
    assert danger.hazard is expected[fate]
    assert ("unprotects and replaces in one go" in danger.message) is (old_protect and not new_protect)


@pytest.mark.parametrize(
    ("old_protect", "old_retain", "fate"),
    [(True, True, Removal.BLOCKED), (True, False, Removal.BLOCKED), (False, True, Removal.KEPT), (False, False, Removal.DELETED)],
)
def test_delete_is_refused_by_the_state_and_retained_by_the_state(old_protect, old_retain, fate):
    old = _claim(old_protect, old_retain)
    assert removal(old, None) is fate
    diff = _diff(_snapshot(old), _snapshot())
    findings = {f.hazard: f for f in diff.findings}
    if fate is Removal.KEPT:
        assert diff.dangers == () and Hazard.ORPHANED in findings
    else:
        assert findings[Hazard.DATA_LOSS].is_danger and findings[Hazard.DATA_LOSS].blocked is (fate is Removal.BLOCKED)


def test_unprotect_plus_storage_class_change_is_not_called_blocked():
    """The issue's case: protect: false and a new storageClass in one change. The engine does not refuse it."""
    diff = _diff(_snapshot(_claim(True, True)), _snapshot(_claim(False, False, storage_class="slow")))
    (danger,) = diff.dangers
    assert not danger.blocked and not diff.blocked
    assert "retainOnDelete` in the state keeps the old claim" in danger.message
    assert "blocked by protect" not in render_text([diff], "main")


# ---------------------------------------------------- removing protection


@pytest.mark.parametrize(
    ("before", "after"),
    [((True, True), (False, False)), ((True, True), (True, False)), ((True, True), (False, True)), ((False, True), (False, False))],
)
def test_removing_protect_or_retain_from_weights_is_danger(before, after):
    diff = _diff(_snapshot(_claim(*before)), _snapshot(_claim(*after)))
    assert [step.op for step in diff.steps] == [Op.UPDATE]
    (danger,) = diff.dangers
    assert danger.hazard is Hazard.PROTECTION_REMOVED
    assert should_fail([diff], FailOn.DANGER)


@pytest.mark.parametrize(("before", "after"), [((False, False), (True, True)), ((True, False), (True, True))])
def test_adding_protection_is_not_danger(before, after):
    diff = _diff(_snapshot(_claim(*before)), _snapshot(_claim(*after)))
    assert diff.dangers == ()


# ------------------------------------------------------------------ shrink


@pytest.mark.parametrize(
    ("old", "new", "refused"),
    [("40Gi", "20Gi", True), ("1Ti", "1000Gi", True), ("2G", "1999M", True), ("20Gi", "40Gi", False),
     ("1000Mi", "1Gi", False), ("1G", "1000M", False)],
)
def test_shrinking_any_claim_is_refused_by_the_api_server(old, new, refused):
    for claim in (_weights, _pvc):  # any claim, weights or not
        diff = _diff(_snapshot(claim(size=old)), _snapshot(claim(size=new)))
        assert [step.op for step in diff.steps] == [Op.UPDATE]
        rejected = [d for d in diff.dangers if d.hazard is Hazard.REJECTED]
        assert bool(rejected) is refused
        if refused:
            assert "the API server refuses to shrink a claim; pulumi up will fail" in rejected[0].message


# --------------------------------------------------------------- namespace


def _namespace(name: str = NS, retain: bool = False, protect: bool = False) -> Resource:
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {}}}
    return Resource(f"{STACK_URN}kubernetes:core/v1:Namespace::{name}", "kubernetes:core/v1:Namespace", name, manifest,
                    protect=protect, retain_on_delete=retain)


def _with_ns(*resources: Resource, claims: list | None = None, namespace: str = NS, **model) -> Snapshot:
    row = {**_model(), **model}
    if claims is not None:
        row["weightsClaims"] = claims
    return Snapshot("test", {r.urn: r for r in resources}, {"models": {"m": row}, "namespace": namespace})


def _claim_mount(name: str, claim: str) -> Resource:
    sts = _sts(name)
    manifest = copy.deepcopy(sts.manifest)
    manifest["spec"]["template"]["spec"]["volumes"] = [{"name": "weights", "persistentVolumeClaim": {"claimName": claim}}]
    return Resource(sts.urn, sts.type, sts.name, manifest)


@pytest.mark.parametrize("how", ["renamed", "stack removed"])
def test_namespace_leaving_with_an_existing_claim_in_it_is_data_loss(how):
    """No PVC object: the claim is known only from the plan's fact (`weightsClaims`)."""
    base = _with_ns(_namespace(), _sts(), claims=["shared-weights"])
    head = None if how == "stack removed" else _with_ns(_namespace("llm-new"), _sts(), claims=["shared-weights"], namespace="llm-new")
    diff = _diff(base, head)
    (loss,) = [d for d in diff.dangers if d.subject == f"Namespace {NS}"]
    assert loss.hazard is Hazard.DATA_LOSS and "shared-weights" in loss.message


def test_namespace_of_an_older_base_is_read_from_the_pods_weights_volume():
    base = _with_ns(_namespace(), _claim_mount("m-head", "shared-weights"))
    diff = _diff(base, None)
    assert any(d.hazard is Hazard.DATA_LOSS and "shared-weights" in d.message for d in diff.dangers)


@pytest.mark.parametrize(
    ("retain", "protect", "hazard", "danger"),
    [(True, False, Hazard.ORPHANED, False), (False, True, Hazard.DATA_LOSS, True), (False, False, Hazard.DATA_LOSS, True)],
)
def test_namespace_state_decides_its_fate(retain, protect, hazard, danger):
    base = _with_ns(_namespace(retain=retain, protect=protect), _weights(), claims=["m-weights"])
    diff = _diff(base, _with_ns(_weights(), claims=["m-weights"]))
    (finding,) = [f for f in diff.findings if f.subject == f"Namespace {NS}"]
    assert (finding.hazard, finding.is_danger, finding.blocked) == (hazard, danger, protect)


def test_namespace_without_weights_goes_quietly():
    diff = _diff(_with_ns(_namespace(), _sts(), claims=[]), None)
    assert not [f for f in diff.findings if f.subject.startswith("Namespace")]


# --------------------------------------------------------- pod templates


def _image(name: str, image: str) -> Resource:
    sts = _sts(name)
    manifest = copy.deepcopy(sts.manifest)
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return Resource(sts.urn, sts.type, sts.name, manifest)


def test_image_change_on_a_multi_node_group_is_downtime_once_per_model():
    group = _model(tensor=16, head=8, worker=8, pods=2)
    base = _snapshot(_image("m-head", "vllm:1"), _image("m-worker", "vllm:1"), models={"m": group})
    head = _snapshot(_image("m-head", "vllm:2"), _image("m-worker", "vllm:2"), models={"m": group})
    diff = _diff(base, head)
    (danger,) = diff.dangers
    assert danger.hazard is Hazard.DOWNTIME and danger.subject == "model m"
    assert "vllm:1 → vllm:2" in danger.message and "2 pods" in danger.message
    assert not [n for n in diff.notes if n.hazard is Hazard.ROLLING_RESTART]


def test_any_template_change_on_a_group_restarts_it():
    group = _model(tensor=16, head=8, worker=8, pods=2)
    diff = _diff(_snapshot(_sts(), models={"m": group}), _snapshot(_sts(args=("--max-model-len", "1")), models={"m": group}))
    assert [d.hazard for d in diff.dangers] == [Hazard.DOWNTIME]


def test_image_change_on_a_single_pod_is_a_note_that_says_the_model_is_unavailable():
    diff = _diff(_snapshot(_image("m-head", "vllm:1")), _snapshot(_image("m-head", "vllm:2")))
    assert diff.dangers == ()
    (note,) = diff.notes
    assert note.hazard is Hazard.ROLLING_RESTART and "unavailable while the new pod loads" in note.message


# ----------------------------------------------------------------- fetch


def _fetch(kind: str, body: dict, annotations: dict | None = None) -> Resource:
    labels = {"app.kubernetes.io/instance": "m", "app.kubernetes.io/component": "fetch"}
    manifest = {"apiVersion": "batch/v1" if kind == "Job" else "v1", "kind": kind,
                "metadata": {"name": "m-fetch", "namespace": NS, "labels": labels, "annotations": annotations or {}}, **body}
    name = f"{kind.lower()}-m-fetch"
    return Resource(_urn(kind, name), f"kubernetes:{'batch/v1' if kind == 'Job' else 'core/v1'}:{kind}", name, manifest)


def _job(revision: str) -> Resource:
    return _fetch("Job", {"spec": {"template": {"spec": {"containers": [{"name": "fetch", "env": [{"name": "REVISION", "value": revision}]}]}}}})


def test_replaced_fetch_job_reports_the_weights_change():
    base = _snapshot(_job("main"), models={"m": {**_model(), "weights": "hf://org/m@main -> new claim m-weights (20Gi)"}})
    head = _snapshot(_job("v2"), models={"m": {**_model(), "weights": "hf://org/m@v2 -> new claim m-weights (20Gi)"}})
    diff = _diff(base, head)
    (danger,) = diff.dangers
    assert danger.hazard is Hazard.WEIGHTS_CHANGE
    assert "the weights change: refetch of hf://org/m@main -> hf://org/m@v2" in danger.message


def test_changed_source_annotation_reports_the_weights_change():
    old = _fetch("ConfigMap", {"data": {"fetch.sh": "x"}}, {"vllm-fleet.io/source": "hf://a@1"})
    new = _fetch("ConfigMap", {"data": {"fetch.sh": "x"}}, {"vllm-fleet.io/source": "hf://a@2"})
    (danger,) = _diff(_snapshot(old), _snapshot(new)).dangers
    assert "refetch of hf://a@1 -> hf://a@2" in danger.message


def test_fetch_script_replaced_alone_does_not_refetch():
    diff = _diff(_snapshot(_fetch("ConfigMap", {"data": {"fetch.sh": "a"}})), _snapshot(_fetch("ConfigMap", {"data": {"fetch.sh": "b"}})))
    assert diff.dangers == () and [n.hazard for n in diff.notes] == [Hazard.REPLACED]
    assert "does not run again" in diff.notes[0].message


# ------------------------------------------------ ConfigMaps and Secrets


def _config_map(name: str, data: dict, kind: str = "ConfigMap") -> Resource:
    manifest = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": NS, "labels": {}},
                ("stringData" if kind == "Secret" else "data"): data}
    return Resource(_urn(kind, f"{kind.lower()}-{name}"), f"kubernetes:core/v1:{kind}", f"{kind.lower()}-{name}", manifest)


def _reader(name: str, volume: dict, checksum: str = "a") -> Resource:
    sts = _sts(name)
    manifest = copy.deepcopy(sts.manifest)
    manifest["spec"]["template"]["metadata"] = {"annotations": {"checksum": checksum}}
    manifest["spec"]["template"]["spec"]["volumes"] = [volume]
    return Resource(sts.urn, sts.type, sts.name, manifest)


def test_entrypoint_config_map_is_replaced_and_its_readers_roll():
    mount = {"name": "entrypoints", "configMap": {"name": "m-entrypoints"}}
    base = _snapshot(_config_map("m-entrypoints", {"head.sh": "a"}), _reader("m-head", mount, "a"))
    head = _snapshot(_config_map("m-entrypoints", {"head.sh": "b"}), _reader("m-head", mount, "b"))
    diff = _diff(base, head)
    assert _ops(diff)[f"{NS}/m-entrypoints"] is Op.REPLACE
    (replaced,) = [n for n in diff.notes if n.hazard is Hazard.REPLACED]
    assert "deleted and created again under the same name" in replaced.message
    assert f"the pods of {NS}/m-head roll" in replaced.message


def test_secret_replaced_under_pods_that_do_not_roll_says_they_keep_the_old_value():
    env = {"name": "x", "secret": {"secretName": "creds"}}
    diff = _diff(_snapshot(_config_map("creds", {"k": "1"}, "Secret"), _reader("m-head", env)),
                 _snapshot(_config_map("creds", {"k": "2"}, "Secret"), _reader("m-head", env)))
    (replaced,) = [n for n in diff.notes if n.hazard is Hazard.REPLACED]
    assert "enableSecretMutable" in replaced.message and "keep the old content until they restart" in replaced.message


# ---------------------------------------------------------- secret config


def _api_key_objects() -> tuple[Resource, Resource]:
    secret = _config_map("vllm-api-key", {"api-key": "[secret]"}, "Secret")
    sts = _sts("m-head")
    manifest = copy.deepcopy(sts.manifest)
    manifest["spec"]["template"]["metadata"] = {"annotations": {"vllm-fleet.io/api-key-fingerprint": "[secret]"}}
    return secret, Resource(sts.urn, sts.type, sts.name, manifest)


def _keyed(fingerprint: str) -> Snapshot:
    snapshot = _snapshot(*_api_key_objects())
    return Snapshot(snapshot.stack, snapshot.resources, snapshot.outputs, {"vllm-fleet:apiKey": fingerprint})


def test_api_key_rotation_shows_the_secret_changed_and_rolls_the_head_without_the_value():
    diff = _diff(_keyed("aaaa"), _keyed("bbbb"))
    ops = _ops(diff)
    assert ops[f"{NS}/vllm-api-key"] is Op.REPLACE and ops[f"{NS}/m-head"] is Op.UPDATE
    head = next(s for s in diff.steps if s.kind == "StatefulSet")
    (change,) = head.changes
    assert change.path == "spec.template.metadata.annotations.vllm-fleet.io/api-key-fingerprint"
    assert [f.subject for f in diff.findings if f.hazard is Hazard.SECRET_CHANGED] == ["vllm-fleet:apiKey"]
    text = render_text([diff], "main") + render_markdown([diff], "main")
    assert "[secret, changed]" in text and "aaaa" not in text and "bbbb" not in text


def test_same_ciphertext_is_no_change():
    diff = _diff(_keyed("aaaa"), _keyed("aaaa"))
    assert diff.steps == () and diff.findings == ()


def test_fetch_job_replaced_for_a_label_refetches_the_same_source_as_a_note():
    same = {"m": {**_model(), "weights": "hf://org/m@main -> new claim m-weights (20Gi)"}}
    diff = _diff(_snapshot(_job("a"), models=same), _snapshot(_job("b"), models=same))
    assert diff.dangers == ()
    (note,) = [n for n in diff.notes if n.hazard is Hazard.WEIGHTS_CHANGE]
    assert "fetches hf://org/m@main into the claim once more" in note.message


# ------------------------------------------------------------------ LeaderWorkerSet rollouts


def _lws(replicas: int = 2, image: str = "vllm:1", unavailable: Any = 1, surge: Any = 0) -> Resource:
    manifest = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "m-group", "namespace": NS, "labels": {"app.kubernetes.io/instance": "m"}},
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {"size": 2, "workerTemplate": {"spec": {"containers": [{"name": "vllm", "image": image}]}}},
            "rolloutStrategy": {"type": "RollingUpdate", "rollingUpdateConfiguration": {"maxUnavailable": unavailable, "maxSurge": surge}},
        },
    }
    urn = f"{STACK_URN}kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet::m-group"
    return Resource(urn, "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet", "m-group", manifest)


def _lws_model(replicas: int, tensor: int = 16) -> dict[str, Any]:
    return {**_model(tensor=tensor, head=8, worker=8, pods=2), "groupGpus": tensor, "replicas": replicas, "workload": "leaderworkerset"}


def _rollout(old: Resource, new: Resource, replicas: int, old_tensor: int = 16, new_tensor: int = 16):
    return _diff(_snapshot(old, models={"m": _lws_model(replicas, old_tensor)}),
                 _snapshot(new, models={"m": _lws_model(replicas, new_tensor)}))


def test_an_image_change_on_two_groups_rolls_one_group_at_a_time_without_downtime():
    diff = _rollout(_lws(), _lws(image="vllm:2"), replicas=2)
    assert diff.dangers == ()
    (note,) = [n for n in diff.notes if n.hazard is Hazard.ROLLOUT]
    assert "restarts 1 of its 2 groups at a time" in note.message and "no downtime" in note.message
    assert "no extra GPUs" in note.message


@pytest.mark.parametrize(("replicas", "surge", "extra"), [(2, 1, 16), (4, "25%", 16), (4, "50%", 32), (3, "34%", 32)])
def test_a_surge_says_how_many_extra_gpus_the_peak_needs(replicas, surge, extra):
    diff = _rollout(_lws(replicas, surge=surge), _lws(replicas, image="vllm:2", surge=surge), replicas=replicas)
    (note,) = [n for n in diff.notes if n.hazard is Hazard.ROLLOUT]
    assert f"needs {extra} more GPUs free" in note.message


def test_one_group_without_surge_is_downtime():
    diff = _rollout(_lws(1), _lws(1, image="vllm:2"), replicas=1)
    (danger,) = diff.dangers
    assert danger.hazard is Hazard.DOWNTIME and "may restart all 1 group(s) at once" in danger.message


def test_one_group_with_surge_and_nothing_unavailable_keeps_serving():
    diff = _rollout(_lws(1, unavailable=0, surge=1), _lws(1, image="vllm:2", unavailable=0, surge=1), replicas=1)
    assert diff.dangers == ()
    (note,) = [n for n in diff.notes if n.hazard is Hazard.ROLLOUT]
    assert "at least 1 keep serving" in note.message and "needs 16 more GPUs" in note.message


def test_all_groups_unavailable_at_once_is_downtime_even_with_replicas():
    diff = _rollout(_lws(2, unavailable="100%"), _lws(2, image="vllm:2", unavailable="100%"), replicas=2)
    assert [d.hazard for d in diff.dangers] == [Hazard.DOWNTIME]


def test_a_tp_change_on_leaderworkerset_is_a_rollout_not_a_whole_model_outage():
    diff = _rollout(_lws(), _lws(image="vllm:2"), replicas=2, old_tensor=16, new_tensor=8)
    assert diff.dangers == ()
    assert {n.hazard for n in diff.notes} >= {Hazard.GROUP_RESTART, Hazard.ROLLOUT}


def test_ignored_fields_are_no_step_but_the_rest_of_the_object_still_is():
    """An autoscaled workload's `spec.replicas` is KEDA's: Pulumi never updates it (ignoreChanges)."""
    base = _sts()
    scaled = copy.deepcopy(base.manifest)
    scaled["spec"]["replicas"] = 3
    ignored = Resource(base.urn, base.type, base.name, scaled, ignore_changes=("spec.replicas",))
    assert _diff(_snapshot(base), _snapshot(ignored)).steps == ()
    watched = Resource(base.urn, base.type, base.name, scaled)
    assert [c.path for c in _diff(_snapshot(base), _snapshot(watched)).steps[0].changes] == ["spec.replicas"]
    scaled["spec"]["template"]["spec"]["containers"][0]["args"] = ["--max-model-len", "16384"]
    [step] = _diff(_snapshot(base), _snapshot(ignored)).steps
    assert [c.path for c in step.changes] == ["spec.template.spec.containers[0].args[1]"]


def test_a_render_records_ignore_changes_for_the_diff(stack_renders, tmp_path):
    from vllm_fleet.preview.diff import load_snapshot
    from vllm_fleet.render import write_render

    snapshot = load_snapshot(write_render(stack_renders["prod"], tmp_path / "prod"))
    lws = next(r for r in snapshot.resources.values() if r.kind == "LeaderWorkerSet" and r.name == "llama-405b-group")
    assert lws.ignore_changes == ("spec.replicas",)
