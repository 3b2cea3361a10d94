"""The plan: pure functions from a validated fleet to numbers, names and ranks.

Nothing here talks to Pulumi. Components only translate a `ModelPlan` into
objects, so every count a pod will request is decided (and unit-tested) here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

from .capacity.gpus import mig_profile
from .capacity_plan import CapacityPlan, pin_accelerator, plan_capacity, pricing_issues
from .config import ApiAccess, Fleet, ModelConfig, ModelSpec, NodePool, SelectedPlugin, TransportConfig
from .constants import API_KEY_SECRET, API_KEY_SECRET_KEY, API_PORT, DRAIN_TEARDOWN_SECONDS, WEIGHTS_VOLUME
from .engine_args import engine_flags
from .errors import ConfigError, Issue, ModelPlanError, PlanError, key_path
from .gpu_plan import GpuPlan, plan_gpus
from .names import Names, common_labels
from .placement import check_group_selector, check_placement, group_selector
from .placement import describe as describe_placement
from .plugins.fluid import check_cache
from .plugins.multus import check_devices, check_network
from .plugins.types import (
    CachePlan,
    Entrypoints,
    NetworkPlan,
    ObjectGroup,
    ObjectSpec,
    PodAdditions,
    ReplicaRange,
    RolePlan,
    Scheduling,
    SecretKeyRef,
    WeightsPlan,
)
from .priorities import model_priority_class, priority_classes
from .quantity import format_bytes, format_cpu, parse_quantity
from .roles import plan_roles
from .stack_config import SecretValue
from .secret_fingerprint import secret_fingerprint
from .summary import PlanSummary
from .validators import OBJECT_DATA_MAX_BYTES, dns_subdomain_problem
from .vllm_args.argv_check import image_note, serve_arg_findings
from .vllm_args.check import checker_for


# --------------------------------------------------------------- model plan


@dataclass(frozen=True)
class ModelPlan:
    config: ModelConfig
    namespace: str
    image: str
    image_pull_secrets: tuple[str, ...]
    node_pool: NodePool
    gpus: GpuPlan
    names: Names
    api_port: int = API_PORT
    weights: Optional[WeightsPlan] = None
    entrypoints: Optional[Entrypoints] = None
    pod: PodAdditions = PodAdditions()
    serve_args: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Where the head reads VLLM_API_KEY, when the stack sets a key.
    api_key: Optional[SecretKeyRef] = None
    #: Changes with the API key (vllm_fleet/secret_fingerprint.py): the pods that read the key roll on rotation.
    api_key_fingerprint: Optional[str] = None
    api_access: Optional[ApiAccess] = None
    cache: Optional[CachePlan] = None
    network: Optional[NetworkPlan] = None
    #: The stack's Hugging Face token, for a source that downloads gated weights.
    hf_token: Optional[SecretValue] = None
    #: Independent groups behind the model's one API Service; with an autoscaler, the fewest (what is created).
    replicas: int = 1
    #: (min, max) groups an autoscaler add-on may run (`replica_range` hook); None: always `replicas`.
    replica_range: Optional[tuple[int, int]] = None
    workload: str = ""
    #: Each role of one group (head first: it serves the API), as `plan_roles` made it.
    roles: tuple[RolePlan, ...] = ()
    #: What runs the groups (the workload plugin's objects), and what the other plugins add.
    workload_objects: tuple[ObjectSpec, ...] = ()
    object_groups: tuple[ObjectGroup, ...] = ()
    addon_groups: tuple[ObjectGroup, ...] = ()
    #: The GPU type and the memory plan of the fullest GPU (vllm_fleet/capacity_plan.py).
    capacity: CapacityPlan = CapacityPlan()
    #: Findings that don't stop the deploy, each with its key path (the CLI prints them).
    warnings: tuple[str, ...] = ()
    #: The PriorityClass every pod names (None: the cluster's default priority), from the model's tier.
    priority_class: Optional[str] = None
    #: How a scheduler add-on (`scheduler`, its name) takes over the pods; None: the default scheduler.
    scheduling: Optional[Scheduling] = None
    scheduler: str = ""

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def served_model_name(self) -> str:
        return self.config.served_model_name or self.config.model

    def labels(self, component: Optional[str] = None) -> dict[str, str]:
        return common_labels(self.name, self.image, component)

    def pod_resources(self, gpus: int) -> dict[str, dict[str, Any]]:
        """Requests and limits of one pod: GPUs exactly as planned, CPU/memory per GPU."""
        cpu = parse_quantity(self.config.resources.cpu_per_gpu) * gpus
        memory = parse_quantity(self.config.resources.memory_per_gpu) * gpus
        devices = {self.node_pool.gpu_resource: gpus, **self.pod.extra_resources}
        if self.network and self.network.resource:
            devices[self.network.resource] = self.network.devices(gpus)
        return {
            "requests": {"cpu": format_cpu(cpu), "memory": format_bytes(memory), **devices},
            "limits": {"memory": format_bytes(memory), **devices},
        }

    @property
    def await_timeout_seconds(self) -> int:
        """How long `pulumi up` waits for the StatefulSets (its 10-minute default is too short)."""
        budget = self.entrypoints.startup_budget_seconds if self.entrypoints else 0
        fetch = self.weights.ready_timeout_seconds if self.weights else 0
        return budget + fetch + 300

    @property
    def termination_grace_seconds(self) -> int:
        """A stopping pod's whole budget: the preStop endpoint delay, vLLM's drain, then its teardown."""
        drain = self.config.drain
        return drain.endpoint_delay_seconds + drain.timeout_seconds + DRAIN_TEARDOWN_SECONDS

    @property
    def total_gpus(self) -> int:
        """Every GPU the model requests: its groups × TP×PP."""
        return sum(role.gpus for role in self.roles)

    @property
    def min_replicas(self) -> int:
        return self.replica_range[0] if self.replica_range else self.replicas

    @property
    def max_replicas(self) -> int:
        return self.replica_range[1] if self.replica_range else self.replicas

    @property
    def api_role(self) -> RolePlan:
        return next(role for role in self.roles if role.serves_api)

    @property
    def transport(self) -> str:
        """How the group's collectives travel, said plainly so nobody assumes RDMA they lack."""
        if self.network:
            return self.network.description
        if self.gpus.multi_node:
            return "pod network (TCP, no RDMA)"
        return "in-pod (single pod)"


