"""The preview reads a LeaderWorkerSet's pods (leader and worker templates) like a StatefulSet's."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from vllm_fleet.preview import Op, Snapshot, compare
from vllm_fleet.preview.danger import Hazard
from vllm_fleet.preview.diff import Resource, load_snapshot
from vllm_fleet.render import write_render

PROD_NS = "llm-prod"
LWS_NAME = f"{PROD_NS}/llama-405b-group"
ENTRYPOINTS = f"{PROD_NS}/llama-405b-entrypoints"
STACK_URN = "urn:pulumi:test::vllm-fleet::pulumi:pulumi:Stack$"
NS = "llm-test"
LEADER = "spec.leaderWorkerTemplate.leaderTemplate"
WORKER = "spec.leaderWorkerTemplate.workerTemplate"


@pytest.fixture(scope="module")
def prod(stack_renders, tmp_path_factory) -> Snapshot:
    return load_snapshot(write_render(stack_renders["prod"], tmp_path_factory.mktemp("prod") / "prod"))


def _resource(snapshot: Snapshot, kind: str, display_name: str) -> Resource:
    (found,) = [r for r in snapshot.resources.values() if r.kind == kind and r.display_name == display_name]
    return found


def _edited(snapshot: Snapshot, resource: Resource, edit) -> Snapshot:
    """`snapshot` with one resource's manifest changed by `edit(manifest)`."""
    manifest = copy.deepcopy(resource.manifest)
    edit(manifest)
    return replace(snapshot, resources={**snapshot.resources, resource.urn: replace(resource, manifest=manifest)})


def _step(diff, display_name: str):
    (step,) = [s for s in diff.steps if s.display_name == display_name]
    return step


# ------------------------------------------------------------ pod templates


def _lws(leader: dict | None, worker: dict) -> Resource:
    template: dict[str, Any] = {"size": 2, "workerTemplate": worker}
    if leader is not None:
        template["leaderTemplate"] = leader
    manifest = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "m-group", "namespace": NS, "labels": {"app.kubernetes.io/instance": "m"}},
        "spec": {"replicas": 1, "leaderWorkerTemplate": template},
    }
    return Resource(f"{STACK_URN}kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet::m-group",
                    "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet", "m-group", manifest)


def _pod(*volumes: dict) -> dict:
    return {"spec": {"containers": [{"name": "vllm", "image": "vllm:1"}], "volumes": list(volumes)}}


def test_a_leader_worker_set_lists_its_leader_and_worker_templates_with_their_paths():
    leader, worker = _pod({"name": "a"}), _pod({"name": "b"})
    assert _lws(leader, worker).pod_templates == (
        (("spec", "leaderWorkerTemplate", "leaderTemplate"), leader),
        (("spec", "leaderWorkerTemplate", "workerTemplate"), worker),
    )
    # Without a leaderTemplate the leader runs the worker template: one template, where it is written.
    assert _lws(None, worker).pod_templates == ((("spec", "leaderWorkerTemplate", "workerTemplate"), worker),)


@pytest.mark.parametrize(
    ("kind", "spec", "path"),
    [
        ("StatefulSet", {"template": {"spec": {}}}, ("spec", "template")),
        ("Job", {"template": {"spec": {}}}, ("spec", "template")),
        ("CronJob", {"jobTemplate": {"spec": {"template": {"spec": {}}}}}, ("spec", "jobTemplate", "spec", "template")),
    ],
)
def test_other_workloads_list_their_one_template(kind, spec, path):
    resource = Resource("urn", f"kubernetes:x:{kind}", "x", {"kind": kind, "metadata": {"name": "x"}, "spec": spec})
    assert resource.pod_templates == ((path, {"spec": {}}),)


def test_objects_without_pods_list_no_template():
    config_map = {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"spec": "template"}}
    assert Resource("urn", "kubernetes:core/v1:ConfigMap", "x", config_map).pod_templates == ()


# ------------------------------------------------------------ the API key


def test_api_key_rotation_rolls_the_leader_worker_set_leaders(prod):
    base = replace(prod, secrets={"vllm-fleet:apiKey": "aaaa"})
    head = replace(prod, secrets={"vllm-fleet:apiKey": "bbbb"})
    diff = compare("prod", "main", base, head)
    step = _step(diff, LWS_NAME)
    assert step.op is Op.UPDATE
    assert [(c.path, c.new) for c in step.changes] == [
        (f"{LEADER}.metadata.annotations.vllm-fleet.io/api-key-fingerprint", "[secret, changed]"),
    ]
    rollouts = [f for f in diff.findings if f.hazard is Hazard.ROLLOUT and f.subject == "model llama-405b"]
    assert len(rollouts) == 1 and "restarts 1 of its 2 groups at a time" in rollouts[0].message
    # The StatefulSet heads still show theirs at the old path, as before.
    qwen = _step(diff, f"{PROD_NS}/qwen-72b-head")
    assert [c.path for c in qwen.changes] == ["spec.template.metadata.annotations.vllm-fleet.io/api-key-fingerprint"]


