"""DatasetCache: a model's Fluid Dataset, the cache runtime bound to it, and its warm-up DataLoads."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from . import _k8s
from .plugins.types import CachePlan


@dataclass(frozen=True)
class DatasetCacheArgs:
    namespace: str
    cache: CachePlan


class DatasetCache(pulumi.ComponentResource):
    """Fluid objects in the order Fluid acts on them: the runtime binds to the Dataset, loads need both."""

    dataset: pulumi.Output[str]
    runtime: pulumi.Output[str]
    claim: pulumi.Output[str]

    def __init__(self, name: str, args: DatasetCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-fleet:index:DatasetCache", name, None, opts)
        cache = args.cache
        child = pulumi.ResourceOptions(parent=self)
        self.dataset_resource = _k8s.register(cache.dataset, args.namespace, child)
        self.runtime_resource = _k8s.register(cache.runtime, args.namespace, child, depends_on=[self.dataset_resource])
        bound = [self.dataset_resource, self.runtime_resource]
        self.loads = [_k8s.register(load, args.namespace, child, depends_on=bound) for load in cache.loads]
        self.dataset = pulumi.Output.from_input(cache.dataset.name)
        self.runtime = pulumi.Output.from_input(f"{cache.runtime.kind}/{cache.runtime.name}")
        # Fluid creates a claim named after the Dataset; the vLLM pods mount it.
        self.claim = pulumi.Output.from_input(cache.dataset.name)
        self.register_outputs({
            "dataset": self.dataset,
            "runtime": self.runtime,
            "claim": self.claim,
            "loads": [load.name for load in cache.loads],
        })


__all__ = ["DatasetCache", "DatasetCacheArgs"]