def base_serve_args(plan: ModelPlan, model_path: str) -> tuple[str, ...]:
    """`vllm serve` argv shared by every launcher; launchers append their own flags."""
    return (
        model_path,
        "--served-model-name", plan.served_model_name,
        "--tensor-parallel-size", str(plan.gpus.tensor),
        "--pipeline-parallel-size", str(plan.gpus.pipeline),
        "--host", "0.0.0.0",
        # SIGTERM drains: new requests get 503, in-flight ones finish (0, vLLM's default, aborts them).
        "--shutdown-timeout", str(plan.config.drain.timeout_seconds),
        "--port", str(plan.api_port),
        *engine_flags(plan.config.engine_args, checker_for(plan.image).schema),
    )


def check_network_resource(network: NetworkPlan, node_pool: NodePool) -> None:
    """Pods request the GPU and the fabric's device by resource name; one name can't be both."""
    if network.resource and network.resource == node_pool.gpu_resource:
        raise PlanError(
            ("network", "resourceName"),
            f"{network.resource!r} is the GPU resource (nodePool.gpuResource); requesting it for the network "
            "would replace the pod's GPU request. Name the NIC pool's device-plugin resource",
        )


def check_mig(gpus: GpuPlan, node_pool: NodePool) -> None:
    """A MIG slice is an isolated part of one GPU: no NVLink or P2P to another slice, so it can't join a TP/PP group."""
    if mig_profile(node_pool.gpu_resource) and gpus.total_gpus > 1:
        raise PlanError(
            ("parallelism",),
            f"TP×PP = {gpus.total_gpus} on MIG slices ({node_pool.gpu_resource}, nodePool.gpuResource): a slice can't "
            "take part in tensor or pipeline parallelism across devices; use TP×PP = 1 (one slice) or a whole-GPU "
            "resource such as nvidia.com/gpu",
        )


def check_claim_sizes(weights: WeightsPlan) -> None:
    """A claim the plan still makes needs a size (a source may leave it out only when a cache reads the origin)."""
    for claim in weights.objects:
        requests = claim.body.get("spec", {}).get("resources", {}).get("requests", {})
        if claim.kind == "PersistentVolumeClaim" and requests.get("storage") is None:
            raise PlanError(
                ("storage", "size"),
                f"required key is missing: the claim {claim.name!r} needs a size like 500Gi "
                "(only a bucket read through a cache makes no claim)",
            )


def transport_env(network: Optional[NetworkPlan], transport: TransportConfig) -> dict[str, str]:
    """The fabric's NCCL/Gloo defaults, then the stack's overrides, then verification."""
    env = dict(network.env) if network else {}
    env.update({name: str(value) for name, value in transport.env.items()})
    if transport.verify:
        # TRACE with INIT,NET prints the transport of every channel and little else.
        env["NCCL_DEBUG"] = "TRACE"
        env.setdefault("NCCL_DEBUG_SUBSYS", "INIT,NET")
    return env


