"""Workloads: the objects that run a model's groups, built from the same role plans.

`statefulsets` runs a head StatefulSet and a worker StatefulSet; with N groups
the head set has N pods and the worker set N×W, and worker ordinal k belongs
to group k // W (its head is `<model>-head-<g>`). Two StatefulSets can't be
scaled in lockstep, so only the config changes their size.

`leaderworkerset` runs one LeaderWorkerSet: a group is a leader and size−1
workers, and `replicas` groups scale as wholes (its scale subresource lets an
autoscaler add or remove complete groups).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import Field, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from ..constants import ANNOTATION_PULUMI_TIMEOUT, ANNOTATION_PULUMI_WAIT_FOR
from ..sdk import (
    ENTRYPOINT_DIR,
    HEAD,
    GroupSelector,
    Membership,
    ModelPlan,
    ObjectSpec,
    PlanError,
    PluginSettings,
    pod_template,
    render_template,
    selector_labels,
)

HEAD_ADDRESS_ENV = "VLLM_FLEET_HEAD_ADDRESS"
MEMBER_SCRIPT = "member.sh"
LWS_API = "leaderworkerset.x-k8s.io/v1"
ANNOTATION_EXCLUSIVE_TOPOLOGY = "leaderworkerset.sigs.k8s.io/exclusive-topology"
#: Set on every pod of one LWS group (the leader's webhook, the workers' StatefulSet), one value per group.
LWS_GROUP_KEY_LABEL = "leaderworkerset.sigs.k8s.io/group-key"
_POD_INDEX_LABEL = "metadata.labels['apps.kubernetes.io/pod-index']"


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def member_wrapper(
    plan: ModelPlan, ordinal: dict[str, Any], first_ordinal: int, groups: int, head_env: tuple[dict[str, Any], ...] = ()
) -> Membership:
    """A worker that learns its group and index from its ordinal at start (templates/workload/member.sh.j2)."""
    script = render_template(
        "workload/member.sh.j2",
        groups=groups,
        workers_per_group=plan.gpus.workers,
        first_ordinal=first_ordinal,
    )
    return Membership(
        index=(ordinal, *head_env),
        wrapper=("/bin/bash", f"{ENTRYPOINT_DIR}/{MEMBER_SCRIPT}"),
        scripts={MEMBER_SCRIPT: script},
    )


class StatefulSets:
    kind: ClassVar[str] = "workload"
    name: ClassVar[str] = "statefulsets"

    class Settings(PluginSettings):
        """No settings: a head StatefulSet and a worker StatefulSet, as many groups as `replicas`."""

    def membership(self, settings: "StatefulSets.Settings", plan: ModelPlan, role: str) -> Membership:
        names = plan.names
        # An autoscaled model's count changes at run time: its pods must not depend on it.
        if plan.replicas == 1 and plan.replica_range is None:
            address = ({"name": HEAD_ADDRESS_ENV, "value": names.head_address},)
            index = () if role == HEAD else (_field_env("VLLM_FLEET_POD_INDEX", _POD_INDEX_LABEL),)
            return Membership(head_address=address, index=index)
        if role == HEAD:
            # Each head is the head of its own group: its own stable DNS name.
            own = f"$(VLLM_FLEET_POD_NAME).{names.group_domain}"
            return Membership(head_address=(
                _field_env("VLLM_FLEET_POD_NAME", "metadata.name"),
                {"name": HEAD_ADDRESS_ENV, "value": own},
            ))
        head = ({"name": "VLLM_FLEET_HEAD_NAME", "value": names.head}, {"name": "VLLM_FLEET_GROUP_DOMAIN", "value": names.group_domain})
        ordinal = _field_env("VLLM_FLEET_MEMBER_ORDINAL", _POD_INDEX_LABEL)
        return member_wrapper(plan, ordinal, first_ordinal=0, groups=plan.replicas, head_env=head)

    def group_selector(self, settings: "StatefulSets.Settings", plan: ModelPlan) -> Optional[GroupSelector]:
        """With one group every pod of the model is the group; with more (or an autoscaler that may add some),
        workers learn their group only at start."""
        return GroupSelector(selector_labels(plan.name)) if plan.max_replicas == 1 else None

    def objects(self, settings: "StatefulSets.Settings", plan: ModelPlan) -> tuple[ObjectSpec, ...]:
        timeout = {ANNOTATION_PULUMI_TIMEOUT: str(plan.await_timeout_seconds)}
        return tuple(
            ObjectSpec(
                "apps/v1",
                "StatefulSet",
                role.name,
                {"spec": {
                    "replicas": role.pods,
                    "serviceName": plan.names.group,
                    # Group members start together; ordered start would serialise the wait.
                    "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": selector_labels(plan.name, role.role)},
                    "template": pod_template(plan, role),
                }},
                labels=plan.labels(role.role),
                annotations=timeout,
            )
            for role in plan.roles
        )


def _int_or_percent(value: Any) -> Union[int, str]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,3}%", value):
        return value
    raise PydanticCustomError("int_or_percent", f"must be a number of groups (0, 1, …) or a percentage ('25%'), got {value!r}")


#: A count of groups or a percentage of them, as the LWS rolling update takes it.
IntOrPercent = Annotated[
    Union[int, str],
    PlainValidator(_int_or_percent),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]{1,3}%$"}]}),
]


class LeaderWorkerSet:
    kind: ClassVar[str] = "workload"
    name: ClassVar[str] = "leaderworkerset"

    class Settings(PluginSettings):
        restart_policy: Literal["RecreateGroupOnPodRestart", "RecreateGroupAfterStart", "None"] = Field(
            "RecreateGroupOnPodRestart",
            description="RecreateGroupOnPodRestart: a restarted member recreates its whole group (a group can't lose a rank).",
        )
        startup_policy: Literal["LeaderCreated", "LeaderReady"] = Field(
            "LeaderCreated",
            description="LeaderCreated: workers start with the leader. LeaderReady only for one-pod groups: a group's leader is ready only once its workers joined.",
        )
        max_unavailable: IntOrPercent = Field(1, description="Groups a rolling update may take down at once (int or %).")
        max_surge: IntOrPercent = Field(0, description="Extra groups a rolling update may start (int or %); each costs a group's GPUs.")
        exclusive_topology: Optional[str] = Field(
            None, description="Topology key: one group per domain, alone in it (the same as placement strict-pack; prefer that)."
        )
        subdomain_policy: Literal["Shared", "UniquePerReplica"] = Field(
            "Shared", description="Shared: one headless Service for all groups; UniquePerReplica: one per group."
        )

        @model_validator(mode="after")
        def _rollout_can_progress(self) -> "LeaderWorkerSet.Settings":
            if self.max_unavailable in (0, "0%") and self.max_surge in (0, "0%"):
                raise ValueError("maxUnavailable and maxSurge can't both be 0: a rolling update could never progress")
            return self

    def membership(self, settings: "LeaderWorkerSet.Settings", plan: ModelPlan, role: str) -> Membership:
        # LWS puts its variables first in every container, so `$(...)` sees them.
        address = ({"name": HEAD_ADDRESS_ENV, "value": "$(LWS_LEADER_ADDRESS)"},)
        if role == HEAD:
            return Membership(head_address=address)
        ordinal = {"name": "VLLM_FLEET_MEMBER_ORDINAL", "value": "$(LWS_WORKER_INDEX)"}
        # Worker index 0 is the leader: the first worker is 1, and each group numbers its own.
        wrapper = member_wrapper(plan, ordinal, first_ordinal=1, groups=1)
        return Membership(address, wrapper.index, wrapper.wrapper, wrapper.scripts)

    def group_selector(self, settings: "LeaderWorkerSet.Settings", plan: ModelPlan) -> GroupSelector:
        # strict-pack is LWS's own exclusive placement: its webhook adds affinity and anti-affinity per group.
        return GroupSelector(selector_labels(plan.name), (LWS_GROUP_KEY_LABEL,), ANNOTATION_EXCLUSIVE_TOPOLOGY)

    def _exclusive_topology(self, settings: "LeaderWorkerSet.Settings", plan: ModelPlan) -> Optional[str]:
        placement = plan.config.placement
        if settings.exclusive_topology and placement.group:
            raise PlanError(
                ("workload", "exclusiveTopology"),
                f"placement.group ({placement.group}) already places each group; set placement "
                "(strict-pack is this annotation) or exclusiveTopology, not both",
            )
        return placement.topology_key if placement.group == "strict-pack" else settings.exclusive_topology

    def objects(self, settings: "LeaderWorkerSet.Settings", plan: ModelPlan) -> tuple[ObjectSpec, ...]:
        leader, *workers = plan.roles
        if len(workers) > 1:
            raise PlanError(("workload",), f"a LeaderWorkerSet has one leader and one worker template, not {len(plan.roles)} roles")
        if settings.startup_policy == "LeaderReady" and workers:
            raise PlanError(
                ("workload", "startupPolicy"),
                "LeaderReady would never start the workers: the leader turns ready only once its workers joined; use LeaderCreated",
            )
        template: dict[str, Any] = {
            "size": plan.gpus.pods,
            "restartPolicy": settings.restart_policy,
            "workerTemplate": pod_template(plan, workers[0] if workers else leader),
        }
        if workers:
            template["leaderTemplate"] = pod_template(plan, leader)
        spec = {
            "replicas": plan.replicas,
            "startupPolicy": settings.startup_policy,
            "leaderWorkerTemplate": template,
            "rolloutStrategy": {
                "type": "RollingUpdate",
                "rollingUpdateConfiguration": {"maxUnavailable": settings.max_unavailable, "maxSurge": settings.max_surge},
            },
            # The Shared headless Service is the model's group Service (same name): LWS reuses it.
            "networkConfig": {"subdomainPolicy": settings.subdomain_policy},
        }
        # `pulumi up` waits, as for the StatefulSets, until every group is ready (LWS sets Available only then),
        # within the budget the plan allows for fetching the weights and starting the engine.
        annotations = {ANNOTATION_PULUMI_WAIT_FOR: "condition=Available", ANNOTATION_PULUMI_TIMEOUT: str(plan.await_timeout_seconds)}
        exclusive = self._exclusive_topology(settings, plan)
        if exclusive:
            annotations[ANNOTATION_EXCLUSIVE_TOPOLOGY] = exclusive
        return (ObjectSpec(LWS_API, "LeaderWorkerSet", plan.names.group, {"spec": spec}, labels=plan.labels("group"), annotations=annotations),)
