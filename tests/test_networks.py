"""Network plugins: the NAD each fabric renders, and what the pods get from it."""

from __future__ import annotations

import json

import pytest

from .dataplane_support import SRIOV, WHEREABOUTS, config, env_of, issues, model, named, one_issue, plan, plans, pod_spec, render

RDMA_FABRICS = {
    "sriov": SRIOV,
    "host-device": {"type": "host-device", "resourceName": "nvidia.com/hostdev", "ipam": WHEREABOUTS},
    "macvlan": {"type": "macvlan", "master": "ens2f0", "rdmaResource": "rdma/rdma_shared_device_a", "ipam": WHEREABOUTS},
    "ipoib": {"type": "ipoib", "master": "ibs3f1", "ipam": WHEREABOUTS},
    "rdma-shared": {"type": "rdma-shared"},
}


def _network(settings: dict):
    return plan(config(model(network=settings)))


@pytest.mark.parametrize("fabric", sorted(RDMA_FABRICS))
def test_every_rdma_fabric_adds_ipc_lock_its_resource_and_ib_env(fabric):
    planned = _network(RDMA_FABRICS[fabric])
    assert planned.network.rdma
    assert planned.pod.capabilities == ("IPC_LOCK",)
    resource = planned.network.resource
    assert planned.pod.extra_resources == {resource: 1}
    requests = planned.pod_resources(8)
    assert requests["requests"][resource] == 1 and requests["limits"][resource] == 1
    env = {e["name"]: e["value"] for e in planned.pod.env}
    assert env["NCCL_IB_DISABLE"] == "0"
    assert env["NCCL_SOCKET_IFNAME"] == f"={planned.network.interface}"
    assert env["GLOO_SOCKET_IFNAME"] == planned.network.interface
    assert {"NCCL_IB_HCA", "NCCL_NET_GDR_LEVEL", "NCCL_DEBUG"} <= env.keys()


@pytest.mark.parametrize("fabric", ["sriov", "host-device", "macvlan", "ipoib"])
def test_attachment_annotation_names_the_resource_pods_request(fabric):
    planned = _network(RDMA_FABRICS[fabric])
    nad = planned.network.attachment
    assert nad.annotations["k8s.v1.cni.cncf.io/resourceName"] == planned.network.resource
    config_ = json.loads(nad.body["spec"]["config"])  # one JSON string
    assert config_["name"] == nad.name and config_["cniVersion"]
    request = json.loads(planned.pod.annotations["k8s.v1.cni.cncf.io/networks"])
    assert request == [{"name": nad.name, "namespace": "llm-test", "interface": "net1"}]


def test_sriov_uses_the_rdma_meta_plugin_and_whereabouts():
    cni = json.loads(_network(SRIOV).network.attachment.body["spec"]["config"])
    assert [p["type"] for p in cni["plugins"]] == ["sriov", "rdma"]
    assert cni["plugins"][0]["ipam"] == {"type": "whereabouts", "range": "10.56.0.0/16"}


def test_sriov_on_infiniband_uses_ib_sriov_and_no_gid_index():
    planned = _network({**SRIOV, "linkType": "ib"})
    cni = json.loads(planned.network.attachment.body["spec"]["config"])
    assert cni["plugins"][0]["type"] == "ib-sriov"
    assert "NCCL_IB_GID_INDEX" not in {e["name"] for e in planned.pod.env}


def test_roce_sets_the_gid_index():
    env = {e["name"]: e["value"] for e in _network({**SRIOV, "gidIndex": 7}).pod.env}
    assert env["NCCL_IB_GID_INDEX"] == "7"


def test_rdma_shared_adds_no_attachment_and_uses_the_pod_interface():
    planned = _network(RDMA_FABRICS["rdma-shared"])
    assert planned.network.attachment is None
    assert "k8s.v1.cni.cncf.io/networks" not in planned.pod.annotations
    assert planned.pod.extra_resources == {"rdma/rdma_shared_device_a": 1}
    assert {e["name"]: e["value"] for e in planned.pod.env}["NCCL_SOCKET_IFNAME"] == "=eth0"


def test_plain_macvlan_is_tcp_without_ipc_lock():
    planned = _network({"type": "macvlan", "master": "ens2f0", "ipam": WHEREABOUTS})
    assert not planned.network.rdma and planned.pod.capabilities == ()
    assert planned.pod.extra_resources == {}
    assert "k8s.v1.cni.cncf.io/resourceName" not in planned.network.attachment.annotations
    assert {e["name"]: e["value"] for e in planned.pod.env}["NCCL_IB_DISABLE"] == "1"
    assert planned.transport == "macvlan on net1 (TCP, no RDMA)"


