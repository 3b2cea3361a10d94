"""Builds the components for a planned fleet; the body of the Pulumi program."""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from . import _k8s
from .config import FleetConfig
from .dataset_cache import DatasetCache, DatasetCacheArgs
from .model_storage import ModelStorage, ModelStorageArgs
from .plan import ModelPlan, common_labels, namespace_must_be_retained, weights_claims
from .plugins.types import ObjectSpec
from .rdma_network import RdmaNetwork, RdmaNetworkArgs
from .secret_fingerprint import secret_fingerprint
from .vllm_cluster import VllmCluster, VllmClusterArgs


def plan_summary(plan: ModelPlan) -> dict[str, Any]:
    """The stack output (and render table row) for one model."""
    return {
        "tensor": plan.gpus.tensor,
        "pipeline": plan.gpus.pipeline,
        "pods": plan.gpus.pods,
        "headGpus": plan.gpus.head_gpus,
        "workerGpus": plan.gpus.worker_gpus,
        "totalGpus": plan.gpus.total_gpus,
        "launcher": "ray" if plan.entrypoints and plan.entrypoints.uses_ray else (
            "single-pod" if not plan.gpus.multi_node else plan.config.launcher.type
        ),
        "apiUrl": plan.names.api_url(plan.config.api.port),
        "weights": plan.weights.description if plan.weights else "",
        # Claims the weights live on, created here or not: the offline diff knows what a namespace holds.
        "weightsClaims": list(weights_claims(plan)),
        "cache": plan.cache.description if plan.cache else "none",
        "network": plan.transport,
        "rdma": bool(plan.network and plan.network.rdma),
        "notes": list(plan.notes),
    }


class ApiKey(pulumi.ComponentResource):
    """The Secret behind VLLM_API_KEY, made from a Pulumi secret so it stays encrypted in state."""

    def __init__(self, name: str, namespace: str, secret: ObjectSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-fleet:index:ApiKey", name, None, opts)
        self.secret = _k8s.register(secret, namespace, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"secretName": secret.name})


def deploy(config: FleetConfig, plans: list[ModelPlan], api_key: Optional[ObjectSpec] = None) -> dict[str, Any]:
    depends: list[pulumi.Resource] = []
    if config.create_namespace:
        namespace = k8s.core.v1.Namespace(
            config.namespace,
            metadata={"name": config.namespace, "labels": common_labels("fleet", config.image, "namespace")},
            opts=pulumi.ResourceOptions(retain_on_delete=namespace_must_be_retained(plans)),
        )
        depends.append(namespace)

    key_fingerprint = None
    if api_key is not None:
        key = ApiKey(api_key.name, config.namespace, api_key, opts=pulumi.ResourceOptions(depends_on=depends))
        depends = [*depends, key]
    if config.api_key is not None:
        key_fingerprint = secret_fingerprint(config.api_key, config.namespace)

    summaries = {}
    for plan in plans:
        after_namespace = pulumi.ResourceOptions(depends_on=depends)
        needs: list[pulumi.Resource] = [
            ModelStorage(plan.name, ModelStorageArgs(namespace=plan.namespace, weights=plan.weights), opts=after_namespace)
        ]
        if plan.cache:
            needs.append(DatasetCache(plan.name, DatasetCacheArgs(plan.namespace, plan.cache), opts=after_namespace))
        if plan.network and plan.network.attachment:
            needs.append(RdmaNetwork(plan.name, RdmaNetworkArgs(plan.namespace, plan.network), opts=after_namespace))
        VllmCluster(
            plan.name,
            VllmClusterArgs(plan=plan, api_key_fingerprint=key_fingerprint),
            opts=pulumi.ResourceOptions(depends_on=[*depends, *needs]),
        )
        summaries[plan.name] = plan_summary(plan)
    return summaries
