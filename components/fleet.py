"""Builds the components for a planned fleet; the body of the Pulumi program."""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from . import _k8s
from vllm_fleet.config import FleetConfig
from vllm_fleet.names import common_labels
from vllm_fleet.plan import ModelPlan, namespace_must_be_retained, summarize
from .plugin_objects import PluginObjects
from vllm_fleet.plugins.types import ObjectGroup, ObjectSpec
from .vllm_cluster import VllmCluster, VllmClusterArgs

#: The component that holds what add-ons make once per stack (plan.stack_addon_objects).
STACK_ADDONS = "stack"
#: The component that holds the PriorityClasses of the stack's tiers (vllm_fleet/priorities.py).
PRIORITY_TIERS = "priorities"


class ApiKey(pulumi.ComponentResource):
    """The Secret behind VLLM_API_KEY, made from a Pulumi secret so it stays encrypted in state."""

    def __init__(self, name: str, namespace: str, secret: ObjectSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-fleet:index:ApiKey", name, None, opts)
        self.secret = _k8s.register(secret, namespace, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"secretName": secret.name})


def deploy(
    config: FleetConfig,
    plans: list[ModelPlan],
    api_key: Optional[ObjectSpec] = None,
    stack_objects: tuple[ObjectSpec, ...] = (),
    priority_classes: tuple[ObjectSpec, ...] = (),
) -> dict[str, Any]:
    depends: list[pulumi.Resource] = []
    if config.create_namespace:
        namespace = k8s.core.v1.Namespace(
            config.namespace,
            metadata={"name": config.namespace, "labels": common_labels("fleet", config.image, "namespace")},
            opts=pulumi.ResourceOptions(retain_on_delete=namespace_must_be_retained(plans)),
        )
        depends.append(namespace)

    if api_key is not None:
        key = ApiKey(api_key.name, config.namespace, api_key, opts=pulumi.ResourceOptions(depends_on=depends))
        depends = [*depends, key]

    if priority_classes:
        # The API server refuses a pod whose priorityClassName doesn't exist yet: the classes come first.
        tiers = PluginObjects(ObjectGroup("PriorityTiers", PRIORITY_TIERS, (priority_classes,)), config.namespace)
        depends = [*depends, tiers]

    summaries = {}
    for plan in plans:
        after_namespace = pulumi.ResourceOptions(depends_on=depends)
        first = [*plan.object_groups, *(group for group in plan.addon_groups if group.before_workload)]
        needs = [PluginObjects(group, plan.namespace, opts=after_namespace) for group in first]
        VllmCluster(
            plan.name,
            VllmClusterArgs(plan=plan),
            opts=pulumi.ResourceOptions(depends_on=[*depends, *needs]),
        )
        for group in plan.addon_groups:
            if not group.before_workload:
                PluginObjects(group, plan.namespace, opts=after_namespace)
        summaries[plan.name] = summarize(plan).to_output()
    if stack_objects:
        PluginObjects(ObjectGroup("AddOn", STACK_ADDONS, (stack_objects,)), config.namespace, opts=pulumi.ResourceOptions(depends_on=depends))
    return summaries
