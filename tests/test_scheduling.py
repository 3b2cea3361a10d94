"""Gang scheduling add-ons and priority tiers: each group is one gang of all its pods.

The gang sizes are read back from the rendered objects (a PodGroup's
minMember, or the LeaderWorkerSet size its controller copies into the PodGroup
it makes per group) and compared with the group's pods counted from the
rendered workload, in every shipped stack and in a test stack per scheduler
that runs both workloads.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import kubernetes_validate
import pytest

from vllm_fleet.builtin.scheduling import (
    COSCHEDULING_GROUP_LABEL,
    KUEUE_QUEUE_LABEL,
    VOLCANO_GROUP_ANNOTATION,
    VOLCANO_QUEUE_ANNOTATION,
    VolcanoGangs,
    _known_workload,
)
from vllm_fleet.cli import plan_table
from vllm_fleet.config import load_fleet
from vllm_fleet.errors import ModelPlanError
from vllm_fleet.plugins import Registry
from vllm_fleet.plugins.types import Scheduling
from vllm_fleet.priorities import priority_classes
from vllm_fleet.render import write_render

from .conftest import STACKS
from .dataplane_support import as_pod, config, issues, model, named, of_kind, one_issue, plan, pod_templates, render
from .monitoring_support import K8S_VERSION, validate_crs

LWS = {"type": "leaderworkerset"}
TIERS = {"serving": {"value": 100000}, "best-effort": {"value": 100, "preemptionPolicy": "Never"}}
SINGLE = {"parallelism": {"tensor": 2}}


def scheduler_stack(addon: Any) -> dict[str, Any]:
    """Every combination the add-on supports: multi-pod and one-pod groups on both workloads, with priorities."""
    name = addon if isinstance(addon, str) else addon["type"]
    models = [
        model(name="lws", workload=LWS, replicas=2 if name != "coscheduling" else 1, priority="serving"),
        model(name="lone", workload=LWS, replicas=3, priority="best-effort", **SINGLE),
        model(name="solo", **SINGLE, priority="best-effort"),
    ]
    if name != "kueue":
        models.append(model(name="sts", parallelism={"tensor": 8, "pipeline": 3}, priority="serving"))
    return config(*models, defaults={"addons": [addon]}, priorityTiers=TIERS)


SCHEDULER_STACKS = {
    "volcano": scheduler_stack({"type": "volcano", "queue": "llm"}),
    "coscheduling": scheduler_stack({"type": "coscheduling", "scheduleTimeoutSeconds": 600}),
    "kueue": scheduler_stack({"type": "kueue", "queue": "llm-serving"}),
}


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory, stack_renders):
    """Each scheduler's test stack rendered, plus the shipped stacks."""
    renders = {name: render(tmp_path_factory.mktemp(name), raw, stack=name) for name, raw in SCHEDULER_STACKS.items()}
    return {**renders, **stack_renders}


# ------------------------------------------------------- gangs read back


def _group_pods(obj: dict[str, Any], workloads: list[dict[str, Any]]) -> tuple[int, int]:
    """(groups, pods per group) of the model that owns `obj`, counted from its rendered workload."""
    instance = obj["metadata"]["labels"]["app.kubernetes.io/instance"]
    mine = [w for w in workloads if w["metadata"]["labels"]["app.kubernetes.io/instance"] == instance]
    if mine[0]["kind"] == "LeaderWorkerSet":
        return mine[0]["spec"]["replicas"], mine[0]["spec"]["leaderWorkerTemplate"]["size"]
    head = next(w for w in mine if w["metadata"]["labels"]["app.kubernetes.io/component"] == "head")
    groups = head["spec"]["replicas"]
    if groups == 0:  # scaled to zero (a single-pod model only): a group is one pod of each StatefulSet
        return 0, len(mine)
    return groups, sum(w["spec"]["replicas"] for w in mine) // groups


