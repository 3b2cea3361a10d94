"""PluginObjects: the one component that registers what a plugin describes (`ObjectGroup`).

Its type is the group's (`vllm-fleet:index:ModelStorage`, `DatasetCache`,
`RdmaNetwork`, `AddOn`), so every object keeps the URN it had when each of
those was a class of its own: a weights claim is never replaced by a refactor.
"""

from __future__ import annotations

import pulumi

from . import _k8s
from vllm_fleet.plugins.types import ObjectGroup


class PluginObjects(pulumi.ComponentResource):
    """Objects registered in stages: each stage starts once every object of the earlier stages exists."""

    objects: pulumi.Output[list]

    def __init__(self, group: ObjectGroup, namespace: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"vllm-fleet:index:{group.component}", group.name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.resources: list[pulumi.CustomResource] = []
        for stage in group.stages:
            earlier = list(self.resources)
            self.resources += [_k8s.register(spec, namespace, child, depends_on=earlier) for spec in stage]
        self.objects = pulumi.Output.from_input([f"{spec.kind}/{spec.name}" for spec in group.objects])
        self.register_outputs({"objects": self.objects})


__all__ = ["PluginObjects"]
