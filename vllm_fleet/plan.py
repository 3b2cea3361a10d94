"""The plan: pure functions from a validated fleet to numbers, names and ranks.

Nothing here talks to Pulumi. Components only translate a `ModelPlan` into
objects, so every count a pod will request is decided (and unit-tested) here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

from .config import ApiAccess, Fleet, ModelConfig, ModelSpec, NodePool, SelectedPlugin, TransportConfig
from .constants import API_KEY_SECRET, API_KEY_SECRET_KEY, API_PORT, DRAIN_TEARDOWN_SECONDS, WEIGHTS_VOLUME
from .engine_args import engine_flags
from .errors import ConfigError, Issue, PlanError, key_path
from .gpu_plan import GpuPlan, plan_gpus
from .names import Names, common_labels
from .plugins.fluid import check_cache
from .plugins.multus import check_network
from .plugins.types import (
    CachePlan,
    Entrypoints,
    NetworkPlan,
    ObjectGroup,
    ObjectSpec,
    PodAdditions,
    RolePlan,
    SecretKeyRef,
    WeightsPlan,
)
from .quantity import format_bytes, format_cpu, parse_quantity
from .roles import plan_roles
from .stack_config import SecretValue
from .secret_fingerprint import secret_fingerprint
from .summary import PlanSummary
from .validators import OBJECT_DATA_MAX_BYTES, dns_subdomain_problem


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
    #: Independent groups behind the model's one API Service.
    replicas: int = 1
    workload: str = ""
    #: Each role of one group (head first: it serves the API), as `plan_roles` made it.
    roles: tuple[RolePlan, ...] = ()
    #: What runs the groups (the workload plugin's objects), and what the other plugins add.
    workload_objects: tuple[ObjectSpec, ...] = ()
    object_groups: tuple[ObjectGroup, ...] = ()
    addon_groups: tuple[ObjectGroup, ...] = ()

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
        "--port", str(plan.api_port),
        # SIGTERM drains: new requests get 503, in-flight ones finish (0, vLLM's default, aborts them).
        "--shutdown-timeout", str(plan.config.drain.timeout_seconds),
        *engine_flags(plan.config.engine_args),
    )


def check_network_resource(network: NetworkPlan, node_pool: NodePool) -> None:
    """Pods request the GPU and the fabric's device by resource name; one name can't be both."""
    if network.resource and network.resource == node_pool.gpu_resource:
        raise PlanError(
            ("network", "resourceName"),
            f"{network.resource!r} is the GPU resource (nodePool.gpuResource); requesting it for the network "
            "would replace the pod's GPU request. Name the NIC pool's device-plugin resource",
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
    node_pool = config.node_pool or fleet.config.node_pool
    gpus = plan_gpus(
        config.parallelism.tensor,
        config.parallelism.pipeline,
        node_pool.gpus_per_node,
        config.gpus_per_pod,
        uniform_pods=spec.plugins["launcher"].plugin.uniform_pods,
    )
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
    roles, scripts = _with_root(selected, plan_roles, plan, selected)
    entrypoints = replace(plan.entrypoints, scripts={**plan.entrypoints.scripts, **scripts})
    plan = replace(plan, roles=roles, entrypoints=entrypoints, workload=selected.plugin.name)
    return replace(plan, workload_objects=tuple(_with_root(selected, selected.plugin.objects, selected.settings, plan)))


def _addon_objects(selected: SelectedPlugin, plan: ModelPlan) -> ObjectGroup:
    """An add-on reads the final plan; its errors point into its own entry (`addons[i].<field>`)."""
    try:
        objects = tuple(selected.plugin.objects(selected.settings, plan))
    except PlanError as error:
        raise PlanError(error.field, error.message, root=selected.path) from None
    return ObjectGroup("AddOn", f"{plan.name}-{selected.plugin.name}", (objects,))


def _addons(spec: ModelSpec, plan: ModelPlan) -> ModelPlan:
    return replace(plan, addon_groups=tuple(_addon_objects(selected, plan) for selected in spec.addons))


def plan_model(spec: ModelSpec, fleet: Fleet) -> ModelPlan:
    plan = _data_plane(spec, fleet, _first_plan(spec, fleet))
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
    )


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
        try:
            plan = plan_model(spec, fleet)
        except PlanError as error:
            root = spec.path if error.root is None else error.root
            issues.append(Issue(key_path(root + error.field), error.message))
            continue
        plans.append(plan)
        planned.append((spec, plan))
        issues += ineffective_keys(spec, plan) + oversized_objects(spec, plan)
    stack_objects, stack_issues = _stack_addons(fleet, plans)
    names = stack_names(fleet, stack_objects) + [name for spec, plan in planned for name in planned_names(spec, plan)]
    issues += name_length_issues(names) + collision_issues(names) + stack_issues
    if issues:
        raise ConfigError(issues)
    return plans


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