def gangs(render_) -> dict[str, tuple[int, int]]:
    """Model -> (gang size, pods per group), for every model whose groups are gangs.

    A gang is a PodGroup that pods name (Volcano's annotation, coscheduling's
    label); an LWS group whose pods Volcano schedules (the LWS controller makes
    a PodGroup of `size` for each group, with startupPolicy LeaderCreated); or
    an LWS group Kueue admits (a queue label on the LWS).
    """
    workloads = of_kind(render_, "StatefulSet") + of_kind(render_, "LeaderWorkerSet")
    groups = {g["metadata"]["name"]: g for g in of_kind(render_, "PodGroup")}
    found: dict[str, tuple[int, int]] = {}
    for workload in workloads:
        instance = workload["metadata"]["labels"]["app.kubernetes.io/instance"]
        replicas, pods = _group_pods(workload, workloads)
        for _, pod in pod_templates([workload]):
            named_group = pod["metadata"].get("annotations", {}).get(VOLCANO_GROUP_ANNOTATION) or pod["metadata"]["labels"].get(COSCHEDULING_GROUP_LABEL)
            if named_group:
                assert replicas == 1, f"{instance}: {replicas} groups share PodGroup {named_group}"
                found[instance] = (groups[named_group]["spec"]["minMember"], pods)
            elif workload["kind"] == "LeaderWorkerSet" and (pod["spec"].get("schedulerName") == "volcano" or KUEUE_QUEUE_LABEL in workload["metadata"]["labels"]):
                assert workload["spec"]["startupPolicy"] == "LeaderCreated"
                found[instance] = (workload["spec"]["leaderWorkerTemplate"]["size"], pods)
    return found


@pytest.mark.parametrize("stack", [*SCHEDULER_STACKS, *STACKS])
def test_each_gang_is_its_whole_group(scheduled, stack):
    render_ = scheduled[stack]
    found = gangs(render_)
    summaries = render_.outputs["models"]
    for name, (gang, pods) in found.items():
        assert gang == pods == summaries[name]["pods"], (stack, name, gang, pods)
    multi_pod = {name for name, row in summaries.items() if row["pods"] > 1}
    expected = multi_pod if stack != "dev" else set()
    assert expected <= found.keys(), f"{stack}: multi-pod groups without a gang: {expected - found.keys()}"


PER_GPU_REQUESTS = ("cpu", "memory")


def _group_pod_templates(workload: dict[str, Any]) -> list[tuple[dict[str, Any], int]]:
    """(pod template, how many pods of one group use it) for a StatefulSet of one group or an LWS group."""
    if workload["kind"] == "StatefulSet":
        return [(workload["spec"]["template"], workload["spec"]["replicas"])]
    template = workload["spec"]["leaderWorkerTemplate"]
    leader = template.get("leaderTemplate", template["workerTemplate"])
    return [(leader, 1), (template["workerTemplate"], template["size"] - 1)]


@pytest.mark.parametrize("stack", [*SCHEDULER_STACKS, *STACKS])
def test_a_pod_groups_devices_are_what_its_pods_request(scheduled, stack):
    """minResources holds every GPU and NIC of a group: its pods' requests added up (NICs per GPU differ by role)."""
    render_ = scheduled[stack]
    workloads = of_kind(render_, "StatefulSet") + of_kind(render_, "LeaderWorkerSet")
    checked = 0
    for pod_group in of_kind(render_, "PodGroup"):
        instance = pod_group["metadata"]["labels"]["app.kubernetes.io/instance"]
        wanted: dict[str, int] = {}
        for workload in (w for w in workloads if w["metadata"]["labels"]["app.kubernetes.io/instance"] == instance):
            for template, pods in _group_pod_templates(workload):
                for container in template["spec"]["containers"]:
                    for name, count in container["resources"]["requests"].items():
                        if name not in PER_GPU_REQUESTS:
                            wanted[name] = wanted.get(name, 0) + count * pods
        devices = {name: count for name, count in pod_group["spec"]["minResources"].items() if name not in PER_GPU_REQUESTS}
        assert devices == wanted, (stack, instance)
        checked += 1
    assert checked or stack in ("kueue", "dev"), f"{stack}: no PodGroup checked"


def test_the_gang_reader_sees_a_short_gang(scheduled):
    """The check above can fail: a PodGroup of fewer pods than its group is reported."""
    short = named(scheduled["prod"], "PodGroup", "qwen-72b-group")
    short["spec"]["minMember"] = 1
    try:
        assert gangs(scheduled["prod"])["qwen-72b"] == (1, 2)
    finally:
        short["spec"]["minMember"] = 2


