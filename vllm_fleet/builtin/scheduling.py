"""Gang schedulers as add-ons: each group of a model is scheduled whole or not at all.

Without a gang, a group's pods are scheduled one by one: the head of a TP=16
group can bind and hold 8 GPUs while its worker stays Pending, and two models
competing for the last nodes can each hold half of what they need, forever.
Each add-on here makes every group replica its own gang, of the group's whole
pod count (never less: a partial gang is the same failure):

- `volcano`: Volcano's scheduler. StatefulSets get one `scheduling.volcano.sh`
  PodGroup for their one group (pods name it in `scheduling.k8s.io/group-name`);
  a LeaderWorkerSet gets one per group from the LWS controller itself
  (`gangSchedulingManagement.schedulerProvider: volcano`, minMember = size).
- `coscheduling`: the scheduler-plugins scheduler. One `scheduling.x-k8s.io`
  PodGroup, named by a pod label, so one group per model.
- `kueue`: Kueue admits each LeaderWorkerSet group as one workload (its queue
  label is on the LWS); pods start only once their whole group is admitted.

A StatefulSet has one pod template for all its pods, so the StatefulSets of a
model with several groups can't name a gang per group: that, and every other
combination that can't give each group its own gang, is a config error at the
model's key that must change, saying what to use instead.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import Field

from ..sdk import DnsSubdomain, ModelPlan, ModelPlanError, ObjectSpec, PluginSettings, Scheduling

VOLCANO_API = "scheduling.volcano.sh/v1beta1"
COSCHEDULING_API = "scheduling.x-k8s.io/v1alpha1"
#: The pod annotation naming a pod's Volcano PodGroup (volcano.sh/apis KubeGroupNameAnnotationKey).
VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
#: The Volcano queue of a PodGroup Volcano (or the LWS controller) creates, read from a pod or an LWS.
VOLCANO_QUEUE_ANNOTATION = "scheduling.volcano.sh/queue-name"
COSCHEDULING_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
STATEFULSETS, LEADERWORKERSET = "statefulsets", "leaderworkerset"
WORKLOADS = (STATEFULSETS, LEADERWORKERSET)


#: Requests sized per GPU (the rest, GPUs and NICs, are devices counted per pod).
_PER_GPU = ("cpu", "memory")


def group_requests(plan: ModelPlan) -> dict[str, Any]:
    """What one whole group requests: a PodGroup's minResources (it starts only where all of it fits).

    CPU and memory are per GPU, so the group's are those of one pod holding all
    its GPUs. Devices (GPUs, NICs) are added up over the group's pods as each
    role requests them: a NIC per GPU on a rail-optimised fabric differs by role.
    """
    requests = {
        name: value for name, value in plan.pod_resources(plan.gpus.total_gpus)["requests"].items() if name in _PER_GPU
    }
    for role in plan.roles:
        for name, count in role.resources["requests"].items():
            if name not in _PER_GPU:
                requests[name] = requests.get(name, 0) + count * role.pods_per_group
    return requests


def _known_workload(plan: ModelPlan, addon: str) -> None:
    if plan.workload not in WORKLOADS:
        raise ModelPlanError(
            ("workload",),
            f"the {addon} add-on knows how {' and '.join(WORKLOADS)} group their pods, not {plan.workload!r}; "
            "use one of those, or drop the add-on",
        )


def _one_group_per_template(plan: ModelPlan, addon: str) -> None:
    """StatefulSets share one pod template across groups: with several groups, one gang would span them all."""
    if plan.workload == STATEFULSETS and plan.max_replicas > 1:
        raise ModelPlanError(
            ("workload",),
            f"statefulsets can't give each of the {plan.max_replicas} groups its own {addon} gang: every pod of a "
            "StatefulSet has the same template, so all groups would share one PodGroup; use "
            "workload: leaderworkerset (one gang per group), or replicas: 1",
        )


def _pod_group(plan: ModelPlan, api_version: str, spec: dict[str, Any]) -> ObjectSpec:
    """The model's one PodGroup, named like its group (`<model>-group`): minMember is the group's every pod."""
    body = {"minMember": plan.gpus.pods, "minResources": group_requests(plan), **spec}
    return ObjectSpec(api_version, "PodGroup", plan.names.group, {"spec": body}, labels=plan.labels("group"))


def _gang(plan: ModelPlan, scheduler: str, detail: str = "") -> str:
    """The plan table's word on it: `volcano, gangs of 2 (queue q)`."""
    gangs = f", gangs of {plan.gpus.pods}" if plan.gpus.pods > 1 else ""
    return f"{scheduler}{gangs}{detail}"