# -------------------------------------------------------------- model plan


def _with_root(selected: SelectedPlugin, call: Callable[..., Any], *args: Any) -> Any:
    """Runs a plugin hook (or a check of its result); errors point at the key that chose the plugin."""
    try:
        return call(*args)
    except PlanError as error:
        raise PlanError(error.field, error.message, root=error.root or selected.path[:-1]) from None


def _first_plan(spec: ModelSpec, fleet: Fleet) -> ModelPlan:
    """What the config says directly: image, node pool, GPUs per pod, names; plugins fill the rest."""
    config = spec.config
    pool_path = key_path(spec.path + ("nodePool",)) if config.node_pool else key_path(("nodePool",))
    node_pool = pin_accelerator(config, config.node_pool or fleet.config.node_pool, pool_path)
    gpus = plan_gpus(
        config.parallelism.tensor,
        config.parallelism.pipeline,
        node_pool.gpus_per_node,
        config.gpus_per_pod,
        uniform_pods=spec.plugins["launcher"].plugin.uniform_pods,
    )
    check_mig(gpus, node_pool)
    return ModelPlan(
        config=config,
        namespace=fleet.config.namespace,
        image=config.image or fleet.config.image,
        image_pull_secrets=tuple(fleet.config.image_pull_secrets),
        node_pool=node_pool,
        gpus=gpus,
        names=Names(config.name, fleet.config.namespace),
        notes=gpus.notes,
        api_key=SecretKeyRef(API_KEY_SECRET, API_KEY_SECRET_KEY) if fleet.config.api_key is not None else None,
        api_key_fingerprint=(
            secret_fingerprint(fleet.config.api_key, fleet.config.namespace) if fleet.config.api_key is not None else None
        ),
        api_access=fleet.config.api_access,
        hf_token=fleet.config.hf_token,
        replicas=config.replicas,
        priority_class=model_priority_class(fleet.config, config),
    )


def _cache(spec: ModelSpec, plan: ModelPlan, weights: WeightsPlan) -> Optional[CachePlan]:
    if "cache" not in spec.plugins:
        return None
    selected = spec.plugins["cache"]
    cache = _with_root(selected, selected.plugin.dataset, selected.settings, plan, weights)
    _with_root(selected, check_cache, cache, plan, weights)
    if cache.weights is None:
        raise PlanError(("cache",), "the cache plugin didn't say how pods read the weights through it (CachePlan.weights)", root=selected.path[:-1])
    return cache


def _network(spec: ModelSpec, plan: ModelPlan) -> Optional[NetworkPlan]:
    if "network" not in spec.plugins:
        return None
    selected = spec.plugins["network"]
    network = _with_root(selected, selected.plugin.attachment, selected.settings, plan)
    _with_root(selected, check_network, network)
    _with_root(selected, check_network_resource, network, plan.node_pool)
    _with_root(selected, check_devices, network, plan.gpus.pod_gpus(), plan.node_pool.rdma_devices_per_node)
    return network


def _data_plane(spec: ModelSpec, fleet: Fleet, plan: ModelPlan) -> ModelPlan:
    """Weights, cache and network: what they create, and what each adds to every pod."""
    storage = spec.plugins["storage"]
    weights = _with_root(storage, storage.plugin.weights, storage.settings, plan)
    cache = _cache(spec, plan, weights)
    _with_root(storage, check_claim_sizes, cache.weights if cache else weights)
    network = _network(spec, plan)
    pods_see = cache.weights if cache else weights
    pod = pods_see.pod.merge(network.pod) if network else pods_see.pod
    env = transport_env(network, fleet.config.transport)
    pod = pod.merge(PodAdditions(env=tuple({"name": k, "value": v} for k, v in sorted(env.items()))))
    notes = list(plan.notes)
    version_note = image_note(plan, "models[%d].image" % spec.index if spec.config.image else "image")
    if version_note:
        notes.append(version_note)
    if fleet.config.transport.verify and plan.gpus.multi_node:
        notes.append("transport verification on (NCCL_DEBUG=TRACE): `via NET/IB` in the logs is RDMA, `via NET/Socket` is TCP")
    groups = [ObjectGroup("ModelStorage", plan.name, pods_see.stages)]
    if cache:
        groups.append(ObjectGroup("DatasetCache", plan.name, cache.stages))
    if network and network.attachment:
        groups.append(ObjectGroup("RdmaNetwork", plan.name, ((network.attachment,),)))
    return replace(
        plan,
        weights=pods_see,
        cache=cache,
        network=network,
        pod=pod,
        serve_args=base_serve_args(plan, pods_see.model_path),
        notes=tuple(notes),
        object_groups=tuple(groups),
    )


