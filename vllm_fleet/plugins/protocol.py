"""The protocol every plugin implements, and the extra hook each kind adds.

A plugin is an object with `kind`, `name` and a pydantic `Settings` model
(`extra="forbid"` recommended: the core reports its errors with key paths).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from ..strict import StrictModel
from .types import CachePlan, Entrypoints, Membership, NetworkPlan, ObjectSpec, WeightsPlan

if TYPE_CHECKING:
    from ..plan import ModelPlan


class PluginSettings(StrictModel):
    """A base for plugin settings: the same key style and strictness as the core config."""


@runtime_checkable
class Plugin(Protocol):
    kind: ClassVar[str]
    name: ClassVar[str]
    Settings: ClassVar[type[BaseModel]]


class LauncherPlugin(Plugin, Protocol):
    #: True when every pod must hold the same GPU count (vLLM's native launcher).
    uniform_pods: ClassVar[bool]

    def entrypoints(self, settings: BaseModel, plan: "ModelPlan") -> Entrypoints:
        """Scripts and probes for the group. `plan.gpus` says how many pods and GPUs."""
        ...


class StoragePlugin(Plugin, Protocol):
    def weights(self, settings: BaseModel, plan: "ModelPlan") -> WeightsPlan:
        """Objects to create and the pod volume that exposes the weights read-only.

        Raise `plan.PlanError` for settings that cannot work with this plan
        (e.g. a ReadWriteOnce claim shared by pods on several nodes).
        """
        ...


class CachePlugin(Plugin, Protocol):
    def dataset(self, settings: BaseModel, plan: "ModelPlan", weights: WeightsPlan) -> CachePlan:
        """A Fluid Dataset over `weights.mount`, its runtime and warm-up DataLoads.

        The core checks the result (runtime and Dataset share name and namespace,
        DataLoads point at this Dataset, mount schemes are in `schemes`) and
        wires the pods: they mount the Dataset's claim and prefer its cache nodes.

        `CachePlan.derived_names` must list every object Fluid makes from these
        (the runtime's StatefulSets and DaemonSets, the Dataset's claim, loader
        Jobs): the plan checks their lengths and collisions like its own names.
        """
        ...


class NetworkPlugin(Plugin, Protocol):
    def attachment(self, settings: BaseModel, plan: "ModelPlan") -> NetworkPlan:
        """The NetworkAttachmentDefinition (if any), device resource and NCCL defaults of a fabric.

        `NetworkPlan.derived_names` lists objects the fabric's operators name
        after ours (none for the built-ins). The resource must not be the GPU's.
        """
        ...


class WorkloadPlugin(Plugin, Protocol):
    """Turns the role plans of a model (`plan.roles`) into the objects that run its groups."""

    def membership(self, settings: BaseModel, plan: "ModelPlan", role: str) -> Membership:
        """How a pod of `role` learns its head's address and its index in its group."""
        ...

    def objects(self, settings: BaseModel, plan: "ModelPlan") -> tuple[ObjectSpec, ...]:
        """The objects that run `plan.replicas` groups of `plan.roles` (pod templates: `sdk.pod_template`)."""
        ...

    # Optional: `group_selector(settings, plan) -> GroupSelector | None`, how one group's pods are told
    # apart; without it (or when it returns None) `placement.group` is a config error for this workload.


class AddonPlugin(Plugin, Protocol):
    """A per-model extra (a ServiceMonitor, a ScaledObject, a PodGroup) read from the model's plan."""

    def objects(self, settings: BaseModel, plan: "ModelPlan") -> tuple[ObjectSpec, ...]:
        """Objects to create beside the model's group; the plan is final (roles, names, replicas).

        A `PlanError` field is relative to the add-on's own entry (`("interval",)`
        reports `models[0].addons[1].interval`).
        """
        ...

    # Optional: `stack_objects(plans, settings_by_model) -> tuple[ObjectSpec, ...]`, objects made once
    # per stack from every model that names the add-on (e.g. one dashboard with a row per model).
    # `plan.stack_addon_objects` calls it with those models' plans and each one's settings.
    #
    # Optional: `scheduling(settings, plan) -> Scheduling`, for an add-on that schedules the model's
    # pods (a gang scheduler). Called once the roles are planned and before the workload builds its
    # objects (`plan.roles`, `plan.replicas`, `plan.workload` are set; `plan.workload_objects` is not);
    # the core puts its scheduler name, labels and annotations on every pod and workload object.
    # At most one add-on per stack may have it. A `Scheduling.gang_size` must be the group's whole
    # pod count. Raise `ModelPlanError` when the model's own keys (workload, replicas) can't give
    # each group its own gang: it is reported at the model's key (`models[2].workload`).

    # Optional: `replica_range(settings, plan) -> ReplicaRange`, for an add-on that scales the model's groups
    # (the autoscaling add-on). The plan runs it before the workload: the workload is created with `min`
    # groups (`minimum`), its `spec.replicas` is left to the autoscaler (`ObjectSpec.ignore_changes`), and the model's
    # own `replicas` key becomes an error. `plan` is the first plan (config, GPUs, names; no roles yet);
    # a `PlanError` field is relative to the add-on's entry, as for `objects`.


# Methods (besides kind/name/Settings) each kind must provide; checked at registration.
KIND_METHODS: dict[str, tuple[str, ...]] = {
    "launcher": ("entrypoints",),
    "storage": ("weights",),
    "cache": ("dataset",),
    "network": ("attachment",),
    "workload": ("membership", "objects"),
    "addon": ("objects",),
}
