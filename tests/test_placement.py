"""Placement (pack / strict-pack / spread), MIG slices and RDMA devices per pod: the plan's rules and what they render.

Rendered pods are checked with kubernetes-validate (strict, 1.33) and the
LeaderWorkerSet with the upstream CRD (../shared/tools/validate_crs.py), so a
field the API server would drop fails here.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
import yaml

from vllm_fleet.cli import plan_table
from vllm_fleet.plan import summarize
from .dataplane_support import SRIOV, as_pod, config, env_of, issues, model, named, of_kind, one_issue, plan, pod_templates, render
from .monitoring_support import K8S_VERSION, validate_crs

RACK = "topology.acme.com/rack"
LWS = {"type": "leaderworkerset"}
PACK_AND_SPREAD = {"group": "pack", "topologyKey": RACK, "replicas": "spread"}
MIG_POOL = {"gpusPerNode": 7, "gpuResource": "nvidia.com/mig-1g.10gb", "nodeSelector": {"nvidia.com/mig.config": "all-1g.10gb"}}
GROUP_KEY = "leaderworkerset.sigs.k8s.io/group-key"
EXCLUSIVE = "leaderworkerset.sigs.k8s.io/exclusive-topology"


def placement_stack() -> dict[str, Any]:
    """Every placement on both workloads, a MIG model and a rail-optimised fabric."""
    return config(
        model(name="sts-pack", placement=PACK_AND_SPREAD, network={**SRIOV, "railOptimized": True}, parallelism={"tensor": 4, "pipeline": 3}),
        model(name="sts-strict", placement={"group": "strict-pack", "topologyKey": RACK}),
        model(name="lws-pack", workload=LWS, replicas=3, placement=PACK_AND_SPREAD),
        model(name="lws-strict", workload=LWS, replicas=2, placement={"group": "strict-pack", "topologyKey": RACK, "replicas": "spread"}),
        model(name="small", parallelism={"tensor": 1}, nodePool=MIG_POOL, network="none"),
        nodePool={"gpusPerNode": 8, "rdmaDevicesPerNode": 8},
    )


@pytest.fixture(scope="module")
def placed(tmp_path_factory):
    return render(tmp_path_factory.mktemp("placement"), placement_stack(), stack="placement")


def _templates(render_, name: str) -> dict[str, dict[str, Any]]:
    """The pod templates of a model by role (head, worker): the StatefulSets' or the LeaderWorkerSet's."""
    templates = {
        template["metadata"]["labels"]["app.kubernetes.io/component"]: template
        for _, template in pod_templates(render_)
        if template["metadata"]["labels"]["app.kubernetes.io/instance"] == name
    }
    assert templates, f"no pod template of {name}"
    return templates


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector, evaluated as the API server does (matchLabels and In/NotIn/Exists expressions)."""
    tests = {
        "In": lambda e: labels.get(e["key"]) in e["values"],
        "NotIn": lambda e: labels.get(e["key"]) not in e["values"],
        "Exists": lambda e: e["key"] in labels,
    }
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items()) and all(
        tests[e["operator"]](e) for e in selector.get("matchExpressions", [])
    )


# ---------------------------------------------------------------- placement