def test_every_multi_pod_group_of_staging_and_prod_is_a_volcano_gang(scheduled):
    for stack in ("staging", "prod"):
        render_ = scheduled[stack]
        multi = {n for n, row in render_.outputs["models"].items() if row["pods"] > 1}
        # A PodGroup the stack makes (StatefulSets), or an LWS whose controller makes one per group for Volcano.
        volcano = {g["metadata"]["name"].removesuffix("-group") for g in of_kind(render_, "PodGroup")}
        volcano |= {
            lws["metadata"]["labels"]["app.kubernetes.io/instance"] for lws in of_kind(render_, "LeaderWorkerSet")
            if lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"].get("schedulerName") == "volcano"
        }
        assert multi and multi == volcano


# ------------------------------------------------------- objects are valid


@pytest.mark.parametrize("stack", [*SCHEDULER_STACKS, "prod"])
def test_scheduler_objects_match_their_upstream_crds(scheduled, stack, tmp_path):
    write_render(scheduled[stack], tmp_path / "out")
    result = validate_crs(tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    checked = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("OK ")}
    scheduling = {f"{o['kind']}/{o['metadata']['name']}" for o in scheduled[stack].objects() if o["kind"] in ("PodGroup", "LeaderWorkerSet")}
    assert scheduling and scheduling <= checked, result.stdout
    assert ", 0 failed," in result.stdout


@pytest.mark.parametrize("stack", [*SCHEDULER_STACKS, "prod"])
def test_priority_classes_and_pods_pass_strict_kubernetes_validation(scheduled, stack):
    classes = of_kind(scheduled[stack], "PriorityClass")
    assert classes
    for obj in classes + of_kind(scheduled[stack], "StatefulSet"):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    lws_pods = pod_templates(of_kind(scheduled[stack], "LeaderWorkerSet"))
    assert lws_pods, f"{stack} renders no LeaderWorkerSet"
    for _, pod in lws_pods:
        kubernetes_validate.validate(as_pod(pod), K8S_VERSION, strict=True)


def test_the_crd_check_rejects_a_broken_pod_group(scheduled, tmp_path):
    write_render(scheduled["coscheduling"], tmp_path / "out")
    [path] = (tmp_path / "out").rglob("podgroup-sts-group.yaml")
    path.write_text(path.read_text().replace("minMember: 3", "minMember: 0"))
    result = validate_crs(tmp_path / "out")
    assert result.returncode == 1 and "minMember" in result.stdout, result.stdout


# ------------------------------------------------------- what pods carry


def test_volcano_pods_name_the_scheduler_queue_and_group(scheduled):
    volcano = scheduled["volcano"]
    sts = named(volcano, "StatefulSet", "sts-worker")["spec"]["template"]
    assert sts["spec"]["schedulerName"] == "volcano"
    assert sts["metadata"]["annotations"][VOLCANO_GROUP_ANNOTATION] == "sts-group"
    group = named(volcano, "PodGroup", "sts-group")["spec"]
    assert (group["minMember"], group["queue"], group["priorityClassName"]) == (3, "llm", "llm-test-serving")
    assert group["minResources"] == {"cpu": "96", "memory": "768Gi", "nvidia.com/gpu": 24}
    lws = named(volcano, "LeaderWorkerSet", "lws-group")
    # The LWS controller reads the queue from the LWS and makes each group's PodGroup itself.
    assert lws["metadata"]["annotations"][VOLCANO_QUEUE_ANNOTATION] == "llm"
    assert {p["spec"]["schedulerName"] for _, p in pod_templates([lws])} == {"volcano"}
    solo = named(volcano, "StatefulSet", "solo-head")["spec"]["template"]
    assert solo["metadata"]["annotations"][VOLCANO_QUEUE_ANNOTATION] == "llm" and VOLCANO_GROUP_ANNOTATION not in solo["metadata"]["annotations"]
    assert {g["metadata"]["name"] for g in of_kind(volcano, "PodGroup")} == {"sts-group"}


