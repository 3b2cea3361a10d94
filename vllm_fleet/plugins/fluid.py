"""Fluid wiring, shared by every cache plugin: what Fluid needs, and how pods read through a cache.

Cache plugins call `read_through_cache` to say how the pods see the weights
(`CachePlan.weights`); the plan runs `check_cache` on whatever a plugin returns,
so a third-party runtime that gets the pairing wrong fails in the plan, not in
the cluster.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..constants import FLUID_API
from ..errors import PlanError
from .types import CachePlan, WeightsPlan
from .weights import claim_mount

if TYPE_CHECKING:
    from ..plan import ModelPlan


def fluid_cache_label(namespace: str, dataset: str) -> str:
    """The label Fluid puts on the nodes that hold a Dataset's cache."""
    return f"fluid.io/s-{namespace}-{dataset}"


def check_cache(cache: CachePlan, plan: "ModelPlan", weights: WeightsPlan) -> None:
    """What Fluid needs to bind and warm a cache; a plugin that gets it wrong fails here, not in the cluster."""
    dataset, runtime = cache.dataset, cache.runtime
    if (dataset.api_version, dataset.kind) != (FLUID_API, "Dataset"):
        raise PlanError(("cache",), f"a cache plugin must describe a {FLUID_API} Dataset, got {dataset.api_version} {dataset.kind}")
    if runtime.name != dataset.name or not (runtime.namespaced and dataset.namespaced):
        raise PlanError(
            ("cache",),
            f"{runtime.kind} {runtime.name!r} and Dataset {dataset.name!r} must share name and namespace: "
            "that pairing is how Fluid binds a runtime to its Dataset",
        )
    for mount in dataset.body.get("spec", {}).get("mounts", []):
        uri = mount.get("mountPoint", "")
        scheme = uri.split("://", 1)[0] if "://" in uri else ""
        if scheme not in cache.schemes:
            supported = ", ".join(f"{s}://" for s in cache.schemes)
            raise PlanError(
                ("cache", "mount", "uri"),
                f"{runtime.kind} can't mount {uri!r}; supported schemes: {supported}"
                + ("" if "://" in uri else " (a mount URI needs a scheme)"),
            )
    for load in cache.loads:
        target = load.body.get("spec", {}).get("dataset", {})
        where = (target.get("namespace", plan.namespace), target.get("name"))
        if where != (plan.namespace, dataset.name):
            raise PlanError(
                ("cache", "warmup"),
                f"DataLoad {load.name!r} points at Dataset {where[0]}/{where[1]}, not at its own "
                f"{plan.namespace}/{dataset.name}",
            )
    claims = {o.name for o in weights.objects if o.kind == "PersistentVolumeClaim"}
    if dataset.name in claims:
        raise PlanError(("cache",), f"Dataset {dataset.name!r} would share its claim name with the weights claim; rename one")
    label = fluid_cache_label(plan.namespace, dataset.name)
    if len(label.split("/", 1)[1]) > 63:
        raise PlanError(("cache",), f"Fluid's node label {label!r} would exceed 63 characters; shorten the namespace or model name")


def read_through_cache(weights: WeightsPlan, cache: CachePlan, namespace: str) -> WeightsPlan:
    """Pods read the Dataset's claim instead of the raw storage, and prefer the nodes that hold the cache.

    Where the cache reads the origin itself (a bucket) the staging claim, its
    fetch Job and the wait for it are dropped: Fluid fetches on first read.
    """
    volume = claim_mount(cache.dataset.name)
    pod = volume if weights.remote else weights.pod.replacing_volume(volume.volumes[0])
    near_cache = {
        "weight": 100,
        "preference": {"matchExpressions": [
            {"key": fluid_cache_label(namespace, cache.dataset.name), "operator": "In", "values": ["true"]}
        ]},
    }
    pod = replace(pod, preferred_node_affinity=pod.preferred_node_affinity + (near_cache,))
    via = f"{weights.description} via {cache.description}" if cache.description else weights.description
    if weights.remote:
        # No claim is made: say only where the cache reads from.
        origin = weights.mount.uri if weights.mount else weights.description
        via = f"{origin} via {cache.description}" if cache.description else origin
        return replace(weights, objects=(), pod=pod, ready_timeout_seconds=0, description=via)
    return replace(weights, pod=pod, description=via)
