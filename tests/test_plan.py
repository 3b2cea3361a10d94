"""The GPU plan: requested GPUs equal TP×PP, no pod exceeds a node, fewest pods."""

from __future__ import annotations

import pytest

from vllm_fleet.errors import PlanError
from vllm_fleet.gpu_plan import GpuPlan, plan_gpus

# (tensor, pipeline, gpus_per_node, gpus_per_pod, uniform) -> (head, worker, workers)
CASES = {
    "seed: TP=16 on 2x8-GPU nodes": ((16, 1, 8, None, False), (8, 8, 1)),
    "seed with explicit gpusPerPod": ((16, 1, 8, 8, False), (8, 8, 1)),
    "TP=8 x PP=2 on 8-GPU nodes": ((8, 2, 8, None, False), (8, 8, 1)),
    "TP=2 on one node": ((2, 1, 8, None, False), (2, 0, 0)),
    "PP=2 on 1-GPU nodes": ((1, 2, 1, None, False), (1, 1, 1)),
    "TP=2 x PP=2 on 4-GPU nodes": ((2, 2, 4, None, False), (4, 0, 0)),
    "TP=2 x PP=2 on 2-GPU nodes": ((2, 2, 2, None, False), (2, 2, 1)),
    "asymmetric TP=4 x PP=3 on 8-GPU nodes": ((4, 3, 8, None, False), (4, 8, 1)),
    "asymmetric with gpusPerPod=4": ((4, 3, 8, 4, False), (4, 4, 2)),
    "PP=1 across 4 nodes": ((32, 1, 8, None, False), (8, 8, 3)),
    "native: TP=4 x PP=3 splits evenly": ((4, 3, 8, None, True), (6, 6, 1)),
    "native: TP=8 x PP=2 on 8-GPU nodes": ((8, 2, 8, None, True), (8, 8, 1)),
    "native: gpusPerPod=4 of 12": ((4, 3, 8, 4, True), (4, 4, 2)),
    "native: single pod": ((4, 1, 8, None, True), (4, 0, 0)),
    "single GPU": ((1, 1, 1, None, False), (1, 0, 0)),
    "remainder head: 20 GPUs on 8-GPU nodes": ((20, 1, 8, None, False), (4, 8, 2)),
}


@pytest.mark.parametrize("args,expected", CASES.values(), ids=CASES.keys())
def test_plan_table(args, expected):
    tensor, pipeline, gpus_per_node, gpus_per_pod, uniform = args
    plan = plan_gpus(tensor, pipeline, gpus_per_node, gpus_per_pod, uniform_pods=uniform)
    assert (plan.head_gpus, plan.worker_gpus, plan.workers) == expected


@pytest.mark.parametrize("args", [case[0] for case in CASES.values()], ids=CASES.keys())
def test_invariants(args):
    tensor, pipeline, gpus_per_node, gpus_per_pod, uniform = args
    plan = plan_gpus(tensor, pipeline, gpus_per_node, gpus_per_pod, uniform_pods=uniform)
    pods = plan.pod_gpus()
    assert sum(pods) == tensor * pipeline, "requested GPUs must equal TP×PP exactly"
    assert max(pods) <= gpus_per_node
    assert min(pods) >= 1
    assert len(pods) == plan.pods
    if uniform:
        assert len(set(pods)) == 1
    if gpus_per_pod is None:
        # Fewest pods: one fewer could not hold the GPUs.
        assert (plan.pods - 1) * gpus_per_node < tensor * pipeline


def test_no_workers_when_it_fits_one_pod():
    plan = plan_gpus(4, 2, 8)
    assert not plan.multi_node and plan.pods == 1 and plan.worker_gpus == 0


def test_pod_gpus_puts_head_first():
    assert GpuPlan(4, 3, head_gpus=4, worker_gpus=8, workers=1).pod_gpus() == [4, 8]


def test_notes_when_tp_group_straddles_pods():
    assert plan_gpus(4, 3, 8, uniform_pods=True).notes  # 6 + 6: the second TP group is split
    assert not plan_gpus(4, 3, 8).notes  # 4 + 8 keeps each TP group of 4 in one pod
    assert "crosses the network" in plan_gpus(16, 1, 8).notes[0]