# ------------------------------------------------------------ replaced ConfigMaps


def _new_entrypoints(snapshot: Snapshot) -> Snapshot:
    config_map = _resource(snapshot, "ConfigMap", ENTRYPOINTS)
    return _edited(snapshot, config_map, lambda m: m["data"].update({"head.sh": m["data"]["head.sh"] + "\n"}))


def _replaced_note(diff) -> str:
    (note,) = [n for n in diff.notes if n.hazard is Hazard.REPLACED and n.subject == f"ConfigMap {ENTRYPOINTS}"]
    return note.message


def test_a_replaced_entrypoints_config_map_rolls_the_leader_worker_set_whose_template_changes(prod):
    lws = _resource(prod, "LeaderWorkerSet", LWS_NAME)

    def new_checksum(manifest):
        for role in ("leaderTemplate", "workerTemplate"):
            manifest["spec"]["leaderWorkerTemplate"][role]["metadata"]["annotations"]["vllm-fleet.io/entrypoint-checksum"] = "new"

    head = _edited(_new_entrypoints(prod), lws, new_checksum)
    message = _replaced_note(compare("prod", "main", prod, head))
    assert f"the pods of {LWS_NAME} roll with it (their template changes too)" in message
    assert "keep the old content" not in message


def test_a_replaced_entrypoints_config_map_leaves_unchanged_leader_worker_set_pods_on_the_old_content(prod):
    message = _replaced_note(compare("prod", "main", prod, _new_entrypoints(prod)))
    assert f"the pods of {LWS_NAME} keep the old content until they restart" in message
    assert "roll with it" not in message


def _config_map(name: str, value: str) -> Resource:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": {"k": value}}
    return Resource(f"{STACK_URN}kubernetes:core/v1:ConfigMap::configmap-{name}", "kubernetes:core/v1:ConfigMap",
                    f"configmap-{name}", manifest)


def test_workers_that_read_a_config_map_count_when_the_leader_template_is_absent():
    lws = _lws(None, _pod({"name": "x", "configMap": {"name": "worker-only"}}))
    diff = compare("test", "main", Snapshot("test", {r.urn: r for r in (_config_map("worker-only", "1"), lws)}),
                   Snapshot("test", {r.urn: r for r in (_config_map("worker-only", "2"), lws)}))
    (note,) = [n for n in diff.notes if n.hazard is Hazard.REPLACED]
    assert f"the pods of {NS}/m-group keep the old content" in note.message


# ------------------------------------------------------------ an older base's claims


def test_an_older_base_names_the_claim_an_lws_pod_mounts_as_weights():
    """No `weightsClaims` in the base's outputs and no PVC object: only the LWS pods' volume names the claim."""
    weights = {"name": "weights", "persistentVolumeClaim": {"claimName": "shared-weights"}}
    namespace = Resource(f"{STACK_URN}kubernetes:core/v1:Namespace::{NS}", "kubernetes:core/v1:Namespace", NS,
                         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    resources = (namespace, _lws(None, _pod(weights)))
    base = Snapshot("test", {r.urn: r for r in resources}, {"models": {"m": {"pods": 2}}, "namespace": NS})
    diff = compare("test", "main", base, None)
    (loss,) = [d for d in diff.dangers if d.subject == f"Namespace {NS}"]
    assert loss.hazard is Hazard.DATA_LOSS and "shared-weights" in loss.message


def test_dropping_the_leader_template_is_a_template_change_that_rolls_the_readers():
    """The leader then runs the worker template: the whole `leaderTemplate` is the changed field."""
    mount = {"name": "x", "configMap": {"name": "shared"}}
    before, after = _lws(_pod(mount), _pod(mount)), _lws(None, _pod(mount))
    diff = compare("test", "main", Snapshot("test", {r.urn: r for r in (_config_map("shared", "1"), before)}),
                   Snapshot("test", {r.urn: r for r in (_config_map("shared", "2"), after)}))
    assert [c.path for c in _step(diff, f"{NS}/m-group").changes] == [LEADER]
    (note,) = [n for n in diff.notes if n.hazard is Hazard.REPLACED]
    assert f"the pods of {NS}/m-group roll with it" in note.message
