"""The pod template of one role, as plain data: every workload builds its pods from this one function."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from .constants import ANNOTATION_ENTRYPOINT_CHECKSUM, API_PORT, CACHE_DIR, ENTRYPOINT_DIR, STATE_DIR
from .plugins.multus import networks_annotation
from .plugins.types import RolePlan
from .secret_fingerprint import ANNOTATION_API_KEY_FINGERPRINT

if TYPE_CHECKING:
    from .plan import ModelPlan


def entrypoint_checksum(scripts: dict[str, str]) -> str:
    """Pods restart when their scripts change (a ConfigMap edit alone wouldn't do it)."""
    return hashlib.sha256(json.dumps(scripts, sort_keys=True).encode()).hexdigest()[:16]


def _security_context(plan: "ModelPlan") -> dict[str, Any]:
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


def _container(plan: "ModelPlan", role: RolePlan) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "vllm",
        "image": plan.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(role.command),
        "env": list(role.env),
        "resources": role.resources,
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
    if role.serves_api:
        container["ports"] = [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}]
    if role.pre_stop:
        container["lifecycle"] = {"preStop": role.pre_stop}
    probes = role.probes
    for field, probe in (("startupProbe", probes.startup), ("readinessProbe", probes.readiness), ("livenessProbe", probes.liveness)):
        if probe:
            container[field] = probe
    return container


def _affinity(plan: "ModelPlan", role: RolePlan) -> dict[str, Any]:
    """Preferred node affinity from plugins (a cache's nodes), required pod (anti-)affinity from `placement`."""
    affinity: dict[str, Any] = {}
    if plan.pod.preferred_node_affinity:
        affinity["nodeAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": list(plan.pod.preferred_node_affinity)}
    for field, terms in (("podAffinity", role.placement.pod_affinity), ("podAntiAffinity", role.placement.pod_anti_affinity)):
        if terms:
            affinity[field] = {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}
    return affinity


def _pod_spec(plan: "ModelPlan", role: RolePlan) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": plan.termination_grace_seconds,
        "containers": [_container(plan, role)],
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
    affinity = _affinity(plan, role)
    if affinity:
        spec["affinity"] = affinity
    if role.placement.topology_spread:
        spec["topologySpreadConstraints"] = list(role.placement.topology_spread)
    if plan.pod.init_containers:
        spec["initContainers"] = list(plan.pod.init_containers)
    if plan.scheduling and plan.scheduling.scheduler_name:
        spec["schedulerName"] = plan.scheduling.scheduler_name
    if plan.priority_class:
        spec["priorityClassName"] = plan.priority_class
    return spec


def pod_template(plan: "ModelPlan", role: RolePlan) -> dict[str, Any]:
    """The pods of `role`: labels select them by role, the checksum restarts them when their scripts change."""
    assert plan.entrypoints is not None, "plan_model() fills entrypoints before the workload runs"
    annotations = {ANNOTATION_ENTRYPOINT_CHECKSUM: entrypoint_checksum(plan.entrypoints.scripts), **plan.pod.annotations}
    if plan.network:
        # One attachment per RDMA device: the count follows the role's GPUs when there is one NIC per GPU.
        annotations.update(networks_annotation(plan.network, plan.namespace, plan.network.devices(role.gpus_per_pod)))
    if role.serves_api and plan.api_key_fingerprint is not None:
        annotations[ANNOTATION_API_KEY_FINGERPRINT] = plan.api_key_fingerprint
    return {
        "metadata": {"labels": {**plan.labels(role.role), **plan.pod.labels}, "annotations": annotations},
        "spec": _pod_spec(plan, role),
    }
