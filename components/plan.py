"""The plan: pure functions from a validated fleet to numbers, names and ranks.

Nothing here talks to Pulumi. Components only translate a `ModelPlan` into
objects, so every count a pod will request is decided (and unit-tested) here.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

from .config import ApiAccess, Fleet, ModelConfig, ModelSpec, NodePool, SelectedPlugin, TransportConfig
from .constants import (
    ANNOTATION_RESOURCE_NAME,
    API_KEY_SECRET,
    API_KEY_SECRET_KEY,
    API_PORT,
    FLUID_API,
    INTERFACE_NAME,
    LABEL_COMPONENT,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_PART_OF,
    LABEL_VERSION,
    NAD_API,
    NETWORK_CAPABILITIES,
    WEIGHTS_MOUNT,
    WEIGHTS_VOLUME,
)
from .engine_args import engine_flags
from .errors import ConfigError, Issue, key_path
from .plugins.types import CachePlan, Entrypoints, NetworkPlan, ObjectSpec, PodAdditions, Probes, SecretKeyRef, WeightsPlan
from .quantity import format_bytes, format_cpu, parse_quantity
from .stack_config import SecretValue
from .validators import OBJECT_DATA_MAX_BYTES, dns_subdomain_problem


class PlanError(Exception):
    """A setting that validates on its own but can't work with the rest of the plan.

    `field` is the key path relative to the model (e.g. ("gpusPerPod",)), or to
    `root` when the setting came from elsewhere (a stack default: ("defaults",)).
    """

    def __init__(self, field: tuple, message: str, root: Optional[tuple] = None):
        super().__init__(message)
        self.field = field
        self.message = message
        self.root = root


# ------------------------------------------------------------------ GPU plan


@dataclass(frozen=True)
class GpuPlan:
    tensor: int
    pipeline: int
    head_gpus: int
    worker_gpus: int
    workers: int
    notes: tuple[str, ...] = ()

    @property
    def total_gpus(self) -> int:
        return self.tensor * self.pipeline

    @property
    def pods(self) -> int:
        return 1 + self.workers

    @property
    def multi_node(self) -> bool:
        return self.workers > 0

    def pod_gpus(self) -> list[int]:
        """GPUs of each pod in rank order: the head first, then the workers."""
        return [self.head_gpus] + [self.worker_gpus] * self.workers


def _divisors_up_to(number: int, limit: int) -> list[int]:
    return [d for d in range(1, min(number, limit) + 1) if number % d == 0]


def _split_tp_groups(tensor: int, pod_gpus: list[int]) -> int:
    """How many tensor-parallel groups straddle a pod boundary (vLLM ranks fill pods in order)."""
    boundaries, total = set(), 0
    for gpus in pod_gpus[:-1]:
        total += gpus
        boundaries.add(total)
    groups = sum(pod_gpus) // tensor
    return sum(
        1 for g in range(groups) if any(g * tensor < b < (g + 1) * tensor for b in boundaries)
    )


def plan_gpus(
    tensor: int,
    pipeline: int,
    gpus_per_node: int,
    gpus_per_pod: Optional[int] = None,
    uniform_pods: bool = False,
) -> GpuPlan:
    """Splits TP×PP GPUs over the fewest pods that fit, without ever over-reserving.

    The head takes the remainder and the workers are uniform (one StatefulSet),
    so TP=4×PP=3 on 8-GPU nodes is a 4-GPU head and one 8-GPU worker: each
    4-rank TP group stays inside one pod. `uniform_pods` (vLLM's native
    launcher) requires the same count everywhere.
    """
    total = tensor * pipeline
    if gpus_per_pod is not None:
        if gpus_per_pod > gpus_per_node:
            raise PlanError(
                ("gpusPerPod",),
                f"{gpus_per_pod} GPUs per pod exceeds nodePool.gpusPerNode ({gpus_per_node}); "
                f"a pod can't span nodes, so use at most {gpus_per_node}",
            )
        if gpus_per_pod > total:
            raise PlanError(
                ("gpusPerPod",),
                f"{gpus_per_pod} GPUs per pod exceeds TP×PP = {total}; the pod would reserve GPUs "
                f"no rank uses, so use at most {total}",
            )
        if uniform_pods and total % gpus_per_pod:
            options = ", ".join(map(str, _divisors_up_to(total, gpus_per_node)))
            raise PlanError(
                ("gpusPerPod",),
                f"launcher 'native' needs the same GPU count on every pod, but TP×PP = {total} "
                f"doesn't split into pods of {gpus_per_pod}; use one of: {options}",
            )
        per_pod = gpus_per_pod
    elif total <= gpus_per_node:
        per_pod = total
    elif uniform_pods:
        per_pod = max(_divisors_up_to(total, gpus_per_node))
    else:
        per_pod = gpus_per_node

    pods = math.ceil(total / per_pod)
    head = total - (pods - 1) * per_pod
    plan = GpuPlan(tensor, pipeline, head, per_pod if pods > 1 else 0, pods - 1)

    notes = []
    if plan.multi_node:
        split = _split_tp_groups(tensor, plan.pod_gpus())
        if split and tensor <= max(plan.pod_gpus()):
            notes.append(
                f"{split} TP group(s) of {tensor} straddle pods; a gpusPerPod that is a multiple "
                f"of {tensor} keeps tensor-parallel traffic inside a node"
            )
        elif split:
            notes.append(f"TP={tensor} spans pods: tensor-parallel traffic crosses the network")
    return replace(plan, notes=tuple(notes))


# ------------------------------------------------------------- names/labels


@dataclass(frozen=True)
class Names:
    model: str
    namespace: str

    @property
    def head(self) -> str:
        return f"{self.model}-head"

    @property
    def worker(self) -> str:
        return f"{self.model}-worker"

    @property
    def api_service(self) -> str:
        return self.model

    @property
    def entrypoints(self) -> str:
        return f"{self.model}-entrypoints"

    @property
    def group(self) -> str:
        """What covers the whole group: its headless Service (stable member DNS), NetworkPolicy and PDB."""
        return f"{self.model}-group"

    @property
    def fetch(self) -> str:
        """The Job (and its script and token) that fills a new claim with the weights."""
        return f"{self.model}-fetch"

    @property
    def dataset(self) -> str:
        """Fluid Dataset and runtime (one name binds them); also the name of Fluid's claim.

        Not `<model>-weights`: that is the raw claim the Dataset may read from.
        """
        return f"{self.model}-cache"

    @property
    def attachment(self) -> str:
        return f"{self.model}-net"

    @property
    def head_address(self) -> str:
        return f"{self.head}-0.{self.group}.{self.namespace}.svc.cluster.local"

    def api_url(self, port: int) -> str:
        return f"http://{self.api_service}.{self.namespace}.svc.cluster.local:{port}/v1"


def _label_value(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:63]
    return cleaned.strip("-_.") or "unknown"


def image_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    return name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"


def selector_labels(model: str, component: Optional[str] = None) -> dict[str, str]:
    labels = {LABEL_NAME: "vllm", LABEL_INSTANCE: model}
    if component:
        labels[LABEL_COMPONENT] = component
    return labels


def common_labels(model: str, image: str, component: Optional[str] = None) -> dict[str, str]:
    return {
        **selector_labels(model, component),
        LABEL_PART_OF: "vllm-fleet",
        LABEL_MANAGED_BY: "pulumi",
        LABEL_VERSION: _label_value(image_tag(image)),
    }


# -------------------------------------------------------------------- probes

PROBE_PERIOD_SECONDS = 10


def make_probes(
    startup: dict[str, Any],
    readiness: dict[str, Any],
    liveness: dict[str, Any],
    startup_budget_seconds: int,
) -> Probes:
    """Probe timings sized for loading a large model.

    The startup probe tolerates the whole budget (group formation + loading
    weights); only after it passes do liveness (hung engine: ~2.5 min) and
    readiness (out of rotation within ~20 s) apply.
    """
    return Probes(
        startup={
            **startup,
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": 5,
            "failureThreshold": math.ceil(startup_budget_seconds / PROBE_PERIOD_SECONDS),
        },
        readiness={**readiness, "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 2},
        liveness={**liveness, "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 5},
    )


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
    api_access: Optional[ApiAccess] = None
    cache: Optional[CachePlan] = None
    network: Optional[NetworkPlan] = None
    #: The stack's Hugging Face token, for a source that downloads gated weights.
    hf_token: Optional[SecretValue] = None

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
        *engine_flags(plan.config.engine_args),
    )


def weights_path(path: Optional[str], model: str) -> str:
    return f"{WEIGHTS_MOUNT}/{(path if path is not None else model).strip('/')}".rstrip("/")


def claim_mount(claim_name: str) -> PodAdditions:
    """The claim as a read-only volume at /models: serving never writes weights."""
    return PodAdditions(
        volumes=({"name": WEIGHTS_VOLUME, "persistentVolumeClaim": {"claimName": claim_name, "readOnly": True}},),
        volume_mounts=({"name": WEIGHTS_VOLUME, "mountPath": WEIGHTS_MOUNT, "readOnly": True},),
    )


# ------------------------------------------------------------------- cache


def fluid_cache_label(namespace: str, dataset: str) -> str:
    """The label Fluid puts on the nodes that hold a Dataset's cache."""
    return f"fluid.io/s-{namespace}-{dataset}"


