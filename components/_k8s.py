"""Registers plugin-described objects (`ObjectSpec`) as Pulumi Kubernetes resources."""

from __future__ import annotations

import re
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from vllm_fleet.plugins.types import ObjectSpec
from vllm_fleet.stack_config import SecretValue

# Core kinds get their typed class (better previews); anything else is a CustomResource.
# The class is looked up on first use: pulumi-kubernetes imports an API group when it is
# first touched, and a stack without Jobs or RBAC objects need not pay for those modules.
_TYPED_MODULE = {
    ("v1", "PersistentVolumeClaim"): "core",
    ("v1", "Secret"): "core",
    ("v1", "ConfigMap"): "core",
    ("v1", "ServiceAccount"): "core",
    ("v1", "Service"): "core",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networking",
    ("apps/v1", "StatefulSet"): "apps",
    ("apps/v1", "Deployment"): "apps",
    ("rbac.authorization.k8s.io/v1", "Role"): "rbac",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rbac",
    ("batch/v1", "Job"): "batch",
    ("batch/v1", "CronJob"): "batch",
    ("scheduling.k8s.io/v1", "PriorityClass"): "scheduling",
}


def typed_class(api_version: str, kind: str) -> Optional[type]:
    """pulumi-kubernetes' class for a kind listed in `_TYPED_MODULE`, or None (a CustomResource)."""
    group = _TYPED_MODULE.get((api_version, kind))
    if group is None:
        return None
    return getattr(getattr(k8s, group).v1, kind)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def metadata(name: str, namespace: Optional[str], labels: dict, annotations: Optional[dict] = None) -> dict:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    return meta


def _secrets_as_outputs(value: Any) -> Any:
    """Plugins hand over secret config as `SecretValue`; Pulumi must see a secret Output.

    Then the state, previews and the offline render hold `[secret]`, never the text.
    """
    if isinstance(value, SecretValue):
        return pulumi.Output.secret(value.value)
    if isinstance(value, dict):
        return {key: _secrets_as_outputs(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_secrets_as_outputs(item) for item in value]
    return value


def register(
    spec: ObjectSpec,
    namespace: str,
    opts: pulumi.ResourceOptions,
    depends_on: Optional[list[pulumi.Resource]] = None,
    logical_name: Optional[str] = None,
) -> pulumi.CustomResource:
    """Registers `spec`; its Pulumi name is `<kind>-<name>` unless the caller keeps an older one."""
    meta = metadata(spec.name, namespace if spec.namespaced else None, spec.labels, spec.annotations)
    opts = pulumi.ResourceOptions.merge(
        opts,
        pulumi.ResourceOptions(
            protect=spec.protect,
            retain_on_delete=spec.retain_on_delete,
            depends_on=depends_on or [],
            ignore_changes=list(spec.ignore_changes) or None,
        ),
    )
    logical_name = logical_name or f"{spec.kind.lower()}-{spec.name}"
    typed = typed_class(spec.api_version, spec.kind)
    body = _secrets_as_outputs(spec.body)
    if typed is not None:
        body = {_snake(key): value for key, value in body.items()}
        return typed(logical_name, metadata=meta, **body, opts=opts)
    return k8s.apiextensions.CustomResource(
        logical_name, api_version=spec.api_version, kind=spec.kind, metadata=meta, **body, opts=opts
    )