def test_static_ipam_renders_fixed_addresses_for_a_single_pod():
    single = model(parallelism={"tensor": 8}, network={**SRIOV, "ipam": {"type": "static", "addresses": ["10.56.0.10/24"]}})
    cni = json.loads(plan(config(single)).network.attachment.body["spec"]["config"])
    assert cni["plugins"][0]["ipam"] == {"type": "static", "addresses": [{"address": "10.56.0.10/24"}]}


def test_no_network_section_is_the_pod_network_and_says_so():
    planned = plan(config(model()))
    assert planned.network is None and planned.pod.capabilities == ()
    assert planned.transport == "pod network (TCP, no RDMA)"
    single = plan(config(model(parallelism={"tensor": 8})))
    assert single.transport == "in-pod (single pod)"


def test_stack_default_applies_and_a_model_can_opt_out():
    raw = config(model(), model(name="other", network="none"), defaults={"network": SRIOV})
    first, second = plans(raw)
    assert first.network.fabric == "sriov"
    assert second.network is None and second.transport == "pod network (TCP, no RDMA)"


def test_stack_overrides_any_nccl_variable_and_verification_turns_on_trace():
    raw = config(
        model(network=SRIOV),
        transport={"verify": True, "env": {"NCCL_IB_HCA": "mlx5_0:1,mlx5_1:1", "NCCL_IB_GID_INDEX": 5}},
    )
    planned = plan(raw)
    env = {e["name"]: e["value"] for e in planned.pod.env}
    assert env["NCCL_IB_HCA"] == "mlx5_0:1,mlx5_1:1"
    assert env["NCCL_IB_GID_INDEX"] == "5"
    assert env["NCCL_DEBUG"] == "TRACE" and env["NCCL_DEBUG_SUBSYS"] == "INIT,NET"
    assert any("via NET/IB" in note for note in planned.notes)


def test_rendered_pods_get_exactly_ipc_lock_and_matching_resources(tmp_path):
    rendered = render(tmp_path, config(model(network=SRIOV)))
    nad = named(rendered, "NetworkAttachmentDefinition", "llm-net")
    resource = nad["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"]
    for role in ("head", "worker"):
        spec = pod_spec(named(rendered, "StatefulSet", f"llm-{role}"))
        container = spec["containers"][0]
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["IPC_LOCK"]}
        assert container["securityContext"]["privileged"] is False
        assert container["resources"]["limits"][resource] == 1
        assert env_of(container)["NCCL_SOCKET_IFNAME"] == "=net1"


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "settings, path, expected",
    [
        ({**SRIOV, "resourceName": "mlx_rdma"}, "resourceName", "must match"),
        ({**SRIOV, "ipam": {"type": "whereabouts", "range": "10.56.0.0/33"}}, "ipam", "is not a CIDR"),
        ({**SRIOV, "ipam": {"type": "whereabouts"}}, "ipam", "whereabouts needs range"),
        ({**SRIOV, "ipam": {"type": "whereabouts", "range": "10.56.0.0/16", "rangeStart": "10.57.0.1"}}, "ipam", "outside range"),
        ({**SRIOV, "ipam": {"type": "dhcp"}}, "ipam.type", "must be 'whereabouts' or 'static'"),
        ({**SRIOV, "interface": "a-very-long-interface-name"}, "interface", "must match"),
        ({**SRIOV, "gdrLevel": "NEAR"}, "gdrLevel", "must be"),
        ({**SRIOV, "vlan": 5000}, "vlan", "less than or equal to 4094"),
        ({**SRIOV, "bogus": 1}, "", "unknown key 'bogus'"),
    ],
)
def test_bad_network_settings_get_key_path_errors(settings, path, expected):
    key = "vllm-fleet:models[0].network" + (f".{path}" if path else "")
    assert expected in one_issue(config(model(network=settings)), key)


def test_static_ipam_on_a_multi_pod_group_is_an_error():
    bad = {**SRIOV, "ipam": {"type": "static", "addresses": ["10.56.0.10/24"]}}
    message = one_issue(config(model(network=bad)), "vllm-fleet:models[0].network.ipam.type")
    assert "same address" in message and "whereabouts" in message


def test_bad_default_network_points_at_the_defaults_key():
    raw = config(model(), defaults={"network": {**SRIOV, "resourceName": "nope"}})
    assert "must match" in one_issue(raw, "vllm-fleet:defaults.network.resourceName")


def test_transport_env_only_takes_nccl_and_gloo_variables():
    found = " ".join(issues(config(transport={"env": {"LD_PRELOAD": "x"}})))
    assert "vllm-fleet:transport.env" in found and "NCCL|GLOO" in found