def _workload(spec: ModelSpec, plan: ModelPlan) -> ModelPlan:
    """The role plans, and the objects the chosen workload runs them with."""
    selected = spec.plugins.get("workload")
    if selected is None:
        raise PlanError(("workload",), "a model needs a workload to run its groups: statefulsets or leaderworkerset")
    # Placement errors point into the model (`models[i].placement`), whichever key chose the workload.
    check_placement(plan.config.placement, plan.gpus, plan.node_pool)
    check_group_selector(plan.config.placement, group_selector(selected, plan), selected.plugin.name, plan.max_replicas)
    roles, scripts = _with_root(selected, plan_roles, plan, selected)
    entrypoints = replace(plan.entrypoints, scripts={**plan.entrypoints.scripts, **scripts})
    plan = _scheduling(spec, replace(plan, roles=roles, entrypoints=entrypoints, workload=selected.plugin.name))
    objects = tuple(_with_root(selected, selected.plugin.objects, selected.settings, plan))
    if plan.replica_range:
        # The autoscaler owns the live count: Pulumi sets it at creation and never reverts it.
        objects = tuple(
            replace(o, ignore_changes=(*o.ignore_changes, "spec.replicas")) if "replicas" in o.body.get("spec", {}) else o
            for o in objects
        )
    return replace(plan, workload_objects=tuple(_scheduled(obj, plan.scheduling) for obj in objects))


#: The optional add-on hook of a scheduler add-on (see plugins/protocol.py).
SCHEDULING_HOOK = "scheduling"


def _addon_call(selected: SelectedPlugin, call: Callable[..., Any], *args: Any) -> Any:
    """Runs an add-on hook: its errors point into its own entry (`addons[i].<field>`), a `ModelPlanError` at the model."""
    try:
        return call(*args)
    except ModelPlanError:
        raise
    except PlanError as error:
        raise PlanError(error.field, error.message, root=selected.path) from None


#: The optional add-on hook through which an autoscaler sets the model's group range (see plugins/protocol.py).
REPLICA_RANGE_HOOK = "replica_range"


def _replica_range(spec: ModelSpec, plan: ModelPlan) -> ModelPlan:
    """The groups an autoscaler add-on may run; the model starts at the fewest."""
    scalers = [selected for selected in spec.addons if hasattr(selected.plugin, REPLICA_RANGE_HOOK)]
    if not scalers:
        return plan
    first = scalers[0]
    if len(scalers) > 1:
        raise PlanError(("type",), f"{scalers[1].plugin.name!r} and {key_path(first.path, '')} ({first.plugin.name}) both scale this model; keep one", root=scalers[1].path)
    scaling: ReplicaRange = _addon_call(first, getattr(first.plugin, REPLICA_RANGE_HOOK), first.settings, plan)
    low, high = scaling.minimum, scaling.maximum
    if "replicas" in spec.config.model_fields_set:
        raise PlanError(
            ("replicas",),
            f"has no effect: {key_path(first.path, '')} scales this model between {low} and {high} groups; remove replicas",
        )
    note = f"{first.plugin.name}: {low}–{high} groups{', ' + scaling.note if scaling.note else ''}; `pulumi up` leaves the live count to it"
    return replace(plan, replicas=low, replica_range=(low, high), notes=(*plan.notes, note))


def _addon_objects(selected: SelectedPlugin, plan: ModelPlan) -> ObjectGroup:
    """An add-on reads the final plan (roles, names, the workload's objects)."""
    objects = tuple(_addon_call(selected, selected.plugin.objects, selected.settings, plan))
    # A scheduler's objects (PodGroups) must exist before the pods that name them.
    first = hasattr(selected.plugin, SCHEDULING_HOOK)
    return ObjectGroup("AddOn", f"{plan.name}-{selected.plugin.name}", (objects,), before_workload=first)


def scheduler_addons(spec: ModelSpec) -> tuple[SelectedPlugin, ...]:
    return tuple(selected for selected in spec.addons if hasattr(selected.plugin, SCHEDULING_HOOK))