def test_coscheduling_pods_carry_the_pod_group_label(scheduled):
    cosched = scheduled["coscheduling"]
    for name in ("sts-head", "sts-worker"):
        pod = named(cosched, "StatefulSet", name)["spec"]["template"]
        assert pod["spec"]["schedulerName"] == "scheduler-plugins-scheduler"
        assert pod["metadata"]["labels"][COSCHEDULING_GROUP_LABEL] == "sts-group"
    assert named(cosched, "PodGroup", "lws-group")["spec"]["scheduleTimeoutSeconds"] == 600


def test_kueue_queues_the_workload_and_leaves_the_default_scheduler(scheduled):
    kueue = scheduled["kueue"]
    for obj in of_kind(kueue, "LeaderWorkerSet") + of_kind(kueue, "StatefulSet"):
        assert obj["metadata"]["labels"][KUEUE_QUEUE_LABEL] == "llm-serving"
        assert all("schedulerName" not in pod["spec"] for _, pod in pod_templates([obj]))
    assert not of_kind(kueue, "PodGroup")


def test_without_an_addon_pods_keep_the_default_scheduler(scheduled):
    for obj in of_kind(scheduled["dev"], "StatefulSet"):
        assert "schedulerName" not in obj["spec"]["template"]["spec"]
        assert "priorityClassName" not in obj["spec"]["template"]["spec"]


# ------------------------------------------------------- priorities


def test_tiers_become_priority_classes_and_pods_name_them(scheduled):
    prod = scheduled["prod"]
    classes = {c["metadata"]["name"]: c for c in of_kind(prod, "PriorityClass")}
    assert set(classes) == {"llm-prod-serving", "llm-prod-best-effort"}
    serving, best_effort = classes["llm-prod-serving"], classes["llm-prod-best-effort"]
    assert serving["value"] > best_effort["value"] and not serving["globalDefault"]
    assert (serving["preemptionPolicy"], best_effort["preemptionPolicy"]) == ("PreemptLowerPriority", "Never")
    assert "namespace" not in serving["metadata"]
    pods = {name: template["spec"]["priorityClassName"] for name, template in pod_templates(prod)}
    assert pods["StatefulSet/qwen-7b-best-effort-head"] == "llm-prod-best-effort"
    serving = {pods["LeaderWorkerSet/llama-405b-group leader"], pods["LeaderWorkerSet/llama-405b-group worker"], pods["StatefulSet/qwen-72b-worker"]}
    assert serving == {"llm-prod-serving"}


def test_the_plan_table_shows_each_models_tier_and_scheduler(scheduled):
    table = plan_table(scheduled["prod"])
    rows = {line.split()[0]: line for line in table.splitlines()[2:] if not line.strip().startswith("note:")}
    assert " best-effort " in rows["qwen-7b-best-effort"] and " serving " in rows["llama-405b"]
    assert "volcano, gangs of 2" in rows["llama-405b"]
    assert scheduled["prod"].outputs["models"]["llama-70b"]["priority"] == "serving"
    assert " default " in plan_table(scheduled["dev"]).splitlines()[2]


def test_an_existing_priority_class_is_named_not_created():
    tiers = {"critical": {"className": "platform-critical"}}
    planned = plan(config(model(priority="critical"), priorityTiers=tiers))
    assert planned.priority_class == "platform-critical"
    fleet = load_fleet(config(model(priority="critical"), priorityTiers=tiers), Registry.discover())
    assert priority_classes(fleet.config) == ()


@pytest.mark.parametrize(
    ("tiers", "path", "words"),
    [
        ({"t": {}}, "vllm-fleet:priorityTiers.t", "set value"),
        ({"t": {"value": 1, "className": "x"}}, "vllm-fleet:priorityTiers.t", "not both"),
        ({"t": {"className": "x", "preemptionPolicy": "Never"}}, "vllm-fleet:priorityTiers.t", "no effect"),
        ({"t": {"value": 2_000_000_000}}, "vllm-fleet:priorityTiers.t.value", "1000000000"),
        ({"t": {"value": 1, "preemptionPolicy": "Sometimes"}}, "vllm-fleet:priorityTiers.t.preemptionPolicy", "Never"),
        ({"T_t": {"value": 1}}, "vllm-fleet:priorityTiers.T_t", "DNS label"),
    ],
)
def test_bad_tiers_are_config_errors_with_key_paths(tiers, path, words):
    found = issues(config(model(), priorityTiers=tiers))
    assert any(line.startswith(f"{path}: ") and words in line for line in found), found


