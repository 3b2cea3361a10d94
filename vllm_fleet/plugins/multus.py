"""Multus wiring, shared by every network plugin: the attachment request on the pods, and its checks.

Network plugins call `network_pod` to say what their fabric adds to each pod
(`NetworkPlan.pod`); the plan runs `check_network` on whatever a plugin returns.
"""

from __future__ import annotations

import json
import re

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


def network_pod(network: NetworkPlan, namespace: str) -> PodAdditions:
    annotations = {}
    if network.attachment is not None:
        # JSON form: explicit namespace and a fixed interface name NCCL_SOCKET_IFNAME can rely on.
        request = [{"name": network.attachment.name, "namespace": namespace, "interface": network.interface}]
        annotations["k8s.v1.cni.cncf.io/networks"] = json.dumps(request, separators=(",", ":"))
    return PodAdditions(
        annotations=annotations,
        extra_resources={network.resource: 1} if network.resource else {},
        capabilities=network.capabilities,
    )