def _scheduling(spec: ModelSpec, plan: ModelPlan) -> ModelPlan:
    """The scheduler add-on's say over the pods, checked: one scheduler, and a gang is always the whole group."""
    chosen, *others = scheduler_addons(spec) or (None,)
    if chosen is None:
        return plan
    if others:
        raise PlanError(
            ("type",),
            f"a second scheduler add-on ({chosen.plugin.name!r} is listed too): two schedulers would race "
            "for the same GPUs; keep one",
            root=others[0].path,
        )
    scheduling = _addon_call(chosen, getattr(chosen.plugin, SCHEDULING_HOOK), chosen.settings, plan)
    if scheduling.gang_size not in (0, plan.gpus.pods):
        raise PlanError(
            ("type",),
            f"makes gangs of {scheduling.gang_size} pods, but a group has {plan.gpus.pods}: a partial gang "
            "holds GPUs while the rest of its group waits (a gang is always the whole group)",
            root=chosen.path,
        )
    pod = plan.pod.merge(PodAdditions(labels=scheduling.pod_labels, annotations=scheduling.pod_annotations))
    return replace(plan, scheduling=scheduling, scheduler=chosen.plugin.name, pod=pod)


def _scheduled(spec: ObjectSpec, scheduling: Optional[Scheduling]) -> ObjectSpec:
    """A workload object with what the scheduler reads from it (Kueue's queue label, Volcano's queue annotation)."""
    if scheduling is None:
        return spec
    labels = {**spec.labels, **scheduling.workload_labels}
    return replace(spec, labels=labels, annotations={**spec.annotations, **scheduling.workload_annotations})


def _addons(spec: ModelSpec, plan: ModelPlan) -> ModelPlan:
    return replace(plan, addon_groups=tuple(_addon_objects(selected, plan) for selected in spec.addons))


def plan_model(spec: ModelSpec, fleet: Fleet) -> ModelPlan:
    plan = _data_plane(spec, fleet, _replica_range(spec, _first_plan(spec, fleet)))
    launcher = spec.plugins["launcher"]
    plan = replace(plan, entrypoints=launcher.plugin.entrypoints(launcher.settings, plan))
    return _addons(spec, _workload(spec, plan))


def summarize(plan: ModelPlan) -> PlanSummary:
    """The stack output (and render table row) for one model."""
    if plan.entrypoints and plan.entrypoints.uses_ray:
        launcher = "ray"
    else:
        launcher = plan.config.launcher.type if plan.gpus.multi_node else "single-pod"
    return PlanSummary(
        tensor=plan.gpus.tensor,
        pipeline=plan.gpus.pipeline,
        pods=plan.gpus.pods,
        head_gpus=plan.gpus.head_gpus,
        worker_gpus=plan.gpus.worker_gpus,
        group_gpus=plan.gpus.total_gpus,
        replicas=plan.replicas,
        min_replicas=plan.min_replicas,
        max_replicas=plan.max_replicas,
        total_gpus=plan.total_gpus,
        launcher=launcher,
        workload=plan.workload,
        api_url=plan.names.api_url(plan.config.api.port),
        weights=plan.weights.description if plan.weights else "",
        cache=plan.cache.description if plan.cache else "none",
        network=plan.transport,
        rdma=bool(plan.network and plan.network.rdma),
        notes=plan.notes,
        weights_claims=weights_claims(plan),
        gpu_slice=mig_profile(plan.node_pool.gpu_resource) or "",
        placement=describe_placement(plan.config.placement),
        warnings=plan.warnings,
        **memory_summary(plan.capacity),
        priority=plan.config.priority or "",
        scheduling=plan.scheduling.description if plan.scheduling else "",
    )


def memory_summary(capacity: CapacityPlan) -> dict[str, Any]:
    """The GPU type and the memory plan of the fullest GPU as summary fields (bytes and tokens)."""
    memory = capacity.memory
    if memory is None:
        return {"accelerator": capacity.accelerator, "gpu_memory": capacity.gpu_memory or 0}
    return {
        "accelerator": capacity.accelerator,
        "gpu_memory": memory.gpu_memory,
        "weights_per_gpu": round(memory.weights),
        "kv_room_per_gpu": max(0, round(memory.kv_room)),
        "kv_tokens": memory.kv_tokens,
        "max_model_len": memory.max_model_len,
        "sequences": round(memory.sequences, 4),
    }


def api_key_secret(fleet: Fleet) -> Optional[ObjectSpec]:
    """The Secret behind VLLM_API_KEY; its value stays a `SecretValue`, so Pulumi keeps it secret."""
    if fleet.config.api_key is None:
        return None
    return ObjectSpec(
        "v1",
        "Secret",
        API_KEY_SECRET,
        {"type": "Opaque", "stringData": {API_KEY_SECRET_KEY: fleet.config.api_key}},
        labels=common_labels("fleet", fleet.config.image, "api-key"),
    )


#: The optional add-on hook for objects made once per stack (see plugins/protocol.py).
STACK_OBJECTS_HOOK = "stack_objects"