def test_an_unknown_tier_lists_the_defined_ones():
    message = one_issue(config(model(priority="gold"), priorityTiers=TIERS), "vllm-fleet:models[0].priority")
    assert "unknown priority tier 'gold'" in message and "best-effort, serving" in message


# ------------------------------------------------------- impossible combinations


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        (config(model(replicas=2), defaults={"addons": ["volcano"]}), "vllm-fleet:models[0].workload", "workload: leaderworkerset"),
        (config(model(replicas=2), defaults={"addons": ["coscheduling"]}), "vllm-fleet:models[0].replicas", "volcano add-on with workload: leaderworkerset"),
        (config(model(replicas=2, workload=LWS), defaults={"addons": ["coscheduling"]}), "vllm-fleet:models[0].replicas", "one gang of 4 pods"),
        (config(model(workload={**LWS, "maxSurge": 1}), defaults={"addons": ["coscheduling"]}), "vllm-fleet:models[0].workload.maxSurge", "maxSurge: 0"),
        (config(model(), defaults={"addons": [{"type": "kueue", "queue": "q"}]}), "vllm-fleet:models[0].workload", "admitted apart"),
        (config(model(replicas=2, **SINGLE), defaults={"addons": [{"type": "kueue", "queue": "q"}]}), "vllm-fleet:models[0].workload", "all together"),
        (config(model(addons=["volcano", {"type": "kueue", "queue": "q"}])), "vllm-fleet:models[0].addons[1].type", "two schedulers"),
        (config(model(), model(name="b", addons=["coscheduling"]), defaults={"addons": ["volcano"]}), "vllm-fleet:models[1].addons[0].type", "pick one for the stack"),
    ],
    ids=["volcano-sts-replicas", "cosched-sts-replicas", "cosched-lws-replicas", "cosched-lws-surge", "kueue-sts-multi-pod", "kueue-sts-replicas", "two-in-one-model", "two-in-one-stack"],
)
def test_impossible_combinations_are_config_errors_at_the_key_to_change(raw, path, words):
    message = one_issue(raw, path)
    assert words in message, message


def test_the_same_models_on_leaderworkerset_are_fine():
    for addon in ("volcano", {"type": "kueue", "queue": "q"}):
        planned = plan(config(model(replicas=2, workload=LWS), defaults={"addons": [addon]}))
        assert planned.scheduling.gang_size == planned.gpus.pods == 2


class _ShortGangs(VolcanoGangs):
    """A third-party scheduler that gangs fewer pods than a group has (the minAvailable: 1 incident)."""

    name = "short"

    def scheduling(self, settings, plan_):
        return Scheduling("short-scheduler", gang_size=1)


def test_a_gang_smaller_than_its_group_is_refused():
    registry = Registry.discover()
    registry.register(_ShortGangs())
    found = issues(config(model(addons=["short"])), registry)
    assert found == [
        "vllm-fleet:models[0].addons[0].type: makes gangs of 1 pods, but a group has 2: a partial gang holds GPUs "
        "while the rest of its group waits (a gang is always the whole group)"
    ]


def test_a_third_party_workload_is_refused_by_name():
    planned = plan(config(model(), defaults={"addons": ["volcano"]}))
    assert planned.scheduler == "volcano"
    with pytest.raises(ModelPlanError) as caught:
        _known_workload(replace(planned, workload="jobset"), "volcano")
    assert caught.value.field == ("workload",) and "'jobset'" in caught.value.message


def test_pod_groups_and_priority_classes_exist_before_the_pods(scheduled):
    """A pod naming a missing PodGroup gets one Volcano makes (minMember 1); one naming a missing class is refused."""
    resources = scheduled["prod"].resources
    cluster = next(r for r in resources if r.type == "vllm-fleet:index:VllmCluster" and r.name == "qwen-72b")
    needed = {r.urn for r in resources if r.type.endswith((":PodGroup", ":PriorityClass")) and r.name in (
        "podgroup-qwen-72b-group", "priorityclass-llm-prod-serving")}
    assert len(needed) == 2 and needed <= set(cluster.depends_on)
    monitor = next(r for r in resources if r.type.endswith(":PodMonitor") and "qwen-72b" in r.name)
    assert monitor.urn not in cluster.depends_on
