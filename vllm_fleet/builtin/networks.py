"""Network fabrics: a Multus attachment per model and the NCCL/Gloo environment to use it.

Every fabric answers the same four questions: which NetworkAttachmentDefinition
(if any), which device-plugin resource each pod requests (the NAD's
`k8s.v1.cni.cncf.io/resourceName` names the same one), whether NCCL can do RDMA
over it, and what the environment must say. Only fabrics that do RDMA add
IPC_LOCK: RDMA pins memory, and nothing else needs more than the default.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, model_validator

from ..constants import ANNOTATION_RESOURCE_NAME, INTERFACE_NAME
from ..sdk import NAD_API, ModelPlan, NetworkPlan, ObjectSpec, PlanError, PluginSettings, network_pod

CNI_VERSION = "1.0.0"
SHARED_RDMA_RESOURCE = "rdma/rdma_shared_device_a"
_RESOURCE = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?/[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$"


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR like 10.56.0.0/16") from None


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def _interface(value: str) -> None:
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an address/prefix like 10.56.0.10/24") from None
    if "/" not in value:
        raise ValueError(f"{value!r} needs a prefix length, like 10.56.0.10/24")


class Ipam(PluginSettings):
    type: Literal["whereabouts", "static"] = Field(
        description="whereabouts: cluster-wide unique addresses from a range; static: fixed addresses."
    )
    range: Optional[str] = Field(None, description="whereabouts: the CIDR to allocate from.")
    range_start: Optional[str] = Field(None, description="whereabouts: first address to hand out.")
    range_end: Optional[str] = Field(None, description="whereabouts: last address to hand out.")
    exclude: list[str] = Field(default_factory=list, description="whereabouts: CIDRs never handed out.")
    addresses: list[str] = Field(default_factory=list, description="static: address/prefix of the interface.")

    @model_validator(mode="after")
    def _check(self) -> "Ipam":
        if self.type == "whereabouts":
            if not self.range:
                raise ValueError("whereabouts needs range, e.g. 10.56.0.0/16")
            if self.addresses:
                raise ValueError("addresses is for static IPAM; whereabouts allocates from range")
            network = _network(self.range)
            for bound in (self.range_start, self.range_end):
                if bound is not None and _address(bound) not in network:
                    raise ValueError(f"{bound} is outside range {self.range}")
            for cidr in self.exclude:
                _network(cidr)
        else:
            if not self.addresses:
                raise ValueError("static IPAM needs addresses, e.g. [10.56.0.10/24]")
            if self.range or self.range_start or self.range_end or self.exclude:
                raise ValueError("range, rangeStart, rangeEnd and exclude are for whereabouts")
            for address in self.addresses:
                _interface(address)
        return self

    def config(self) -> dict[str, Any]:
        if self.type == "static":
            return {"type": "static", "addresses": [{"address": a} for a in self.addresses]}
        config: dict[str, Any] = {"type": "whereabouts", "range": self.range}
        for key, value in (("range_start", self.range_start), ("range_end", self.range_end)):
            if value:
                config[key] = value
        if self.exclude:
            config["exclude"] = list(self.exclude)
        return config


class FabricSettings(PluginSettings):
    """What NCCL needs to know about any fabric; every default can be overridden per stack (transport.env)."""

    link_type: Literal["eth", "ib"] = Field("eth", description="eth: RoCE; ib: InfiniBand.")
    hca: str = Field("mlx5", min_length=1, description="NCCL_IB_HCA: HCA prefix or list (mlx5_0:1,mlx5_1:1).")
    gid_index: Optional[int] = Field(
        3, ge=0, description="NCCL_IB_GID_INDEX on RoCE (3 is RoCE v2 on most hosts); null = NCCL's auto."
    )
    gdr_level: Literal["LOC", "PIX", "PXB", "PHB", "SYS"] = Field(
        "PXB", description="NCCL_NET_GDR_LEVEL: farthest GPU-NIC distance that still uses GPUDirect RDMA."
    )
    debug: Literal["VERSION", "WARN", "INFO", "TRACE"] = Field("INFO", description="NCCL_DEBUG.")


class AttachedSettings(FabricSettings):
    """Fabrics that add an interface through a NetworkAttachmentDefinition."""

    interface: str = Field("net1", pattern=INTERFACE_NAME, description="Interface name in the pod (fixed, for NCCL).")
    ipam: Ipam = Field(description="Addresses of the secondary interface.")
    mtu: Optional[int] = Field(None, ge=576, le=9216, description="Interface MTU (jumbo frames: 9000).")


class MultiDeviceSettings(AttachedSettings):
    """Fabrics whose device plugin hands each pod its own devices (VFs, NICs): a pod may take several."""

    rail_optimized: bool = Field(
        False,
        description="Each GPU has its own NIC on its own rail (leaf switch): a pod gets one device per GPU and NCCL keeps each ring on its rail (NCCL_CROSS_NIC=0).",
    )
    devices_per_pod: Optional[int] = Field(
        None, ge=1, le=64, description="RDMA devices (of resourceName) each pod gets, one interface each; default: one per GPU when railOptimized, else 1."
    )


def _hca_count(hca: str) -> Optional[int]:
    """How many HCAs an explicit NCCL_IB_HCA list names; None for a prefix or an exclusion (they match any number)."""
    if hca.startswith("^") or ("," not in hca and not hca.startswith("=") and ":" not in hca):
        return None
    return len([item for item in hca.lstrip("=").split(",") if item])


def with_devices(network: NetworkPlan, settings: MultiDeviceSettings, plan: ModelPlan) -> NetworkPlan:
    """The device count of each pod, and the NCCL settings that use every device."""
    one_per_gpu = settings.rail_optimized and settings.devices_per_pod is None
    devices = replace(network, devices_per_pod=settings.devices_per_pod or 1, one_per_gpu=one_per_gpu)
    most = max(devices.devices(gpus) for gpus in plan.gpus.pod_gpus())
    listed = _hca_count(settings.hca)
    if devices.rdma and listed is not None and listed < most:
        raise PlanError(
            ("network", "hca"),
            f"NCCL_IB_HCA lists {listed} HCA(s) but a pod gets {most} RDMA devices: NCCL would leave some unused; "
            "list them all or use a prefix such as mlx5",
        )
    if settings.ipam.type == "static" and most > 1:
        raise PlanError(("network", "ipam", "type"), f"static IPAM gives all {most} interfaces of a pod the same address; use whereabouts")
    env = dict(network.env)
    if devices.rdma and settings.rail_optimized:
        # Rail-optimised fabrics: the same NIC index on every node, so traffic stays on one rail switch.
        env["NCCL_CROSS_NIC"] = "0"
    suffix = ", a device per GPU" if one_per_gpu else (f", {most} devices per pod" if most > 1 else "")
    return replace(devices, env=env, description=network.description + suffix)


def _resource_field(default: Any = ..., description: str = "") -> Any:
    return Field(default, pattern=_RESOURCE, description=description or "Device-plugin resource each pod requests.")


def fabric_env(settings: FabricSettings, socket_interface: str, rdma: bool) -> dict[str, str]:
    """NCCL and Gloo defaults: bootstrap and Gloo on the fabric's interface, data over IB verbs when RDMA."""
    env = {
        # '=' makes NCCL match the name exactly (net1 would also match net10).
        "NCCL_SOCKET_IFNAME": f"={socket_interface}",
        "GLOO_SOCKET_IFNAME": socket_interface,
        "NCCL_DEBUG": settings.debug,
    }
    if not rdma:
        env["NCCL_IB_DISABLE"] = "1"
        return env
    env.update({"NCCL_IB_DISABLE": "0", "NCCL_IB_HCA": settings.hca, "NCCL_NET_GDR_LEVEL": settings.gdr_level})
    if settings.link_type == "eth" and settings.gid_index is not None:
        env["NCCL_IB_GID_INDEX"] = str(settings.gid_index)
    return env