def _stack_addons(fleet: Fleet, plans: list[ModelPlan]) -> tuple[list[ObjectSpec], list[Issue]]:
    """Calls each add-on's stack hook with the plans of the models that name it and each one's settings."""
    planned = {plan.name: plan for plan in plans}
    users: dict[str, list[tuple[SelectedPlugin, ModelPlan]]] = {}
    for spec in fleet.models:
        for selected in spec.addons:
            if hasattr(selected.plugin, STACK_OBJECTS_HOOK) and spec.config.name in planned:
                users.setdefault(selected.plugin.name, []).append((selected, planned[spec.config.name]))
    objects: list[ObjectSpec] = []
    issues = []
    for uses in users.values():
        first = uses[0][0]
        try:
            objects += getattr(first.plugin, STACK_OBJECTS_HOOK)([plan for _, plan in uses], {plan.name: s.settings for s, plan in uses})
        except PlanError as error:
            issues.append(Issue(key_path(first.path + error.field), error.message))
    return objects, issues


def stack_addon_objects(fleet: Fleet, plans: list[ModelPlan]) -> tuple[ObjectSpec, ...]:
    """Objects an add-on makes once per stack from every model that names it (the monitoring dashboard).

    `plan_fleet` has already reported the hooks' errors (at the first such
    model's add-on entry); this raises them too, for a caller that skipped it.
    """
    objects, issues = _stack_addons(fleet, plans)
    if issues:
        raise ConfigError(issues)
    return tuple(objects)


def plan_fleet(fleet: Fleet) -> list[ModelPlan]:
    """Plans every model that validated; reports every problem of the stack in one ConfigError.

    The config's own problems (`fleet.issues`), each model's plan errors, keys
    that would have no effect, oversized objects, and names that overflow or
    collide across models all come out together.
    """
    plans, issues = [], list(fleet.issues)
    planned: list[tuple[ModelSpec, ModelPlan]] = []
    for spec in fleet.models:
        capacity, findings = plan_capacity(
            spec.config, spec.config.node_pool or fleet.config.node_pool, fleet.config.require_memory_plan,
            image=spec.config.image or fleet.config.image,
        )
        capacity_issues = [Issue(key_path(spec.path + f.field), f.message) for f in findings if f.severity == "error"]
        try:
            plan = plan_model(spec, fleet)
        except PlanError as error:
            root = spec.path if error.root is None else error.root
            issues += capacity_issues + [Issue(key_path(root + error.field), error.message)]
            continue
        plan = replace(plan, capacity=capacity, warnings=tuple(
            str(Issue(key_path(spec.path + f.field), f.message)) for f in capacity.warnings))
        plans.append(plan)
        planned.append((spec, plan))
        parser_issues = [Issue(key_path(spec.path + field), message) for field, message in serve_arg_findings(plan)]
        # vLLM's parser words a bad engine arg once; the memory plan's reading of the same key adds nothing.
        parsed_keys = {issue.path for issue in parser_issues}
        issues += [issue for issue in capacity_issues if issue.path not in parsed_keys] + parser_issues
        issues += ineffective_keys(spec, plan) + oversized_objects(spec, plan)
    stack_objects, stack_issues = _stack_addons(fleet, plans)
    accelerators = [plan.capacity.accelerator for plan in plans]
    stack_issues += [
        Issue(key_path(("pricing", name)), message)
        for name, message in pricing_issues(list(fleet.config.pricing.root), accelerators)
    ]
    names = stack_names(fleet, stack_objects) + [name for spec, plan in planned for name in planned_names(spec, plan)]
    issues += name_length_issues(names) + collision_issues(names) + stack_issues + mixed_scheduler_issues(planned)
    if issues:
        raise ConfigError(issues)
    return plans


def mixed_scheduler_issues(planned: list[tuple[ModelSpec, ModelPlan]]) -> list[Issue]:
    """One scheduler per stack: two (Volcano and scheduler-plugins) would each bind pods to the same GPUs."""
    first: Optional[tuple[SelectedPlugin, ModelPlan]] = None
    issues = []
    for spec, plan in planned:
        if not plan.scheduler:
            continue
        chosen = scheduler_addons(spec)[0]
        if first is None:
            first = (chosen, plan)
        elif plan.scheduler != first[1].scheduler:
            issues.append(Issue(
                key_path(chosen.path + ("type",)),
                f"model {plan.name!r} uses the {plan.scheduler!r} scheduler but {first[1].name!r} uses "
                f"{first[1].scheduler!r} ({key_path(first[0].path)}): two schedulers would race for the same GPUs; "
                "pick one for the stack (defaults.addons)",
            ))
    return issues


