"""Multus wiring, shared by every network plugin: the attachment request on the pods, and its checks.

Network plugins call `network_pod` to say what their fabric adds to each pod
(`NetworkPlan.pod`); the plan runs `check_network` on whatever a plugin returns.
"""

from __future__ import annotations

import json
import re
from typing import Optional

from ..constants import ANNOTATION_RESOURCE_NAME, INTERFACE_NAME, NAD_API, NETWORK_CAPABILITIES
from ..errors import PlanError
from .types import NetworkPlan, PodAdditions

_IFNAME = re.compile(INTERFACE_NAME)


def check_network(network: NetworkPlan) -> None:
    """The pairing Multus and the device plugin rely on, and the least privilege RDMA needs."""
    if not _IFNAME.match(network.interface):
        raise PlanError(("network", "interface"), f"{network.interface!r} is not a Linux interface name (1-15 of a-z, 0-9, '_.-')")
    extra = sorted(set(network.capabilities) - set(NETWORK_CAPABILITIES))
    if extra:
        raise PlanError(("network",), f"a network may add only {', '.join(NETWORK_CAPABILITIES)}; it asked for {', '.join(extra)}")
    nad = network.attachment
    if nad is None:
        return
    if (nad.api_version, nad.kind) != (NAD_API, "NetworkAttachmentDefinition"):
        raise PlanError(("network",), f"a network plugin must describe a {NAD_API} NetworkAttachmentDefinition, got {nad.api_version} {nad.kind}")
    annotated = nad.annotations.get(ANNOTATION_RESOURCE_NAME)
    if annotated != network.resource:
        raise PlanError(
            ("network", "resourceName"),
            f"NetworkAttachmentDefinition {nad.name!r} asks Multus for {annotated!r} but pods would request "
            f"{network.resource!r}; the two must name the same device-plugin resource",
        )
    config = nad.body.get("spec", {}).get("config")
    try:
        parsed = json.loads(config) if isinstance(config, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or "cniVersion" not in parsed:
        raise PlanError(("network",), f"NetworkAttachmentDefinition {nad.name!r}: spec.config must be one JSON string of a CNI config with cniVersion")


NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
_TRAILING_NUMBER = re.compile(r"^(?P<stem>.*?)(?P<number>[0-9]*)$")


def interface_names(first: str, count: int) -> tuple[str, ...]:
    """`count` interfaces numbered on from `first`: net1 → net1, net2, …; rdma → rdma0, rdma1, …"""
    if count == 1:
        return (first,)
    match = _TRAILING_NUMBER.match(first)
    start = int(match["number"]) if match["number"] else 0
    return tuple(f"{match['stem']}{start + k}" for k in range(count))


def networks_annotation(network: NetworkPlan, namespace: str, count: int = 1) -> dict[str, str]:
    """The pod's attachment request: the same attachment once per RDMA device (Multus gives each its own VF or NIC)."""
    if network.attachment is None:
        return {}
    # JSON form: explicit namespace and fixed interface names NCCL_SOCKET_IFNAME can rely on.
    request = [
        {"name": network.attachment.name, "namespace": namespace, "interface": name}
        for name in interface_names(network.interface, count)
    ]
    return {NETWORKS_ANNOTATION: json.dumps(request, separators=(",", ":"))}


def check_devices(network: NetworkPlan, pod_gpus: list[int], rdma_devices_per_node: Optional[int]) -> None:
    """Each pod's RDMA devices fit its node, and each gets an interface name Linux accepts."""
    most = max(network.devices(gpus) for gpus in pod_gpus)
    why = "railOptimized: one per GPU" if network.one_per_gpu else "devicesPerPod"
    if rdma_devices_per_node is not None and most > rdma_devices_per_node:
        raise PlanError(
            ("network", "devicesPerPod"),
            f"a pod would get {most} RDMA devices ({why}) but a node has {rdma_devices_per_node} "
            "(nodePool.rdmaDevicesPerNode); set devicesPerPod to at most that, or fix the node pool's count",
        )
    for name in interface_names(network.interface, most):
        if not _IFNAME.match(name):
            raise PlanError(("network", "interface"), f"device {name!r} of {most} per pod is not a Linux interface name (1-15 of a-z, 0-9, '_.-'); use a shorter interface")


def network_pod(network: NetworkPlan, namespace: str) -> PodAdditions:
    """What every pod gets; the device count and attachments of a multi-device fabric are set per role (pod_template)."""
    return PodAdditions(
        annotations=networks_annotation(network, namespace),
        extra_resources={network.resource: 1} if network.resource else {},
        capabilities=network.capabilities,
    )