def test_pack_on_one_group_of_statefulsets_keeps_head_and_workers_in_one_rack(placed):
    templates = _templates(placed, "sts-pack")
    assert set(templates) == {"head", "worker"}
    for template in templates.values():
        (term,) = template["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == RACK and "matchLabelKeys" not in term
        # The one term selects every pod of the group, head and worker alike (and so the pod itself).
        assert all(_selects(term["labelSelector"], t["metadata"]["labels"]) for t in templates.values())
        # Not the model's other pods (a fetch Job, an add-on's): only members of the group.
        assert not _selects(term["labelSelector"], {**templates["head"]["metadata"]["labels"], "app.kubernetes.io/component": "fetch"})
        assert "podAntiAffinity" not in template["spec"]["affinity"]


def test_pack_on_a_leaderworkerset_narrows_to_the_pods_own_group(placed):
    for template in _templates(placed, "lws-pack").values():
        (term,) = template["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["matchLabelKeys"] == [GROUP_KEY] and term["topologyKey"] == RACK
        assert _selects(term["labelSelector"], template["metadata"]["labels"])
    assert EXCLUSIVE not in named(placed, "LeaderWorkerSet", "lws-pack-group")["metadata"].get("annotations", {})


def test_strict_pack_on_a_leaderworkerset_is_its_exclusive_topology(placed):
    lws = named(placed, "LeaderWorkerSet", "lws-strict-group")
    assert lws["metadata"]["annotations"][EXCLUSIVE] == RACK
    # LWS's webhook adds the affinity and anti-affinity per group; ours would only duplicate it.
    for template in _templates(placed, "lws-strict").values():
        assert "affinity" not in template["spec"]


def test_strict_pack_on_statefulsets_keeps_other_models_out_of_the_rack(placed):
    for template in _templates(placed, "sts-strict").values():
        affinity = template["spec"]["affinity"]
        assert affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == RACK
        (anti,) = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        other_head = {**template["metadata"]["labels"], "app.kubernetes.io/instance": "sts-pack"}
        assert _selects(anti["labelSelector"], other_head)
        assert not _selects(anti["labelSelector"], template["metadata"]["labels"])
        assert not _selects(anti["labelSelector"], {**other_head, "app.kubernetes.io/component": "fetch"})
        assert anti["topologyKey"] == RACK


def test_spread_constrains_one_pod_per_group_the_heads(placed):
    for name in ("sts-pack", "lws-pack", "lws-strict"):
        templates = _templates(placed, name)
        (spread,) = templates["head"]["spec"]["topologySpreadConstraints"]
        assert (spread["topologyKey"], spread["maxSkew"], spread["whenUnsatisfiable"]) == ("topology.kubernetes.io/zone", 1, "ScheduleAnyway")
        assert _selects(spread["labelSelector"], templates["head"]["metadata"]["labels"])
        assert not _selects(spread["labelSelector"], templates["worker"]["metadata"]["labels"])
        assert "topologySpreadConstraints" not in templates["worker"]["spec"]


def test_a_model_without_placement_gets_no_scheduling_terms(placed):
    template = _templates(placed, "small")["head"]
    assert "affinity" not in template["spec"] and "topologySpreadConstraints" not in template["spec"]


def test_placed_pods_pass_strict_kubernetes_validation(placed):
    checked = 0
    for obj in placed.objects():
        if obj["apiVersion"] in ("v1", "apps/v1"):
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            checked += obj["kind"] == "StatefulSet"
    for _, template in pod_templates(of_kind(placed, "LeaderWorkerSet")):
        kubernetes_validate.validate(as_pod(template), K8S_VERSION, strict=True)
        checked += 1
    assert checked >= 8


def test_placed_leaderworkersets_match_the_upstream_crd(placed, tmp_path):
    documents = of_kind(placed, "LeaderWorkerSet")
    assert len(documents) == 2
    (tmp_path / "lws.yaml").write_text(yaml.safe_dump_all(documents))
    result = validate_crs(tmp_path)
    assert result.returncode == 0 and "FAIL" not in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("placement, extra, path, words", [
    ({"group": "pack"}, {}, "placement.topologyKey", "required key is missing"),
    ({"group": "strict-pack"}, {"workload": LWS}, "placement.topologyKey", "required key is missing"),
    ({"topologyKey": RACK}, {}, "placement.topologyKey", "has no effect"),
    ({"whenUnsatisfiable": "DoNotSchedule"}, {}, "placement.whenUnsatisfiable", "replicas: spread"),
    ({"group": "pack", "topologyKey": RACK}, {"replicas": 2}, "placement.group", "use workload: leaderworkerset"),
    ({"group": "pack", "topologyKey": "kubernetes.io/hostname"}, {}, "placement.topologyKey", "a group needs 16 GPUs and a node has 8"),
    ({"group": "pack", "topologyKey": RACK}, {"workload": {**LWS, "exclusiveTopology": RACK}}, "workload.exclusiveTopology", "not both"),
])
def test_placement_that_cant_work_is_a_config_error(placement, extra, path, words):
    assert words in one_issue(config(model(placement=placement, **extra)), f"vllm-fleet:models[0].{path}")


def test_pack_errors_point_at_the_model_even_when_the_workload_is_a_stack_default():
    raw = config(model(placement={"group": "pack"}), defaults={"workload": LWS})
    assert "required key is missing" in one_issue(raw, "vllm-fleet:models[0].placement.topologyKey")


def test_spread_a_single_pod_group_on_statefulsets_and_pack_on_a_node_that_fits_are_fine():
    small = plan(config(model(parallelism={"tensor": 8}, replicas=2, placement={"replicas": "spread", "spreadTopologyKey": "kubernetes.io/hostname"})))
    (spread,) = small.roles[0].placement.topology_spread
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    node = plan(config(model(parallelism={"tensor": 8}, placement={"group": "pack", "topologyKey": "kubernetes.io/hostname"})))
    assert node.roles[0].placement.pod_affinity[0]["topologyKey"] == "kubernetes.io/hostname"
    assert summarize(node).placement == "pack kubernetes.io/hostname"


# ---------------------------------------------------------------------- MIG


def test_a_model_on_a_mig_slice_requests_the_slice_and_the_table_counts_slices(placed):
    template = _templates(placed, "small")["head"]
    limits = template["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/mig-1g.10gb"] == 1 and "nvidia.com/gpu" not in limits
    assert template["spec"]["nodeSelector"] == {"nvidia.com/mig.config": "all-1g.10gb"}
    assert placed.outputs["models"]["small"]["gpuSlice"] == "mig-1g.10gb"
    row = next(line for line in plan_table(placed).splitlines() if line.strip().startswith("small "))
    assert "1 slice mig-1g.10gb" in row
    whole = next(line for line in plan_table(placed).splitlines() if line.strip().startswith("sts-strict "))
    assert "slice" not in whole


@pytest.mark.parametrize("parallelism", [{"tensor": 2}, {"pipeline": 2}, {"tensor": 2, "pipeline": 2}])
def test_tensor_or_pipeline_parallelism_on_mig_is_a_config_error(parallelism):
    message = one_issue(config(model(parallelism=parallelism, nodePool=MIG_POOL)), "vllm-fleet:models[0].parallelism")
    assert "MIG" in message and "nvidia.com/mig-1g.10gb" in message


def test_mig_on_the_stack_node_pool_is_checked_for_every_model():
    raw = config(model(name="a", parallelism={"tensor": 1}), model(name="b", parallelism={"tensor": 2}), nodePool=MIG_POOL)
    assert [line.split(":", 2)[1] for line in issues(raw)] == ["models[1].parallelism"]


# ------------------------------------------------------------ RDMA devices


def test_rail_optimised_pods_get_one_device_and_attachment_per_gpu(placed):
    templates = _templates(placed, "sts-pack")  # TP=4×PP=3: a 4-GPU head and an 8-GPU worker
    for role, gpus in (("head", 4), ("worker", 8)):
        template = templates[role]
        limits = template["spec"]["containers"][0]["resources"]["limits"]
        assert (limits["nvidia.com/gpu"], limits["openshift.io/mlx_rdma"]) == (gpus, gpus)
        request = json.loads(template["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
        assert [item["interface"] for item in request] == [f"net{k}" for k in range(1, gpus + 1)]
        assert {item["name"] for item in request} == {"sts-pack-net"}
        env = env_of(template["spec"]["containers"][0])
        assert (env["NCCL_CROSS_NIC"], env["NCCL_SOCKET_IFNAME"], env["NCCL_IB_HCA"]) == ("0", "=net1", "mlx5")


def test_without_rail_optimisation_a_pod_gets_one_device_and_no_cross_nic_setting():
    fabric = plan(config(model(network=SRIOV)))
    assert fabric.roles[1].resources["limits"]["openshift.io/mlx_rdma"] == 1
    assert "NCCL_CROSS_NIC" not in fabric.network.env


def test_devices_per_pod_overrides_the_one_per_gpu_default():
    fabric = plan(config(model(network={**SRIOV, "railOptimized": True, "devicesPerPod": 2})))
    assert [role.resources["limits"]["openshift.io/mlx_rdma"] for role in fabric.roles] == [2, 2]
    assert fabric.network.env["NCCL_CROSS_NIC"] == "0"
    host = plan(config(model(network={"type": "host-device", "resourceName": "nvidia.com/hostdev", "ipam": SRIOV["ipam"], "devicesPerPod": 4})))
    assert host.roles[0].resources["limits"]["nvidia.com/hostdev"] == 4


@pytest.mark.parametrize("network, pool, path, words", [
    ({**SRIOV, "railOptimized": True}, {"rdmaDevicesPerNode": 4}, "network.devicesPerPod", "8 RDMA devices (railOptimized: one per GPU) but a node has 4"),
    ({**SRIOV, "devicesPerPod": 9}, {"rdmaDevicesPerNode": 8}, "network.devicesPerPod", "9 RDMA devices (devicesPerPod)"),
    ({**SRIOV, "devicesPerPod": 4, "hca": "=mlx5_0:1,mlx5_1:1"}, {}, "network.hca", "lists 2 HCA(s) but a pod gets 4"),
    ({**SRIOV, "devicesPerPod": 2, "ipam": {"type": "static", "addresses": ["10.56.0.10/24"]}}, {}, "network.ipam.type", "same address"),
    ({**SRIOV, "devicesPerPod": 4, "interface": "abcdefghijklmn9"}, {}, "network.interface", "abcdefghijklmn10"),
    ({"type": "rdma-shared", "devicesPerPod": 2}, {}, "network", "unknown key 'devicesPerPod'"),
])
def test_devices_that_cant_work_are_config_errors(network, pool, path, words):
    raw = config(model(parallelism={"tensor": 8} if "static" in str(network) else {"tensor": 16}, network=network),
                 nodePool={"gpusPerNode": 8, **pool})
    assert words in one_issue(raw, f"vllm-fleet:models[0].{path}")


def test_an_hca_prefix_or_exclusion_matches_any_number_of_devices():
    for hca in ("mlx5", "^mlx5_4", "mlx5_0:1,mlx5_1:1,mlx5_2:1,mlx5_3:1"):
        fabric = plan(config(model(network={**SRIOV, "devicesPerPod": 4, "hca": hca})))
        assert fabric.network.env["NCCL_IB_HCA"] == hca


def test_strict_pack_by_group_label_keeps_the_models_other_groups_out_too():
    """A workload with a per-group label but no exclusive placement of its own: the core's anti-affinity covers siblings."""
    from vllm_fleet.config import Placement
    from vllm_fleet.placement import role_placement
    from vllm_fleet.plugins.types import GroupSelector

    selector = GroupSelector({"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "m"}, ("example.com/group",))
    placement = Placement.model_validate({"group": "strict-pack", "topologyKey": RACK})
    terms = role_placement(placement, "m", "worker", False, selector, ("head", "worker"))
    (affinity,) = terms.pod_affinity
    others, siblings = terms.pod_anti_affinity
    assert affinity["matchLabelKeys"] == ["example.com/group"] and siblings["mismatchLabelKeys"] == ["example.com/group"]
    assert "mismatchLabelKeys" not in others
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "i"}],
        "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": list(terms.pod_affinity)},
                     "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": list(terms.pod_anti_affinity)}},
    }}
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