REJECTIONS = {
    "gpusPerPod above gpusPerNode": ((16, 1, 8, 16, False), "exceeds nodePool.gpusPerNode (8)"),
    "gpusPerPod above TP×PP": ((2, 1, 8, 4, False), "exceeds TP×PP = 2"),
    "native with uneven split": ((4, 3, 8, 8, True), "native' needs the same GPU count on every pod"),
}


@pytest.mark.parametrize("args,message", REJECTIONS.values(), ids=REJECTIONS.keys())
def test_rejections(args, message):
    tensor, pipeline, gpus_per_node, gpus_per_pod, uniform = args
    with pytest.raises(PlanError) as raised:
        plan_gpus(tensor, pipeline, gpus_per_node, gpus_per_pod, uniform_pods=uniform)
    assert message in raised.value.message
    assert raised.value.field == ("gpusPerPod",)


def test_native_rejection_lists_valid_choices():
    with pytest.raises(PlanError) as raised:
        plan_gpus(4, 3, 8, 8, uniform_pods=True)
    assert raised.value.message.endswith("use one of: 1, 2, 3, 4, 6")


# ------------------------------------------------- names, collisions, no-ops

from vllm_fleet.config import load_fleet  # noqa: E402
from vllm_fleet.errors import ConfigError  # noqa: E402
from vllm_fleet.plan import NAME_LIMITS, plan_fleet, planned_names, stack_addon_objects, stack_names  # noqa: E402

from .conftest import base_config, with_model  # noqa: E402

MEM_CACHE = {"tiers": [{"medium": "MEM", "quota": "1Gi"}]}


def plan_problems(config, registry) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        plan_fleet(load_fleet(config, registry))
    return [str(issue) for issue in raised.value.issues]


def test_planned_names_are_exactly_the_rendered_objects(stack_renders, registry, project):
    """The collision check sees what the program makes: the same (kind, name) set, for every shipped stack."""
    from vllm_fleet.render import stack_config  # the raw config as the program reads it
    from vllm_fleet.stack_config import SecretValue

    for stack, render in stack_renders.items():
        config, _ = stack_config(project, stack)
        raw = {key.split(":", 1)[1]: _json_or_text(value) for key, value in config.items() if key.startswith("vllm-fleet:")}
        raw = {key: SecretValue(value) if value == "[secret]" else value for key, value in raw.items()}
        fleet = load_fleet(raw, registry)
        plans = plan_fleet(fleet)
        declared = {(n.kind, n.name) for spec, plan in zip(fleet.models, plans) for n in planned_names(spec, plan)
                    if not n.made_by}
        # The stack's own: namespace, API-key Secret, PriorityClasses, what add-ons make once per stack.
        declared |= {(n.kind, n.name) for n in stack_names(fleet, stack_addon_objects(fleet, plans))}
        rendered = {(o["kind"], o["metadata"]["name"]) for o in render.objects()}
        assert declared == rendered, stack


def _json_or_text(text):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


@pytest.mark.parametrize(
    "cache,workloads",
    [
        ("alluxio", {("StatefulSet", "m-cache-master"), ("StatefulSet", "m-cache-worker"), ("DaemonSet", "m-cache-fuse")}),
        ("jindo", {("StatefulSet", "m-cache-jindofs-master"), ("StatefulSet", "m-cache-jindofs-worker"),
                   ("DaemonSet", "m-cache-jindofs-fuse")}),
        ("juicefs", {("StatefulSet", "m-cache-worker"), ("DaemonSet", "m-cache-fuse")}),
    ],
)
def test_caches_declare_what_fluid_makes(registry, cache, workloads):
    settings = {"type": cache, **MEM_CACHE}
    if cache == "juicefs":
        settings["mount"] = {"uri": "juicefs:///models"}
    fleet = load_fleet(with_model(cache=settings), registry)
    [plan] = plan_fleet(fleet)
    derived = {(d.kind, d.name) for d in plan.cache.derived_names}
    assert workloads <= derived
    assert {("PersistentVolumeClaim", "m-cache"), ("Job", "m-cache-warmup-loader-job")} <= derived


@pytest.mark.parametrize("cache,longest", [("alluxio", "-cache-master"), ("jindo", "-cache-jindofs-master")])
def test_a_fluid_statefulset_over_52_is_refused(registry, cache, longest):
    limit = NAME_LIMITS["StatefulSet"][0]
    fits = "m" * (limit - len(longest))
    assert plan_fleet(load_fleet(with_model(name=fits, cache={"type": cache, **MEM_CACHE}), registry))
    found = plan_problems(with_model(name=fits + "x", cache={"type": cache, **MEM_CACHE}), registry)
    assert any(f"StatefulSet '{fits}x{longest}' would be {limit + 1} characters, over {limit}" in p for p in found)
    assert all(p.startswith("vllm-fleet:models[0].cache: Fluid's") for p in found)


