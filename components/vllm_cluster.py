"""VllmCluster: one model's head/worker StatefulSets, Services and entrypoints.

It translates a `ModelPlan` into objects and does no arithmetic: GPU counts,
names, probes and ranks all come from `plan.py` and the launcher plugin.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from ._k8s import metadata
from .constants import (
    ANNOTATION_ENTRYPOINT_CHECKSUM,
    API_KEY_ENV,
    ANNOTATION_PULUMI_TIMEOUT,
    API_PORT,
    CACHE_DIR,
    ENTRYPOINT_DIR,
    STATE_DIR,
)
from .plan import ModelPlan, selector_labels
from .plugins.types import Probes
from .secret_fingerprint import ANNOTATION_API_KEY_FINGERPRINT

HEAD, WORKER = "head", "worker"


@dataclass(frozen=True)
class VllmClusterArgs:
    plan: ModelPlan
    #: Changes with the API key (components/secret_fingerprint.py): the head, which reads the key, rolls on rotation.
    api_key_fingerprint: Optional[str] = None


def entrypoint_checksum(scripts: dict[str, str]) -> str:
    """Pods restart when their scripts change (a ConfigMap edit alone wouldn't do it)."""
    return hashlib.sha256(json.dumps(scripts, sort_keys=True).encode()).hexdigest()[:16]


def _env(plan: ModelPlan, role: str) -> list[dict[str, Any]]:
    pod_ip = {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    env = [
        {"name": "POD_IP", **pod_ip},
        {"name": "VLLM_FLEET_ROLE", "value": role},
        {"name": "VLLM_FLEET_HEAD_ADDRESS", "value": plan.names.head_address},
        # Weights come from the claim; the pod must never reach for a hub.
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        # The root filesystem is read-only: caches go to the `cache` emptyDir and
        # nothing tries to write usage reports under /root.
        {"name": "XDG_CACHE_HOME", "value": CACHE_DIR},
        {"name": "XDG_CONFIG_HOME", "value": f"{CACHE_DIR}/config"},
        {"name": "TRITON_CACHE_DIR", "value": f"{CACHE_DIR}/triton"},
        {"name": "VLLM_CACHE_ROOT", "value": f"{CACHE_DIR}/vllm"},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
    ]
    if plan.gpus.multi_node:
        env.append({"name": "VLLM_HOST_IP", **pod_ip})
    if role == HEAD and plan.api_key:
        # vLLM reads the key from the environment; it never appears in argv or the object.
        env.append(plan.api_key.env(API_KEY_ENV))
    if role == WORKER:
        index_label = "metadata.labels['apps.kubernetes.io/pod-index']"
        env.append({"name": "VLLM_FLEET_POD_INDEX", "valueFrom": {"fieldRef": {"fieldPath": index_label}}})
    return env + list(plan.pod.env)


def _security_context(plan: ModelPlan) -> dict[str, Any]:
    capabilities: dict[str, Any] = {"drop": ["ALL"]}
    if plan.pod.capabilities:
        capabilities["add"] = list(plan.pod.capabilities)
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": capabilities,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container(plan: ModelPlan, role: str, command: tuple[str, ...], probes: Probes, gpus: int) -> dict:
    container: dict[str, Any] = {
        "name": "vllm",
        "image": plan.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(command),
        "env": _env(plan, role),
        "resources": plan.pod_resources(gpus),
        "volumeMounts": [
            {"name": "entrypoints", "mountPath": ENTRYPOINT_DIR, "readOnly": True},
            {"name": "dshm", "mountPath": "/dev/shm"},
            {"name": "state", "mountPath": STATE_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "cache", "mountPath": CACHE_DIR},
            *plan.pod.volume_mounts,
        ],
        "securityContext": _security_context(plan),
    }
    if role == HEAD:
        container["ports"] = [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}]
    for field, probe in (("startupProbe", probes.startup), ("readinessProbe", probes.readiness), ("livenessProbe", probes.liveness)):
        if probe:
            container[field] = probe
    return container


def _pod_template(plan: ModelPlan, role: str, command, probes: Probes, gpus: int, checksum: str) -> dict:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 60,
        "containers": [_container(plan, role, command, probes, gpus)],
        "volumes": [
            {"name": "entrypoints", "configMap": {"name": plan.names.entrypoints, "defaultMode": 0o555}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": plan.config.shared_memory}},
            {"name": "state", "emptyDir": {"sizeLimit": "16Mi"}},
            # Ray's session dir and object-store spill, torch/inductor temp files.
            {"name": "tmp", "emptyDir": {"sizeLimit": plan.config.scratch_space}},
            # torch.compile, Triton and vLLM compile caches.
            {"name": "cache", "emptyDir": {"sizeLimit": plan.config.scratch_space}},
            *plan.pod.volumes,
        ],
    }
    if plan.node_pool.node_selector:
        spec["nodeSelector"] = dict(plan.node_pool.node_selector)
    if plan.node_pool.tolerations:
        spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in plan.node_pool.tolerations]
    if plan.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in plan.image_pull_secrets]
    if plan.pod.preferred_node_affinity:
        spec["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": list(plan.pod.preferred_node_affinity)}}
    if plan.pod.init_containers:
        spec["initContainers"] = list(plan.pod.init_containers)
    return {
        "metadata": {
            "labels": {**plan.labels(role), **plan.pod.labels},
            "annotations": {ANNOTATION_ENTRYPOINT_CHECKSUM: checksum, **plan.pod.annotations},
        },
        "spec": spec,
    }


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
        self._key_fingerprint = args.api_key_fingerprint
        self._child = pulumi.ResourceOptions(parent=self)
        checksum = entrypoint_checksum(plan.entrypoints.scripts)

        self.entrypoints = self._config_map()
        self.group_service = self._group_service()
        self.api_service = self._api_service()
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.entrypoints, self.group_service])
        self.head = self._stateful_set(HEAD, 1, plan.gpus.head_gpus, checksum, after)
        self.worker = (
            self._stateful_set(WORKER, plan.gpus.workers, plan.gpus.worker_gpus, checksum, after)
            if plan.gpus.multi_node
            else None
        )
        self.network_policy = self._network_policy()
        self.disruption_budget = self._disruption_budget()
        self.api_url = pulumi.Output.from_input(plan.names.api_url(plan.config.api.port))
        self.register_outputs({"apiUrl": self.api_url, "pods": plan.gpus.pods, "gpus": plan.gpus.total_gpus})

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
                "selector": selector_labels(plan.name, HEAD),
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
        callers = [_peer(peer) for peer in plan.api_access.allow_from] if plan.api_access else []
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

    def _stateful_set(self, role: str, replicas: int, gpus: int, checksum: str, opts) -> k8s.apps.v1.StatefulSet:
        plan = self._plan
        name = plan.names.head if role == HEAD else plan.names.worker
        entry = plan.entrypoints
        command = entry.head_command if role == HEAD else entry.worker_command
        probes = entry.head_probes if role == HEAD else entry.worker_probes
        annotations = {ANNOTATION_PULUMI_TIMEOUT: str(plan.await_timeout_seconds)}
        template = _pod_template(plan, role, command, probes, gpus, checksum)
        if role == HEAD and plan.api_key and self._key_fingerprint is not None:
            template["metadata"]["annotations"][ANNOTATION_API_KEY_FINGERPRINT] = self._key_fingerprint
        return k8s.apps.v1.StatefulSet(
            name,
            metadata=self._meta(name, role, annotations),
            spec={
                "replicas": replicas,
                "serviceName": plan.names.group,
                # Group members start together; ordered start would serialise the wait.
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": selector_labels(plan.name, role)},
                "template": template,
            },
            opts=opts,
        )


__all__ = ["VllmCluster", "VllmClusterArgs"]