def check_cache(cache: CachePlan, plan: ModelPlan, weights: WeightsPlan) -> None:
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


def cached_weights(weights: WeightsPlan, cache: CachePlan, namespace: str) -> WeightsPlan:
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


# ----------------------------------------------------------------- network

_IFNAME = re.compile(INTERFACE_NAME)


def check_network(network: NetworkPlan) -> None:
    """The pairing Multus and the device plugin rely on, and the least privilege RDMA needs."""
    if not _IFNAME.match(network.interface):
        raise PlanError(("network", "interface"), f"{network.interface!r} is not a Linux interface name (1-15 of a-z, 0-9, '_.-')")
    extra = sorted(set(network.capabilities) - set(NETWORK_CAPABILITIES))
    if extra:
        raise PlanError(("network",), f"a network may add only {', '.join(NETWORK_CAPABILITIES)}; it asked for {', '.join(extra)}")
    nad = network.attachment
    if nad is None:
        return
    if (nad.api_version, nad.kind) != (NAD_API, "NetworkAttachmentDefinition"):
        raise PlanError(("network",), f"a network plugin must describe a {NAD_API} NetworkAttachmentDefinition, got {nad.api_version} {nad.kind}")
    annotated = nad.annotations.get(ANNOTATION_RESOURCE_NAME)
    if annotated != network.resource:
        raise PlanError(
            ("network", "resourceName"),
            f"NetworkAttachmentDefinition {nad.name!r} asks Multus for {annotated!r} but pods would request "
            f"{network.resource!r}; the two must name the same device-plugin resource",
        )
    config = nad.body.get("spec", {}).get("config")
    try:
        parsed = json.loads(config) if isinstance(config, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or "cniVersion" not in parsed:
        raise PlanError(("network",), f"NetworkAttachmentDefinition {nad.name!r}: spec.config must be one JSON string of a CNI config with cniVersion")


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


def network_pod(network: NetworkPlan, namespace: str) -> PodAdditions:
    annotations = {}
    if network.attachment is not None:
        # JSON form: explicit namespace and a fixed interface name NCCL_SOCKET_IFNAME can rely on.
        request = [{"name": network.attachment.name, "namespace": namespace, "interface": network.interface}]
        annotations["k8s.v1.cni.cncf.io/networks"] = json.dumps(request, separators=(",", ":"))
    return PodAdditions(
        annotations=annotations,
        extra_resources={network.resource: 1} if network.resource else {},
        capabilities=network.capabilities,
    )


# -------------------------------------------------------------- model plan


def _with_root(selected: SelectedPlugin, call: Callable[..., Any], *args: Any) -> Any:
    """Runs a plugin hook (or a check of its result); errors point at the key that chose the plugin."""
    try:
        return call(*args)
    except PlanError as error:
        raise PlanError(error.field, error.message, root=error.root or selected.path[:-1]) from None


def plan_model(spec: ModelSpec, fleet: Fleet) -> ModelPlan:
    config = spec.config
    launcher = spec.plugins["launcher"]
    node_pool = config.node_pool or fleet.config.node_pool
    gpus = plan_gpus(
        config.parallelism.tensor,
        config.parallelism.pipeline,
        node_pool.gpus_per_node,
        config.gpus_per_pod,
        uniform_pods=launcher.plugin.uniform_pods,
    )
    plan = ModelPlan(
        config=config,
        namespace=fleet.config.namespace,
        image=config.image or fleet.config.image,
        image_pull_secrets=tuple(fleet.config.image_pull_secrets),
        node_pool=node_pool,
        gpus=gpus,
        names=Names(config.name, fleet.config.namespace),
        notes=gpus.notes,
        api_key=SecretKeyRef(API_KEY_SECRET, API_KEY_SECRET_KEY) if fleet.config.api_key is not None else None,
        api_access=fleet.config.api_access,
        hf_token=fleet.config.hf_token,
    )
    storage = spec.plugins["storage"]
    weights = _with_root(storage, storage.plugin.weights, storage.settings, plan)
    cache = None
    if "cache" in spec.plugins:
        selected = spec.plugins["cache"]
        cache = _with_root(selected, selected.plugin.dataset, selected.settings, plan, weights)
        _with_root(selected, check_cache, cache, plan, weights)
        weights = cached_weights(weights, cache, plan.namespace)
    network = None
    if "network" in spec.plugins:
        selected = spec.plugins["network"]
        network = _with_root(selected, selected.plugin.attachment, selected.settings, plan)
        _with_root(selected, check_network, network)
        _with_root(selected, check_network_resource, network, node_pool)
    _with_root(storage, check_claim_sizes, weights)
    pod = weights.pod
    if network:
        pod = pod.merge(network_pod(network, plan.namespace))
    env = transport_env(network, fleet.config.transport)
    pod = pod.merge(PodAdditions(env=tuple({"name": k, "value": v} for k, v in sorted(env.items()))))
    notes = list(plan.notes)
    if fleet.config.transport.verify and gpus.multi_node:
        notes.append("transport verification on (NCCL_DEBUG=TRACE): `via NET/IB` in the logs is RDMA, `via NET/Socket` is TCP")
    plan = replace(
        plan,
        weights=weights,
        cache=cache,
        network=network,
        pod=pod,
        serve_args=base_serve_args(plan, weights.model_path),
        notes=tuple(notes),
    )
    return replace(plan, entrypoints=launcher.plugin.entrypoints(launcher.settings, plan))


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
    names = stack_names(fleet) + [name for spec, plan in planned for name in planned_names(spec, plan)]
    issues += name_length_issues(names) + collision_issues(names)
    if issues:
        raise ConfigError(issues)
    return plans


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


def stack_names(fleet: Fleet) -> list[PlannedName]:
    names = []
    if fleet.config.create_namespace:
        names.append(PlannedName("Namespace", None, fleet.config.namespace, ("namespace",)))
    if fleet.config.api_key is not None:
        names.append(PlannedName("Secret", fleet.config.namespace, API_KEY_SECRET, ("apiKey",)))
    return names


def planned_names(spec: ModelSpec, plan: ModelPlan) -> list[PlannedName]:
    """Every name this model's objects get: the core's (as `VllmCluster` makes them), the plugins', the operators'."""
    ns, names = plan.namespace, plan.names
    core = [("ConfigMap", names.entrypoints), ("Service", names.group), ("Service", names.api_service),
            ("NetworkPolicy", names.group), ("PodDisruptionBudget", names.group), ("StatefulSet", names.head)]
    if plan.gpus.multi_node:
        core.append(("StatefulSet", names.worker))
    found = [PlannedName(kind, ns, name, spec.path + ("name",)) for kind, name in core]

    def described(objects, path) -> list[PlannedName]:
        return [PlannedName(o.kind, ns if o.namespaced else None, o.name, path) for o in objects]

    found += described(plan.weights.objects if plan.weights else (), spec.plugins["storage"].path)
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
