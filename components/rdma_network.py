"""RdmaNetwork: the Multus NetworkAttachmentDefinition a model's pods attach to."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from . import _k8s
from .plugins.types import NetworkPlan


@dataclass(frozen=True)
class RdmaNetworkArgs:
    namespace: str
    network: NetworkPlan


class RdmaNetwork(pulumi.ComponentResource):
    """Exists only for fabrics with an attachment; `rdma-shared` needs none (the pods just request the device)."""

    attachment: pulumi.Output[str]
    resource_name: pulumi.Output[str]
    interface: pulumi.Output[str]

    def __init__(self, name: str, args: RdmaNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-fleet:index:RdmaNetwork", name, None, opts)
        network = args.network
        assert network.attachment is not None, "fleet.deploy creates an RdmaNetwork only for an attachment"
        self.nad = _k8s.register(network.attachment, args.namespace, pulumi.ResourceOptions(parent=self))
        self.attachment = pulumi.Output.from_input(network.attachment.name)
        self.resource_name = pulumi.Output.from_input(network.resource or "")
        self.interface = pulumi.Output.from_input(network.interface)
        self.register_outputs({
            "attachment": self.attachment,
            "resourceName": self.resource_name,
            "interface": self.interface,
            "rdma": network.rdma,
        })


__all__ = ["RdmaNetwork", "RdmaNetworkArgs"]