# ------------------------------------------------------- namespace retention


def weights_claims(plan: ModelPlan) -> tuple[str, ...]:
    """Every claim this model's weights live on, in the stack's namespace, whoever created it.

    A `new-pvc` claim is one of the plan's objects; an `existing-pvc` claim
    (and the origin a cache reads through `pvc://`) is only named in the pods'
    volume or the mount. A cache's own claim (Fluid's, named after the
    Dataset) holds a copy, not the weights, so it is left out.
    """
    if plan.weights is None:
        return ()
    cache_claim = plan.cache.dataset.name if plan.cache else None
    claims = [spec.name for spec in plan.weights.objects if spec.kind == "PersistentVolumeClaim"]
    mount = plan.weights.mount
    if mount is not None and mount.scheme == "pvc":
        claims.append(mount.uri.split("://", 1)[1].strip("/"))
    for volume in plan.weights.pod.volumes:
        if volume.get("name") == WEIGHTS_VOLUME and "persistentVolumeClaim" in volume:
            claims.append(volume["persistentVolumeClaim"]["claimName"])
    return tuple(name for name in dict.fromkeys(claims) if name and name != cache_claim)


def namespace_must_be_retained(plans: list[ModelPlan]) -> bool:
    """Whether `pulumi destroy` (or a namespace rename) must leave the stack's namespace in place.

    Deleting a namespace deletes every claim in it. So the namespace is kept
    while it holds a claim whose weights must outlive the stack: one the
    stack created with `retainOnDelete`, or one it only uses (an existing
    claim is never the stack's to delete). A stack whose only claims opted
    out of protection (`protect: false`) lets its namespace go.
    """
    for plan in plans:
        objects = plan.weights.objects if plan.weights else ()
        created = {spec.name: spec for spec in objects if spec.kind == "PersistentVolumeClaim"}
        for claim in weights_claims(plan):
            spec = created.get(claim)
            if spec is None or spec.retain_on_delete:
                return True
    return False


# ------------------------------------------------------------ fleet checks


def _settings_alias(settings: Any, field: str) -> str:
    info = type(settings).model_fields[field]
    return info.alias or field


def ineffective_keys(spec: ModelSpec, plan: ModelPlan) -> list[Issue]:
    """Keys set in a combination where nothing reads them: errors, so nobody believes they apply."""
    issues = []
    storage = spec.plugins["storage"]
    if plan.cache and plan.weights and plan.weights.remote:
        for field in sorted(storage.settings.model_fields_set & set(plan.weights.claim_settings)):
            issues.append(Issue(
                key_path(storage.path + (_settings_alias(storage.settings, field),)),
                f"has no effect: the cache ({plan.cache.runtime.kind}) reads the bucket itself, so no claim "
                "or fetch Job is made; remove it (or the cache)",
            ))
    if not plan.gpus.multi_node:
        launcher = spec.plugins["launcher"]
        for field in sorted(launcher.settings.model_fields_set):
            issues.append(Issue(
                key_path(launcher.path + (_settings_alias(launcher.settings, field),)),
                f"has no effect: TP×PP = {plan.gpus.total_gpus} fits one pod, so no launcher runs "
                "(no Ray, no workers); remove it",
            ))
    # A network on a single pod is not a no-op: the pod still gets the interface (static IPAM exists for it).
    return issues


def oversized_objects(spec: ModelSpec, plan: ModelPlan) -> list[Issue]:
    """ConfigMaps and Secrets the API server would refuse (their data is limited to 1 MiB)."""
    holders = [("ConfigMap", plan.names.entrypoints, plan.entrypoints.scripts if plan.entrypoints else {}, spec.path + ("engineArgs",))]
    for obj in plan.weights.objects if plan.weights else ():
        if obj.kind in ("ConfigMap", "Secret"):
            data = {**obj.body.get("data", {}), **obj.body.get("stringData", {})}
            holders.append((obj.kind, obj.name, data, spec.plugins["storage"].path))
    issues = []
    for kind, name, data, path in holders:
        size = sum(len(str(key).encode()) + len(str(value).encode()) for key, value in data.items() if isinstance(value, str))
        if size > OBJECT_DATA_MAX_BYTES:
            issues.append(Issue(
                key_path(path),
                f"{kind} {name!r} would hold {size} bytes; the API server stores at most "
                f"{OBJECT_DATA_MAX_BYTES} (1 MiB): shorten the values that end up in it",
            ))
    return issues


@dataclass(frozen=True)
class PlannedName:
    """One object name the stack makes, directly or through an operator, and the key that makes it."""

    kind: str
    namespace: Optional[str]
    name: str
    path: tuple
    made_by: str = ""


