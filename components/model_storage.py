"""ModelStorage: the claim (and whatever fills it) that holds a model's weights."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from . import _k8s
from .plugins.types import WeightsPlan


@dataclass(frozen=True)
class ModelStorageArgs:
    namespace: str
    weights: WeightsPlan


class ModelStorage(pulumi.ComponentResource):
    """Weights objects, protected from deletion and replacement unless a plugin opts out."""

    objects: pulumi.Output[list]

    def __init__(self, name: str, args: ModelStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-fleet:index:ModelStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # A fetch Job starts once its claim, script and token exist (no failed first attempts).
        first = [spec for spec in args.weights.objects if spec.kind != "Job"]
        self.resources = [_k8s.register(spec, args.namespace, child) for spec in first]
        self.resources += [
            _k8s.register(spec, args.namespace, child, depends_on=list(self.resources))
            for spec in args.weights.objects
            if spec.kind == "Job"
        ]
        self.objects = pulumi.Output.from_input([f"{s.kind}/{s.name}" for s in args.weights.objects])
        self.register_outputs({"objects": self.objects, "modelPath": args.weights.model_path})
