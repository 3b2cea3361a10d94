"""Plain data that plugins hand back: the plan's vocabulary for 'add this to the group'.

Plugins never call Pulumi. They describe objects (`ObjectSpec`) and pod additions
(`PodAdditions`); the components register and merge them. That keeps every
plugin testable without mocks and keeps one place that talks to Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional


@dataclass(frozen=True)
class ObjectSpec:
    """One Kubernetes object, minus metadata the component fills (namespace, common labels)."""

    api_version: str
    kind: str
    name: str
    body: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # Pulumi resource options: a claim holding weights is protected and retained.
    protect: bool = False
    retain_on_delete: bool = False
    namespaced: bool = True
    #: Fields (camelCase paths) another controller owns once the object exists: Pulumi sets them on
    #: create and never reverts them (an autoscaler's `spec.replicas`).
    ignore_changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplicaRange:
    """The groups an autoscaler add-on may run (`replica_range` hook); the workload is created at `minimum`."""

    minimum: int
    maximum: int
    #: A line for the plan table: what drives the scaling, where clients send requests.
    note: str = ""


@dataclass(frozen=True)
class DerivedName:
    """A name an object gets without being described here: made by an operator (Fluid) from ours.

    The plan checks it like our own names (length, collisions), because an
    operator whose StatefulSet name is too long fails in the cluster, long after
    `pulumi up` reported success. `kind` is the Kubernetes kind it names.
    """

    kind: str
    name: str
    #: Who makes it and from what, for the error message (e.g. "Fluid's AlluxioRuntime master").
    made_by: str
    namespaced: bool = True


@dataclass(frozen=True)
class PodAdditions:
    """What a plugin adds to every pod of a model's group (head and workers)."""

    volumes: tuple[dict[str, Any], ...] = ()
    volume_mounts: tuple[dict[str, Any], ...] = ()
    env: tuple[dict[str, Any], ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    extra_resources: dict[str, int] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    preferred_node_affinity: tuple[dict[str, Any], ...] = ()
    init_containers: tuple[dict[str, Any], ...] = ()

    def merge(self, other: "PodAdditions") -> "PodAdditions":
        return PodAdditions(
            volumes=self.volumes + other.volumes,
            volume_mounts=self.volume_mounts + other.volume_mounts,
            env=self.env + other.env,
            annotations={**self.annotations, **other.annotations},
            labels={**self.labels, **other.labels},
            extra_resources={**self.extra_resources, **other.extra_resources},
            capabilities=tuple(dict.fromkeys(self.capabilities + other.capabilities)),
            preferred_node_affinity=self.preferred_node_affinity + other.preferred_node_affinity,
            init_containers=self.init_containers + other.init_containers,
        )

    def replacing_volume(self, volume: dict[str, Any]) -> "PodAdditions":
        """The same additions with the volume of the same name swapped (mounts keep pointing at it)."""
        volumes = tuple(volume if v["name"] == volume["name"] else v for v in self.volumes)
        return replace(self, volumes=volumes)


@dataclass(frozen=True)
class Scheduling:
    """How a scheduler add-on takes over a model's pods: what its optional `scheduling()` hook returns.

    The core applies it before the workload builds its objects, so every
    workload gets it the same way: `scheduler_name` becomes each pod's
    `schedulerName`, `pod_labels`/`pod_annotations` go on each pod (a Volcano
    group name, a coscheduling PodGroup label), and `workload_labels`/
    `workload_annotations` go on the objects that run the groups (Kueue reads
    its queue from a LeaderWorkerSet's labels, LWS reads Volcano's queue from
    its annotations). One scheduler add-on per stack: two would race for the
    same GPUs.
    """

    scheduler_name: Optional[str] = None
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)
    workload_labels: dict[str, str] = field(default_factory=dict)
    workload_annotations: dict[str, str] = field(default_factory=dict)
    #: Pods of one gang: a group's whole pod count (0: the add-on makes no gangs).
    gang_size: int = 0
    #: What the plan table says about it (e.g. "volcano gang of 2").
    description: str = ""