@pytest.mark.parametrize(
    "second,kind_name",
    [
        ({"name": "m-group", "model": "o/x", "storage": {"type": "new-pvc", "size": "1Gi"}}, "Service llm-test/m-group"),
        ({"name": "n", "model": "o/x", "storage": {"type": "new-pvc", "size": "1Gi", "claimName": "m-weights"}},
         "PersistentVolumeClaim llm-test/m-weights"),
        ({"name": "n", "model": "o/x", "storage": {"type": "new-pvc", "size": "1Gi", "claimName": "m-cache"}},
         "PersistentVolumeClaim llm-test/m-cache"),
        ({"name": "m-cache", "model": "o/x", "parallelism": {"tensor": 16}, "storage": {"type": "new-pvc", "size": "1Gi"}},
         "StatefulSet llm-test/m-cache-worker"),
    ],
)
def test_collisions_across_models_name_both_keys(registry, second, kind_name):
    config = with_model(cache={"type": "alluxio", **MEM_CACHE})
    config["models"].append(second)
    found = plan_problems(config, registry)
    assert any(kind_name in p and "is also made by vllm-fleet:models[0]" in p and p.startswith("vllm-fleet:models[1]")
               for p in found), found


def test_network_resource_must_not_be_the_gpu(registry):
    found = plan_problems(with_model(network={"type": "rdma-shared", "resourceName": "nvidia.com/gpu"}), registry)
    assert found == [
        "vllm-fleet:models[0].network.resourceName: 'nvidia.com/gpu' is the GPU resource (nodePool.gpuResource); "
        "requesting it for the network would replace the pod's GPU request. Name the NIC pool's device-plugin resource"
    ]


def test_claim_keys_of_a_cached_bucket_have_no_effect(registry):
    storage = {"type": "s3", "url": "s3://bucket-a/m/", "size": "1Gi", "storageClass": "fast", "protect": False}
    found = plan_problems(with_model(storage=storage, cache={"type": "alluxio", **MEM_CACHE}), registry)
    assert [p.split(": ")[0] for p in found] == [
        "vllm-fleet:models[0].storage.protect", "vllm-fleet:models[0].storage.size", "vllm-fleet:models[0].storage.storageClass"
    ]
    assert all("has no effect: the cache (AlluxioRuntime) reads the bucket itself" in p for p in found)
    # Without the no-op keys the same stack plans, and makes no claim.
    [plan] = plan_fleet(load_fleet(with_model(storage={"type": "s3", "url": "s3://bucket-a/m/"},
                                              cache={"type": "alluxio", **MEM_CACHE}), registry))
    assert plan.weights.objects == ()


def test_an_uncached_bucket_needs_a_size(registry):
    [problem] = plan_problems(with_model(storage={"type": "s3", "url": "s3://bucket-a/m/"}), registry)
    assert problem.startswith("vllm-fleet:models[0].storage.size: required key is missing")


def test_launcher_settings_on_one_pod_have_no_effect(registry):
    config = with_model(parallelism={"tensor": 2}, launcher={"type": "ray", "waitTimeoutSeconds": 60, "pollIntervalSeconds": 2})
    found = plan_problems(config, registry)
    assert [p.split(": ")[0] for p in found] == ["vllm-fleet:models[0].launcher.pollIntervalSeconds",
                                                 "vllm-fleet:models[0].launcher.waitTimeoutSeconds"]
    assert all("has no effect: TP×PP = 2 fits one pod, so no launcher runs" in p for p in found)
    # The same settings on a group are used.
    assert plan_fleet(load_fleet(with_model(launcher={"type": "ray", "waitTimeoutSeconds": 60}), registry))


def test_configmap_over_one_mebibyte_is_refused(registry):
    [problem] = plan_problems(with_model(engineArgs={"chat-template": "x" * 1_100_000}), registry)
    assert problem.startswith("vllm-fleet:models[0].engineArgs: ConfigMap 'm-entrypoints' would hold")
    assert "at most 1048576 (1 MiB)" in problem