def attachment(
    plan: ModelPlan, settings: AttachedSettings, cni: dict[str, Any], resource: Optional[str]
) -> ObjectSpec:
    """One NAD; its config is a single JSON string, as Multus reads it."""
    if settings.ipam.type == "static" and plan.gpus.pods > 1:
        raise PlanError(
            ("network", "ipam", "type"),
            f"static IPAM gives all {plan.gpus.pods} pods of this group the same address; use whereabouts",
        )
    name = plan.names.attachment
    config = {"cniVersion": CNI_VERSION, "name": name, **cni}
    return ObjectSpec(
        NAD_API,
        "NetworkAttachmentDefinition",
        name,
        {"spec": {"config": json.dumps(config, separators=(",", ":"), sort_keys=True)}},
        labels=plan.labels("network"),
        annotations={ANNOTATION_RESOURCE_NAME: resource} if resource else {},
    )


def _describe(fabric: str, rdma: bool, link_type: str, where: str) -> str:
    if not rdma:
        return f"{fabric} {where} (TCP, no RDMA)"
    return f"{fabric} RDMA ({'RoCE' if link_type == 'eth' else 'InfiniBand'}) {where}"


def _plan(
    plan: ModelPlan,
    fabric: str,
    settings: FabricSettings,
    interface: str,
    nad: Optional[ObjectSpec],
    resource: Optional[str],
    rdma: bool,
) -> NetworkPlan:
    where = f"on {interface}" if nad is not None else f"via pod {interface}"
    network = NetworkPlan(
        fabric=fabric,
        interface=interface,
        attachment=nad,
        resource=resource,
        rdma=rdma,
        env=fabric_env(settings, interface, rdma),
        capabilities=("IPC_LOCK",) if rdma else (),
        description=_describe(fabric, rdma, settings.link_type, where),
        # Multus and whereabouts name nothing after the attachment (IP pools are named after
        # their range), so the NAD itself is the only name a fabric adds.
        derived_names=(),
    )
    return replace(network, pod=network_pod(network, plan.namespace))