@dataclass(frozen=True)
class SecretKeyRef:
    """A key of an existing Kubernetes Secret: credentials are referenced by name, never inlined."""

    name: str
    key: str

    def env(self, variable: str) -> dict[str, Any]:
        """The container env var that carries this key; the value never enters the pod spec."""
        return {"name": variable, "valueFrom": {"secretKeyRef": {"name": self.name, "key": self.key}}}


@dataclass(frozen=True)
class MountSource:
    """Where a cache can read the weights from, in runtime-neutral terms.

    `uri` is a Fluid mount point (`pvc://claim`, `s3://bucket/prefix/`, ...).
    `path` is where it appears inside the Dataset, so the model path under
    /models is the same with or without a cache. Each cache plugin maps
    endpoint, region and credentials to its own option names.
    """

    uri: str
    path: str = "/"
    endpoint: Optional[str] = None
    region: Optional[str] = None
    access_key_id: Optional[SecretKeyRef] = None
    secret_access_key: Optional[SecretKeyRef] = None

    @property
    def scheme(self) -> str:
        return self.uri.split("://", 1)[0] if "://" in self.uri else ""


@dataclass(frozen=True)
class WeightsPlan:
    """Where the weights are and how pods see them."""

    model_path: str
    objects: tuple[ObjectSpec, ...] = ()
    pod: PodAdditions = PodAdditions()
    description: str = ""
    #: How a cache reads these weights (None: the source can't be cached).
    mount: Optional[MountSource] = None
    #: True when `mount` reads the origin itself (a bucket), so with a cache the
    #: claim, fetch Job and wait (`objects`, `pod` minus the volume) are not needed.
    remote: bool = False
    #: Seconds pods may wait for the weights to arrive (a fetch Job), added to `pulumi up`'s wait.
    ready_timeout_seconds: int = 0
    #: What a pod needs to wait until the claim is filled (its volume and the bounded wait as an
    #: init container); a cache runs it before warming, so it never warms an empty claim.
    fill_check: Optional[PodAdditions] = None

    @property
    def stages(self) -> tuple[tuple[ObjectSpec, ...], ...]:
        """A fetch Job starts once its claim, script and token exist (no failed first attempts)."""
        jobs = tuple(spec for spec in self.objects if spec.kind == "Job")
        return (tuple(spec for spec in self.objects if spec.kind != "Job"), jobs)
    #: Settings keys that configure only the claim and its fetch: with a cache over a
    #: `remote` mount they are dropped, so setting one there is an error (it would do nothing).
    claim_settings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CachePlan:
    """A Fluid Dataset, its runtime (same name and namespace) and the DataLoads that warm it."""

    dataset: ObjectSpec
    runtime: ObjectSpec
    loads: tuple[ObjectSpec, ...] = ()
    #: URI schemes the runtime can mount, checked against every Dataset mount.
    schemes: tuple[str, ...] = ()
    description: str = ""
    #: The weights as pods see them through this cache (`fluid.read_through_cache`).
    weights: Optional[WeightsPlan] = None
    #: What Fluid makes from these objects (StatefulSets, DaemonSets, the claim, loader Jobs).
    derived_names: tuple[DerivedName, ...] = ()

    @property
    def objects(self) -> tuple[ObjectSpec, ...]:
        return (self.dataset, self.runtime, *self.loads)

    @property
    def stages(self) -> tuple[tuple[ObjectSpec, ...], ...]:
        """Fluid's order: the runtime binds to the Dataset, loads need both."""
        return ((self.dataset,), (self.runtime,), self.loads)


@dataclass(frozen=True)
class NetworkPlan:
    """A secondary network for the group's collective traffic, and what NCCL needs to use it.

    `attachment` is a Multus NetworkAttachmentDefinition, or None for fabrics that
    add no interface (the shared RDMA device plugin). `resource` is the device
    plugin resource every pod requests; an attachment's
    `k8s.v1.cni.cncf.io/resourceName` annotation must name the same one.
    """

    fabric: str
    interface: str
    attachment: Optional[ObjectSpec] = None
    resource: Optional[str] = None
    rdma: bool = True
    #: NCCL/Gloo defaults for this fabric; the stack's `transport.env` overrides them.
    env: dict[str, str] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    description: str = ""
    #: What the fabric adds to each pod (`multus.network_pod`): attachment request, device, capability.
    pod: PodAdditions = PodAdditions()
    #: What the fabric's operators make from the attachment, if anything (see `DerivedName`).
    derived_names: tuple[DerivedName, ...] = ()
    #: RDMA devices (units of `resource`, one interface each) per pod; `one_per_gpu`: as many as the pod's GPUs.
    devices_per_pod: int = 1
    one_per_gpu: bool = False

    def devices(self, gpus: int) -> int:
        """How many devices of `resource` a pod with `gpus` GPUs requests (and attachments it asks Multus for)."""
        return gpus if self.one_per_gpu else self.devices_per_pod


