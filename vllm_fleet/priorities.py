"""Priority tiers: the PriorityClasses a stack creates, and the class each model's pods name.

A tier is what a model asks for (`priority: serving`); the stack maps it to a
PriorityClass it creates (`value`, `preemptionPolicy`) or to one the platform
already has (`className`). PriorityClasses are cluster-scoped, so the ones a
stack creates are named `<namespace>-<tier>`: staging and prod in one cluster
never overwrite each other's.
"""

from __future__ import annotations

from typing import Optional

from .config import FleetConfig, ModelConfig, PriorityTier
from .errors import PlanError
from .names import common_labels
from .plugins.types import ObjectSpec

PRIORITY_API = "scheduling.k8s.io/v1"


def priority_class_name(namespace: str, tier: str, spec: PriorityTier) -> str:
    return spec.class_name or f"{namespace}-{tier}"


def model_priority_class(config: FleetConfig, model: ModelConfig) -> Optional[str]:
    """The PriorityClass the model's pods name (None: the cluster's default priority)."""
    if model.priority is None:
        return None
    tier = config.priority_tiers.get(model.priority)
    if tier is None:
        defined = ", ".join(sorted(config.priority_tiers)) or "none (add vllm-fleet:priorityTiers)"
        raise PlanError(("priority",), f"unknown priority tier {model.priority!r}; tiers of this stack: {defined}")
    return priority_class_name(config.namespace, model.priority, tier)


def priority_classes(config: FleetConfig) -> tuple[ObjectSpec, ...]:
    """The PriorityClasses the stack creates: one per tier with a `value` (tiers with `className` reuse one)."""
    objects = []
    for tier, spec in sorted(config.priority_tiers.items()):
        if spec.value is None:
            continue
        body = {
            "value": spec.value,
            "preemptionPolicy": spec.preemption_policy,
            # Never the cluster default: pods of other teams must not silently take a tier of this stack.
            "globalDefault": False,
            "description": spec.description or f"vllm-fleet tier {tier!r} of namespace {config.namespace}",
        }
        name = priority_class_name(config.namespace, tier, spec)
        objects.append(ObjectSpec(PRIORITY_API, "PriorityClass", name, body, labels=common_labels("fleet", config.image, "priority"), namespaced=False))
    return tuple(objects)


__all__ = ["PRIORITY_API", "model_priority_class", "priority_class_name", "priority_classes"]