# Kinds whose name ends up in something shorter than a DNS subdomain (253), and why.
NAME_LIMITS: dict[str, tuple[int, str]] = {
    "StatefulSet": (52, "its pods carry controller-revision-hash: <name>-<10-character hash>, a label value of at most 63"),
    "CronJob": (52, "the API server limits CronJob names to 52: each Job adds an 11-character suffix"),
    "Job": (63, "its pods carry job-name: <name>, a label value of at most 63"),
    "DaemonSet": (63, "its pods' host names are made from it (a DNS label, at most 63)"),
    "Service": (63, "a Service name is a DNS label (at most 63)"),
    "Namespace": (63, "a namespace name is a DNS label (at most 63)"),
}


def stack_names(fleet: Fleet, stack_objects: tuple[ObjectSpec, ...] | list[ObjectSpec] = ()) -> list[PlannedName]:
    """The stack's own objects: the namespace, the API-key Secret, what add-ons make once per stack."""
    names = [
        PlannedName(o.kind, fleet.config.namespace if o.namespaced else None, o.name, ("defaults", "addons"))
        for o in stack_objects
    ]
    names += [PlannedName(o.kind, None, o.name, ("priorityTiers",)) for o in priority_classes(fleet.config)]
    if fleet.config.create_namespace:
        names.append(PlannedName("Namespace", None, fleet.config.namespace, ("namespace",)))
    if fleet.config.api_key is not None:
        names.append(PlannedName("Secret", fleet.config.namespace, API_KEY_SECRET, ("apiKey",)))
    return names


def planned_names(spec: ModelSpec, plan: ModelPlan) -> list[PlannedName]:
    """Every name this model's objects get: the core's (as `VllmCluster` makes them), the plugins', the operators'."""
    ns, names = plan.namespace, plan.names
    core = [("ConfigMap", names.entrypoints), ("Service", names.group), ("Service", names.api_service),
            ("NetworkPolicy", names.group), ("PodDisruptionBudget", names.group)]
    found = [PlannedName(kind, ns, name, spec.path + ("name",)) for kind, name in core]

    def described(objects, path) -> list[PlannedName]:
        return [PlannedName(o.kind, ns if o.namespaced else None, o.name, path) for o in objects]

    # The workload's objects are named after the model, so renaming the model is the fix (as for the core's).
    found += described(plan.workload_objects, spec.path + ("name",))
    found += described(plan.weights.objects if plan.weights else (), spec.plugins["storage"].path)
    for addon, group in zip(spec.addons, plan.addon_groups):
        found += described(group.objects, addon.path)
    for kind, plugin_plan, objects in (
        ("cache", plan.cache, plan.cache.objects if plan.cache else ()),
        ("network", plan.network, (plan.network.attachment,) if plan.network and plan.network.attachment else ()),
    ):
        if plugin_plan is None:
            continue
        path = spec.plugins[kind].path
        found += described(objects, path)
        found += [
            PlannedName(d.kind, ns if d.namespaced else None, d.name, path, d.made_by) for d in plugin_plan.derived_names
        ]
    return found


def name_length_issues(names: list[PlannedName]) -> list[Issue]:
    issues = []
    for item in names:
        limit, why = NAME_LIMITS.get(item.kind, (253, "object names are DNS subdomains (at most 253)"))
        maker = f"{item.made_by} " if item.made_by else ""
        if len(item.name) > limit:
            issues.append(Issue(
                key_path(item.path),
                f"{maker}{item.kind} {item.name!r} would be {len(item.name)} characters, over {limit}: {why}; "
                f"shorten the model name by {len(item.name) - limit}",
            ))
        elif problem := dns_subdomain_problem(item.name):
            issues.append(Issue(key_path(item.path), f"{maker}{item.kind} name {problem}"))
    return issues


def collision_issues(names: list[PlannedName]) -> list[Issue]:
    """Two objects of one kind and namespace with one name: the second overwrites the first."""
    first: dict[tuple, PlannedName] = {}
    issues = []
    for item in names:
        key = (item.kind, item.namespace, item.name)
        other = first.setdefault(key, item)
        if other is item:
            continue
        where = f"{item.namespace}/{item.name}" if item.namespace else item.name
        issues.append(Issue(
            key_path(item.path),
            f"{item.made_by + ' ' if item.made_by else ''}{item.kind} {where} is also made by {key_path(other.path)}"
            f"{' (' + other.made_by + ')' if other.made_by else ''}; one would overwrite the other: rename a model or claim",
        ))
    return issues