@dataclass(frozen=True)
class Probes:
    startup: Optional[dict[str, Any]] = None
    readiness: Optional[dict[str, Any]] = None
    liveness: Optional[dict[str, Any]] = None


@dataclass(frozen=True)
class Entrypoints:
    """The launcher's scripts (ConfigMap data) and how each role runs and is probed."""

    scripts: dict[str, str]
    head_command: tuple[str, ...]
    worker_command: tuple[str, ...] = ()
    head_probes: Probes = Probes()
    worker_probes: Probes = Probes()
    uses_ray: bool = False
    #: Seconds a pod may take from start to serving (group formation + model load).
    startup_budget_seconds: int = 0


@dataclass(frozen=True)
class Membership:
    """How a pod of one role finds its group under a workload: its head's address and its own index.

    `head_address` and `index` are container env entries (the launchers read
    VLLM_FLEET_HEAD_ADDRESS and VLLM_FLEET_POD_INDEX); `wrapper` runs in front of
    the role's command and exec probes when they must be computed at start, and
    `scripts` (ConfigMap data) holds it.
    """

    head_address: tuple[dict[str, Any], ...] = ()
    index: tuple[dict[str, Any], ...] = ()
    wrapper: tuple[str, ...] = ()
    scripts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupSelector:
    """How the scheduler tells one group's pods from another group's: what `placement` packs by.

    Every pod of the group carries `labels`; each key in `match_label_keys` is a
    label whose value differs per group (the API server adds the pod's own value
    to the selector, `podAffinityTerm.matchLabelKeys`). `strict_pack_annotation`:
    an annotation on the workload object that makes its controller place a group
    alone in a domain (LeaderWorkerSet's exclusive-topology), used instead of
    the core's anti-affinity.
    """

    labels: dict[str, str]
    match_label_keys: tuple[str, ...] = ()
    strict_pack_annotation: Optional[str] = None


@dataclass(frozen=True)
class PodPlacement:
    """Scheduling terms of one role's pods, from the model's `placement` (vllm_fleet/placement.py)."""

    pod_affinity: tuple[dict[str, Any], ...] = ()
    pod_anti_affinity: tuple[dict[str, Any], ...] = ()
    topology_spread: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class RolePlan:
    """One role of a model's group (head, worker; later prefill, decode) and how its pods run."""

    role: str
    #: The name its workload gives it (the StatefulSet `<model>-head`, `<model>-worker`).
    name: str
    #: Pods of this role in one group, and how many groups run side by side.
    pods_per_group: int
    replicas: int
    gpus_per_pod: int
    resources: dict[str, dict[str, Any]]
    command: tuple[str, ...]
    probes: Probes
    env: tuple[dict[str, Any], ...]
    #: The role that serves the API (the API Service selects its pods).
    serves_api: bool = False
    placement: PodPlacement = PodPlacement()
    #: The container's preStop handler: how a pod of this role lets the group drain before SIGTERM.
    pre_stop: Optional[dict[str, Any]] = None

    @property
    def pods(self) -> int:
        return self.pods_per_group * self.replicas

    @property
    def gpus(self) -> int:
        return self.pods * self.gpus_per_pod


@dataclass(frozen=True)
class ObjectGroup:
    """Objects one plugin adds, registered under one component; a stage waits for the stages before it."""

    #: The component type (`vllm-fleet:index:<component>`) and its name: both part of every object's URN.
    component: str
    name: str
    stages: tuple[tuple[ObjectSpec, ...], ...]
    #: The pods need these first (a PodGroup they name: created after them, the scheduler makes its own).
    before_workload: bool = False

    @property
    def objects(self) -> tuple[ObjectSpec, ...]:
        return tuple(spec for stage in self.stages for spec in stage)