class VolcanoGangs:
    kind: ClassVar[str] = "addon"
    name: ClassVar[str] = "volcano"

    class Settings(PluginSettings):
        """Volcano schedules every pod; each group is one PodGroup of all its pods."""

        queue: Optional[DnsSubdomain] = Field(None, description="Volcano Queue the groups wait in (default: Volcano's `default` queue).")
        scheduler_name: DnsSubdomain = Field("volcano", description="The Volcano scheduler's name (pods' schedulerName).")

    def scheduling(self, settings: "VolcanoGangs.Settings", plan: ModelPlan) -> Scheduling:
        _known_workload(plan, self.name)
        queue = {VOLCANO_QUEUE_ANNOTATION: settings.queue} if settings.queue else {}
        detail = f" (queue {settings.queue})" if settings.queue else ""
        if plan.workload == LEADERWORKERSET:
            # The LWS controller (gangSchedulingManagement: volcano) makes each group's PodGroup, in the LWS's queue.
            return Scheduling(settings.scheduler_name, workload_annotations=queue, gang_size=plan.gpus.pods,
                              description=_gang(plan, self.name, detail))
        if plan.gpus.pods == 1:
            # Volcano gives a pod that names no group a PodGroup of its own (minMember 1), in the pod's queue.
            return Scheduling(settings.scheduler_name, pod_annotations=queue, gang_size=1, description=_gang(plan, self.name, detail))
        _one_group_per_template(plan, self.name)
        return Scheduling(
            settings.scheduler_name,
            pod_annotations={VOLCANO_GROUP_ANNOTATION: plan.names.group},
            gang_size=plan.gpus.pods,
            description=_gang(plan, self.name, detail),
        )

    def objects(self, settings: "VolcanoGangs.Settings", plan: ModelPlan) -> tuple[ObjectSpec, ...]:
        if plan.workload != STATEFULSETS or plan.gpus.pods == 1:
            return ()
        spec: dict[str, Any] = {}
        if settings.queue:
            spec["queue"] = settings.queue
        if plan.priority_class:
            # Volcano orders and preempts whole jobs by the PodGroup's priority.
            spec["priorityClassName"] = plan.priority_class
        return (_pod_group(plan, VOLCANO_API, spec),)


class CoschedulingGangs:
    kind: ClassVar[str] = "addon"
    name: ClassVar[str] = "coscheduling"

    class Settings(PluginSettings):
        """The scheduler-plugins scheduler with its Coscheduling plugin; one PodGroup per model."""

        scheduler_name: DnsSubdomain = Field(
            "scheduler-plugins-scheduler", description="The profile's schedulerName (scheduler-plugins as a second scheduler)."
        )
        schedule_timeout_seconds: Optional[int] = Field(
            None, gt=0, le=86400,
            description="Seconds a group's pods wait at Permit for the rest before all are sent back (default: the plugin's).",
        )

    def scheduling(self, settings: "CoschedulingGangs.Settings", plan: ModelPlan) -> Scheduling:
        if plan.gpus.pods == 1:
            return Scheduling(settings.scheduler_name, gang_size=1, description=_gang(plan, self.name))
        _known_workload(plan, self.name)
        if plan.max_replicas > 1:
            raise ModelPlanError(
                ("autoscaling", "maxReplicas") if plan.replica_range else ("replicas",),
                f"coscheduling names the PodGroup in the pod template, which all {plan.max_replicas} groups share: they "
                f"would be one gang of {plan.gpus.pods * plan.max_replicas} pods, not one per group; for several groups use "
                "the volcano add-on with workload: leaderworkerset (LWS makes a PodGroup per group) or kueue, or replicas: 1",
            )
        return Scheduling(
            settings.scheduler_name,
            pod_labels={COSCHEDULING_GROUP_LABEL: plan.names.group},
            gang_size=plan.gpus.pods,
            description=_gang(plan, self.name),
        )

    def objects(self, settings: "CoschedulingGangs.Settings", plan: ModelPlan) -> tuple[ObjectSpec, ...]:
        if plan.gpus.pods == 1:
            return ()
        _no_surge_group(plan)
        spec = {"scheduleTimeoutSeconds": settings.schedule_timeout_seconds} if settings.schedule_timeout_seconds else {}
        return (_pod_group(plan, COSCHEDULING_API, spec),)


def _no_surge_group(plan: ModelPlan) -> None:
    """A LeaderWorkerSet surge group carries the same PodGroup label as the running one: it would join it."""
    for spec in plan.workload_objects:
        if spec.kind != "LeaderWorkerSet":
            continue
        surge = spec.body["spec"].get("rolloutStrategy", {}).get("rollingUpdateConfiguration", {}).get("maxSurge", 0)
        if surge not in (0, "0%"):
            raise ModelPlanError(
                ("workload", "maxSurge"),
                f"a surge group would carry the running group's PodGroup label and count it as present, so it "
                f"would start without a gang (maxSurge {surge!r}); use maxSurge: 0 with coscheduling",
            )


class KueueAdmission:
    kind: ClassVar[str] = "addon"
    name: ClassVar[str] = "kueue"

    class Settings(PluginSettings):
        """Kueue admits each LeaderWorkerSet group as one workload, from a LocalQueue of the stack's namespace."""

        # A label value too, hence at most 63 characters.
        queue: DnsSubdomain = Field(max_length=63, description="The LocalQueue (in the stack's namespace) the groups are queued in.")

    def scheduling(self, settings: "KueueAdmission.Settings", plan: ModelPlan) -> Scheduling:
        _known_workload(plan, self.name)
        labels = {KUEUE_QUEUE_LABEL: settings.queue}
        description = _gang(plan, self.name, f" (queue {settings.queue})")
        if plan.workload == LEADERWORKERSET:
            return Scheduling(workload_labels=labels, gang_size=plan.gpus.pods, description=description)
        if plan.gpus.pods > 1:
            raise ModelPlanError(
                ("workload",),
                "Kueue admits each StatefulSet as one workload, so a group's head and worker StatefulSets would be "
                "admitted apart (a head holding its GPUs while its workers wait); use workload: leaderworkerset "
                "(Kueue admits each group whole)",
            )
        if plan.max_replicas > 1:
            raise ModelPlanError(
                ("workload",),
                f"Kueue admits a StatefulSet as one workload, so its {plan.max_replicas} groups would be admitted all "
                "together, not each on its own (and Kueue can't resize it); use workload: leaderworkerset",
            )
        return Scheduling(workload_labels=labels, gang_size=1, description=description)

    def objects(self, settings: "KueueAdmission.Settings", plan: ModelPlan) -> tuple[ObjectSpec, ...]:
        # The ClusterQueue, ResourceFlavors and LocalQueue are the platform's (quota is shared across teams).
        return ()