def _with_mtu(config: dict[str, Any], mtu: Optional[int]) -> dict[str, Any]:
    return {**config, "mtu": mtu} if mtu else config


class SriovNetwork:
    """An SR-IOV VF per pod, with the `rdma` meta-plugin moving its RDMA device into the pod."""

    kind: ClassVar[str] = "network"
    name: ClassVar[str] = "sriov"

    class Settings(MultiDeviceSettings):
        resource_name: str = _resource_field(description="SR-IOV VF pool, e.g. openshift.io/mlx_rdma or nvidia.com/...")
        vlan: Optional[int] = Field(None, ge=0, le=4094, description="VLAN of the VF.")
        trust: bool = Field(True, description="VF trust (needed by some RoCE setups).")
        spoofchk: bool = Field(True, description="MAC spoof checking on the VF.")

    def attachment(self, settings: "SriovNetwork.Settings", plan: ModelPlan) -> NetworkPlan:
        # InfiniBand VFs use the ib-sriov CNI; RoCE VFs use sriov. Both take the rdma meta-plugin.
        vf: dict[str, Any] = {"type": "sriov" if settings.link_type == "eth" else "ib-sriov", "ipam": settings.ipam.config()}
        if settings.link_type == "eth":
            vf.update({"spoofchk": "on" if settings.spoofchk else "off", "trust": "on" if settings.trust else "off"})
            if settings.vlan is not None:
                vf["vlan"] = settings.vlan
        cni = {"plugins": [_with_mtu(vf, settings.mtu), {"type": "rdma"}]}
        nad = attachment(plan, settings, cni, settings.resource_name)
        network = _plan(plan, self.name, settings, settings.interface, nad, settings.resource_name, rdma=True)
        return with_devices(network, settings, plan)


class HostDeviceNetwork:
    """A whole (RDMA-capable) NIC moved into the pod: one pod per NIC."""

    kind: ClassVar[str] = "network"
    name: ClassVar[str] = "host-device"

    class Settings(MultiDeviceSettings):
        resource_name: str = _resource_field(description="Device pool of the NICs, e.g. nvidia.com/hostdev.")
        rdma: bool = Field(True, description="The NIC is RDMA-capable and NCCL should use it over IB verbs.")

    def attachment(self, settings: "HostDeviceNetwork.Settings", plan: ModelPlan) -> NetworkPlan:
        cni = _with_mtu({"type": "host-device", "ipam": settings.ipam.config()}, settings.mtu)
        nad = attachment(plan, settings, cni, settings.resource_name)
        network = _plan(plan, self.name, settings, settings.interface, nad, settings.resource_name, rdma=settings.rdma)
        return with_devices(network, settings, plan)


