"""VllmCluster: one model's serving groups, their Services, policies and entrypoints.

It translates a `ModelPlan` into objects and does no arithmetic: GPU counts,
names, probes and ranks come from the plan, and the objects that run the
groups (StatefulSets, a LeaderWorkerSet) from the model's workload plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from . import _k8s
from ._k8s import metadata
from vllm_fleet.names import network_peer, selector_labels
from vllm_fleet.plan import ModelPlan


@dataclass(frozen=True)
class VllmClusterArgs:
    plan: ModelPlan


def _peer(peer) -> dict[str, Any]:
    """An `apiAccess.allowFrom` entry as a NetworkPolicy peer."""
    selected: dict[str, Any] = {}
    if peer.namespace is not None:
        selected["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": peer.namespace}}
    if peer.pod_labels is not None:
        selected["podSelector"] = {"matchLabels": dict(peer.pod_labels)}
    return selected


class VllmCluster(pulumi.ComponentResource):
    """A model's serving group: head (+ workers), group DNS, API Service, entrypoints."""

    api_url: pulumi.Output[str]

    def __init__(self, name: str, args: VllmClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("vllm-fleet:index:VllmCluster", name, None, opts)
        plan = args.plan
        assert plan.entrypoints is not None, "plan_model() fills entrypoints"
        self._plan = plan
        self._child = pulumi.ResourceOptions(parent=self)

        self.entrypoints = self._config_map()
        self.group_service = self._group_service()
        self.api_service = self._api_service()
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.entrypoints, self.group_service])
        # The workload's objects keep the logical names they had as children of this component.
        self.workload = [
            _k8s.register(spec, plan.namespace, after, logical_name=spec.name) for spec in plan.workload_objects
        ]
        self.network_policy = self._network_policy()
        self.disruption_budget = self._disruption_budget()
        self.api_url = pulumi.Output.from_input(plan.names.api_url(plan.config.api.port))
        self.register_outputs({"apiUrl": self.api_url, "pods": plan.gpus.pods, "groups": plan.replicas, "gpus": plan.total_gpus})

    def _meta(self, name: str, component: Optional[str] = None, annotations: Optional[dict] = None) -> dict:
        return metadata(name, self._plan.namespace, self._plan.labels(component), annotations)

    def _config_map(self) -> k8s.core.v1.ConfigMap:
        plan = self._plan
        return k8s.core.v1.ConfigMap(
            plan.names.entrypoints,
            metadata=self._meta(plan.names.entrypoints, "entrypoints"),
            data=dict(plan.entrypoints.scripts),
            opts=self._child,
        )

    def _group_service(self) -> k8s.core.v1.Service:
        plan = self._plan
        return k8s.core.v1.Service(
            plan.names.group,
            metadata=self._meta(plan.names.group, "group"),
            spec={
                "clusterIP": "None",
                # Members must resolve each other before they are ready: readiness
                # waits for the whole group, so the group can't wait for readiness.
                "publishNotReadyAddresses": True,
                "selector": selector_labels(plan.name),
            },
            opts=self._child,
        )

    def _api_service(self) -> k8s.core.v1.Service:
        plan = self._plan
        return k8s.core.v1.Service(
            plan.names.api_service,
            metadata=self._meta(plan.names.api_service, "api"),
            spec={
                "type": plan.config.api.service_type,
                "selector": selector_labels(plan.name, plan.api_role.role),
                "ports": [{"name": "http", "port": plan.config.api.port, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=self._child,
        )

    def _network_policy(self) -> k8s.networking.v1.NetworkPolicy:
        """Ray has no authentication: only the group reaches its ports, callers reach only the API.

        Members may use any port of each other (Ray's fixed ports, NCCL's
        ephemeral ones); everyone else gets the API port, from allowed peers.
        """
        plan = self._plan
        group = {"podSelector": {"matchLabels": selector_labels(plan.name)}}
        ingress: list[dict[str, Any]] = [{"from": [group]}]
        callers = [network_peer(peer.namespace, peer.pod_labels) for peer in plan.api_access.allow_from] if plan.api_access else []
        if callers:
            ingress.append({"from": callers, "ports": [{"port": "http", "protocol": "TCP"}]})
        return k8s.networking.v1.NetworkPolicy(
            plan.names.group,
            metadata=self._meta(plan.names.group, "group"),
            spec={"podSelector": {"matchLabels": selector_labels(plan.name)}, "policyTypes": ["Ingress"], "ingress": ingress},
            opts=self._child,
        )

    def _disruption_budget(self) -> k8s.policy.v1.PodDisruptionBudget:
        """A drain must not take one member out of a serving group (the whole group would break).

        Unhealthy pods stay evictable, so a group that is already broken
        never blocks a node drain.
        """
        plan = self._plan
        return k8s.policy.v1.PodDisruptionBudget(
            plan.names.group,
            metadata=self._meta(plan.names.group, "group"),
            spec={
                "maxUnavailable": 0,
                "selector": {"matchLabels": selector_labels(plan.name)},
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            },
            opts=self._child,
        )


__all__ = ["VllmCluster", "VllmClusterArgs"]