class MacvlanNetwork:
    """A macvlan on a host NIC: TCP only, or RoCE when paired with the shared RDMA device plugin."""

    kind: ClassVar[str] = "network"
    name: ClassVar[str] = "macvlan"

    class Settings(AttachedSettings):
        master: str = Field(pattern=INTERFACE_NAME, description="Host interface the macvlan sits on, e.g. ens2f0.")
        mode: Literal["bridge", "private", "vepa", "passthru"] = Field("bridge", description="macvlan mode.")
        rdma_resource: Optional[str] = Field(
            None, pattern=_RESOURCE, description="Shared RDMA device (rdma/rdma_shared_device_a) for RoCE; omitted = TCP."
        )

    def attachment(self, settings: "MacvlanNetwork.Settings", plan: ModelPlan) -> NetworkPlan:
        cni = _with_mtu({"type": "macvlan", "master": settings.master, "mode": settings.mode, "ipam": settings.ipam.config()}, settings.mtu)
        nad = attachment(plan, settings, cni, settings.rdma_resource)
        rdma = settings.rdma_resource is not None
        return _plan(plan, self.name, settings, settings.interface, nad, settings.rdma_resource, rdma=rdma)


class IpoibNetwork:
    """IP over InfiniBand for bootstrap and Gloo; NCCL's data goes over IB verbs on the shared RDMA device."""

    kind: ClassVar[str] = "network"
    name: ClassVar[str] = "ipoib"

    class Settings(AttachedSettings):
        master: str = Field(pattern=INTERFACE_NAME, description="Host IPoIB interface, e.g. ibs3f1.")
        resource_name: str = _resource_field(SHARED_RDMA_RESOURCE, "RDMA device resource the pods request.")
        link_type: Literal["ib"] = Field("ib", description="IPoIB is InfiniBand.")

    def attachment(self, settings: "IpoibNetwork.Settings", plan: ModelPlan) -> NetworkPlan:
        cni = _with_mtu({"type": "ipoib", "master": settings.master, "ipam": settings.ipam.config()}, settings.mtu)
        nad = attachment(plan, settings, cni, settings.resource_name)
        return _plan(plan, self.name, settings, settings.interface, nad, settings.resource_name, rdma=True)


class RdmaSharedNetwork:
    """The shared RDMA device plugin: HCA access without an extra interface (no NAD).

    Bootstrap and Gloo stay on the pod's own interface. On InfiniBand that is
    all NCCL needs; on RoCE the pod interface must sit on the RDMA NIC (else
    use `macvlan` with `rdmaResource`).
    """

    kind: ClassVar[str] = "network"
    name: ClassVar[str] = "rdma-shared"

    class Settings(FabricSettings):
        resource_name: str = _resource_field(SHARED_RDMA_RESOURCE, "Shared RDMA device resource.")
        link_type: Literal["eth", "ib"] = Field("ib", description="ib: InfiniBand (typical); eth: RoCE.")
        pod_interface: str = Field("eth0", pattern=INTERFACE_NAME, description="The pod's own interface, for bootstrap.")

    def attachment(self, settings: "RdmaSharedNetwork.Settings", plan: ModelPlan) -> NetworkPlan:
        return _plan(plan, self.name, settings, settings.pod_interface, None, settings.resource_name, rdma=True)


__all__ = [
    "AttachedSettings",
    "FabricSettings",
    "HostDeviceNetwork",
    "Ipam",
    "IpoibNetwork",
    "MacvlanNetwork",
    "MultiDeviceSettings",
    "RdmaSharedNetwork",
    "SriovNetwork",
    "attachment",
    "fabric_env",
    "with_devices",
]
