"""The stack config, parsed into strict pydantic models.

This is the product's interface: every key a platform engineer writes under
`vllm-fleet:` in a stack file lands here. Validation collects *all* problems,
each with its key path, and plugin settings are validated by the plugin's own
model so third-party plugins get the same quality of errors as the core.
Nothing here builds Kubernetes objects; `plan.py` turns these models into numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, Mapping, Optional, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .capacity.cost import Pricing
from .capacity.inputs import ModelCapacity
from .capacity.model_info import ModelInfo
from .constants import API_PORT, DEFAULT_IMAGE, MAX_MODEL_NAME, MAX_REPLICAS
from .engine_args import check_engine_args
from .errors import CONFIG_NAMESPACE, ConfigError, Issue, did_you_mean, key_path
from .plugins.registry import NO_PLUGIN
from .stack_config import SecretValue
from .strict import StrictModel
from .validators import INT32_MAX, DnsSubdomain, Labels, LabelValue, PositiveQuantity, QualifiedName

# ----------------------------------------------------------------- field types

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Service names must also start with a letter (DNS-1035), and a model names its Service.
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _dns_label(max_length: int, pattern: re.Pattern = _DNS_LABEL, first: str = "a letter or digit"):
    def check(value: str) -> str:
        if not pattern.match(value) or len(value) > max_length:
            raise PydanticCustomError(
                "dns_label",
                "must be a DNS label: lowercase letters, digits and '-', starting with "
                f"{first}, ending with a letter or digit, at most {max_length} characters; got '{value}'",
            )
        return value

    return AfterValidator(check)


def _secret(value: Any) -> SecretValue:
    # A plain value in a stack file is stored in clear text in git; refuse it.
    if not isinstance(value, SecretValue):
        raise PydanticCustomError(
            "not_secret",
            "must be a secret: set it with `pulumi config set --secret <key> <value>` "
            "(the stack file then holds `secure: ...`), never as plain text",
        )
    return value


DnsLabel = Annotated[str, _dns_label(63)]
Secret = Annotated[SecretValue, PlainValidator(_secret), WithJsonSchema({"type": "string", "writeOnly": True})]
# NCCL and Gloo read their settings from the environment; nothing else may be set this way.
TransportEnvName = Annotated[str, Field(pattern=r"^(NCCL|GLOO)_[A-Z0-9_]+$")]
ModelName = Annotated[str, _dns_label(MAX_MODEL_NAME, _DNS_1035_LABEL, "a letter")]

# Upper bounds of what one cluster can give one model: far above any real
# deployment, low enough that a typo (tensor: 100000000) is an error, not a plan
# that exhausts memory. Documented in the README (Limits).
MAX_GPUS_PER_NODE = 64
MAX_GROUP_GPUS = 4096
MAX_STARTUP_SECONDS = 7 * 24 * 3600
GpuCount = Annotated[int, Field(gt=0, le=MAX_GPUS_PER_NODE, strict=False)]
GroupSize = Annotated[int, Field(gt=0, le=MAX_GROUP_GPUS, strict=False)]
ReplicaCount = Annotated[int, Field(gt=0, le=MAX_REPLICAS, strict=False)]
Port = Annotated[int, Field(ge=1, le=65535)]
EngineArgValue = Union[bool, int, float, str, list[Union[bool, int, float, str]], dict[str, Any]]


# ------------------------------------------------------------------- plugins


class PluginRef(StrictModel):
    """A plugin chosen by name: either `ray` or `{type: ray, <its settings>...}`."""

    type: str = Field(description="Plugin name, as registered in the `vllm_fleet.plugins` group.")
    settings: dict[str, Any] = Field(default_factory=dict, description="The plugin's own settings.")

    @model_validator(mode="before")
    @classmethod
    def _from_name_or_mapping(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"type": value}
        if isinstance(value, Mapping) and "settings" not in value:
            settings = {key: item for key, item in value.items() if key != "type"}
            return {"type": value.get("type"), "settings": settings} if "type" in value else value
        return value


# --------------------------------------------------------------------- models


class Toleration(StrictModel):
    key: Optional[QualifiedName] = Field(None, description="Taint key; empty with operator Exists matches all.")
    operator: Literal["Exists", "Equal"] = Field("Equal", description="Exists or Equal.")
    value: Optional[LabelValue] = Field(None, description="Taint value for operator Equal.")
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = Field(
        None, description="Taint effect to tolerate; empty matches all."
    )
    toleration_seconds: Optional[int] = Field(None, ge=0, le=INT32_MAX, description="For NoExecute only.")

    @model_validator(mode="after")
    def _as_the_api_server_checks(self) -> "Toleration":
        # The same rules as the API server's ValidateTolerations.
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without a key must use operator Exists (it matches every taint)")
        if self.operator == "Exists" and self.value:
            raise ValueError(f"operator Exists takes no value (got {self.value!r}); use operator Equal to match a value")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds applies only to effect NoExecute (it bounds how long a pod stays after the taint)")
        return self


class NodePool(StrictModel):
    gpus_per_node: GpuCount = Field(description=f"GPUs one node can give one pod (at most {MAX_GPUS_PER_NODE}).")
    gpu_resource: QualifiedName = Field(
        "nvidia.com/gpu",
        pattern=r"^[a-z0-9.-]+/[a-zA-Z0-9._-]+$",
        description="Extended resource name of a GPU (e.g. nvidia.com/gpu, amd.com/gpu).",
    )
    node_selector: Labels = Field(default_factory=dict, description="Labels GPU nodes carry.")
    tolerations: list[Toleration] = Field(default_factory=list, description="Taints GPU nodes carry.")
    rdma_devices_per_node: Optional[int] = Field(
        None, gt=0, le=MAX_GPUS_PER_NODE, description="RDMA devices (NICs or VFs of the network's pool) one node has; the plan checks each pod's share against it."
    )


class Parallelism(StrictModel):
    tensor: GroupSize = Field(1, description="Tensor-parallel size (--tensor-parallel-size).")
    pipeline: GroupSize = Field(1, description="Pipeline-parallel size (--pipeline-parallel-size).")

    @model_validator(mode="after")
    def _fits_a_cluster(self) -> "Parallelism":
        if self.tensor * self.pipeline > MAX_GROUP_GPUS:
            raise ValueError(
                f"TP×PP = {self.tensor * self.pipeline} GPUs exceeds the {MAX_GROUP_GPUS} one group may request"
            )
        return self


class Placement(StrictModel):
    """Where a model's pods land: one group in one topology domain, the groups spread apart (Ray's PACK / STRICT_PACK / SPREAD)."""

    group: Optional[Literal["pack", "strict-pack"]] = Field(
        None,
        description="pack: every pod of one group in one `topologyKey` domain (required pod affinity); strict-pack: that, and no other group in the domain.",
    )
    topology_key: Optional[QualifiedName] = Field(
        None, description="Node label of the domain a group packs into (a rack, block or NVLink-domain label); needed by pack and strict-pack."
    )
    replicas: Optional[Literal["spread"]] = Field(
        None, description="spread: the model's groups spread evenly over `spreadTopologyKey` domains (topology spread constraint on the heads)."
    )
    spread_topology_key: QualifiedName = Field(
        "topology.kubernetes.io/zone", description="Node label the groups spread over (zones; kubernetes.io/hostname for nodes)."
    )
    when_unsatisfiable: Literal["ScheduleAnyway", "DoNotSchedule"] = Field(
        "ScheduleAnyway", description="ScheduleAnyway: spread is a preference, a full zone never leaves a group Pending; DoNotSchedule: a rule."
    )


class PodResources(StrictModel):
    cpu_per_gpu: PositiveQuantity = Field("4", description="CPU request per GPU of the pod.")
    memory_per_gpu: PositiveQuantity = Field("32Gi", description="Memory request and limit per GPU of the pod.")


class ApiConfig(StrictModel):
    port: Port = Field(API_PORT, description="Port of the OpenAI-compatible API Service.")
    service_type: Literal["ClusterIP", "LoadBalancer", "NodePort"] = Field(
        "ClusterIP", description="Kubernetes Service type of the API."
    )


class ApiPeer(StrictModel):
    """Who may call the API: a namespace, pods with labels, or both (pods in that namespace)."""

    namespace: Optional[DnsLabel] = Field(None, description="Namespace allowed to call the API.")
    pod_labels: Optional[Labels] = Field(None, description="Labels of pods allowed to call the API.")

    @model_validator(mode="after")
    def _names_someone(self) -> "ApiPeer":
        if self.namespace is None and self.pod_labels is None:
            raise ValueError(
                "an empty peer names nobody (the NetworkPolicy API rejects it): set namespace, "
                "podLabels, or both; podLabels: {} means every pod of the stack's namespace"
            )
        return self


class ApiAccess(StrictModel):
    allow_from: list[ApiPeer] = Field(
        default_factory=lambda: [ApiPeer(pod_labels={})],
        description="Callers of the API port; default: any pod of the namespace. [] = nobody outside the group.",
    )
    require_api_key: bool = Field(False, description="Fail unless vllm-fleet:apiKey is set as a secret.")


#: The highest value a user PriorityClass may have; above it the API server reserves values for system classes.
MAX_USER_PRIORITY = 1_000_000_000


class PriorityTier(StrictModel):
    """A tier models name in `priority:`: a PriorityClass the stack creates (`value`) or an existing one (`className`)."""

    value: Optional[int] = Field(
        None, ge=-INT32_MAX - 1, le=MAX_USER_PRIORITY,
        description=f"Priority of the PriorityClass the stack creates (`<namespace>-<tier>`); higher wins (at most {MAX_USER_PRIORITY}).",
    )
    preemption_policy: Literal["PreemptLowerPriority", "Never"] = Field(
        "PreemptLowerPriority", description="PreemptLowerPriority: its pods may evict lower tiers' pods; Never: they only wait."
    )
    description: Optional[str] = Field(None, max_length=1024, description="What the tier is for (the PriorityClass's description).")
    class_name: Optional[DnsSubdomain] = Field(
        None, description="An existing PriorityClass to use instead (the platform's); the stack creates none for this tier."
    )

    @model_validator(mode="after")
    def _creates_or_references(self) -> "PriorityTier":
        if (self.value is None) == (self.class_name is None):
            raise ValueError("set value (the stack creates the PriorityClass) or className (an existing one), not both or neither")
        set_with_class = sorted({"preemption_policy", "description"} & self.model_fields_set)
        if self.class_name is not None and set_with_class:
            keys = ", ".join(type(self).model_fields[name].alias or name for name in set_with_class)
            raise ValueError(f"{keys} would have no effect: className {self.class_name!r} is an existing PriorityClass; set them there")
        return self

class DrainConfig(StrictModel):
    """How a replica that goes (scale-down, rollout, node drain) stops without dropping requests."""

    timeout_seconds: int = Field(
        300, ge=0, le=3600,
        description="vLLM's --shutdown-timeout: after SIGTERM, in-flight requests may finish for this long (0 aborts them).",
    )
    endpoint_delay_seconds: int = Field(
        5, ge=0, le=120,
        description="preStop wait before SIGTERM, so Services, the gateway and its endpoint picker stop sending new requests first.",
    )


class ModelConfig(StrictModel):
    name: ModelName = Field(description="DNS-safe name; every object of this model is named after it.")
    model: str = Field(min_length=1, description="Model id (e.g. meta-llama/Llama-3.1-8B-Instruct).")
    served_model_name: Optional[str] = Field(None, description="Name clients use; defaults to `model`.")
    parallelism: Parallelism = Field(default_factory=Parallelism, description="TP and PP sizes.")
    gpus_per_pod: Optional[GpuCount] = Field(None, description="Override the planned GPUs per pod.")
    launcher: PluginRef = Field(
        default_factory=lambda: PluginRef(type="ray"), description="How the group starts: ray | native."
    )
    storage: PluginRef = Field(
        description="Where the weights come from: existing-pvc | new-pvc | s3 | huggingface (a storage plugin)."
    )
    cache: Optional[PluginRef] = Field(
        None, description="Fluid cache in front of the weights: alluxio | jindo | juicefs | none (no cache)."
    )
    network: Optional[PluginRef] = Field(
        None,
        description="Secondary (RDMA) network of the group: sriov | host-device | macvlan | ipoib | rdma-shared | none.",
    )
    workload: Optional[PluginRef] = Field(
        None, description="What runs the groups: statefulsets | leaderworkerset (default: defaults.workload)."
    )
    replicas: ReplicaCount = Field(
        1, description=f"Independent groups behind the model's one API Service; each takes TP×PP GPUs (at most {MAX_REPLICAS})."
    )
    addons: Optional[list[PluginRef]] = Field(
        None, description="Per-model extras (add-on plugins); default: defaults.addons. [] = none."
    )
    autoscaling: Optional[dict[str, Any]] = Field(
        None,
        description="Scale this model's groups on load (the `autoscaling` add-on's settings, added to the model's add-ons): "
        "{minReplicas, maxReplicas, metric, target, ...}; docs/elastic-serving.md.",
    )
    engine_args: dict[str, EngineArgValue] = Field(
        default_factory=dict,
        description=(
            "Extra `vllm serve` flags ({max-model-len: 8192}), checked by vLLM's own parser of the image's version: "
            "true/false → the flag or its negative form, list → values or JSON as the flag takes them, map → JSON "
            "(docs/engine-args.md)."
        ),
    )
    image: Optional[str] = Field(None, description="vLLM image; defaults to vllm-fleet:image.")
    node_pool: Optional[NodePool] = Field(None, description="Overrides vllm-fleet:nodePool for this model.")
    resources: PodResources = Field(default_factory=PodResources, description="CPU/memory per GPU.")
    placement: Placement = Field(default_factory=Placement, description="Pack a group into one domain, spread the groups apart.")
    shared_memory: PositiveQuantity = Field("16Gi", description="Size limit of /dev/shm (Memory emptyDir).")
    scratch_space: PositiveQuantity = Field(
        "50Gi", description="Size limit of each writable emptyDir (/tmp, compile caches): the root filesystem is read-only."
    )
    startup_timeout_seconds: int = Field(
        3600, gt=0, le=MAX_STARTUP_SECONDS, description="How long loading the model may take before the startup probe fails (at most 7 days)."
    )
    api: ApiConfig = Field(default_factory=ApiConfig, description="The OpenAI-compatible API Service.")
    # The memory plan's inputs (docs/capacity.md); the plan reads them through `capacity`.
    model_info: Optional[ModelInfo] = Field(
        None, description="The architecture, for a model the catalog lacks (docs/capacity.md); wins over modelConfigFile."
    )
    model_config_file: Optional[str] = Field(
        None, min_length=1, description="A local Hugging Face config.json to read the architecture from (relative to the project)."
    )
    accelerator: Optional[str] = Field(
        None,
        min_length=1,
        max_length=63,
        description="GPU type (H100, L4, NVIDIA-H100-80GB-HBM3, …): sizes the memory plan, prices the GPUs and pins the "
        "nodeSelector nvidia.com/gpu.product; default: the node pool's nvidia.com/gpu.product.",
    )
    gpu_memory: Optional[PositiveQuantity] = Field(
        None, description="One GPU's memory (e.g. '94Gi'); wins over the accelerator type and a MIG profile."
    )

    @property
    def capacity(self) -> ModelCapacity:
        """The memory plan's keys as the capacity modules read them."""
        return ModelCapacity(
            model_info=self.model_info, model_config_file=self.model_config_file,
            accelerator=self.accelerator, gpu_memory=self.gpu_memory,
        )
    priority: Optional[DnsLabel] = Field(
        None, description="Priority tier of the model's pods, one of vllm-fleet:priorityTiers (default: the cluster's default priority)."
    )
    drain: DrainConfig = Field(default_factory=DrainConfig, description="Stopping a replica: in-flight requests finish, new ones go elsewhere.")


class PluginDefaults(StrictModel):
    """Plugins every model gets unless it names its own (or `none`)."""

    cache: Optional[PluginRef] = Field(None, description="Default cache of every model.")
    network: Optional[PluginRef] = Field(None, description="Default network of every model.")
    workload: PluginRef = Field(
        default_factory=lambda: PluginRef(type="statefulsets"), description="Default workload of every model."
    )
    addons: list[PluginRef] = Field(default_factory=list, description="Add-ons of every model that names none.")


class TransportConfig(StrictModel):
    """How collectives talk: the stack's overrides of the fabric's NCCL/Gloo environment."""

    verify: bool = Field(
        False,
        description="NCCL_DEBUG=TRACE (subsystems INIT,NET): the logs say `via NET/IB` or `via NET/Socket`.",
    )
    env: dict[TransportEnvName, Union[str, int]] = Field(
        default_factory=dict, description="NCCL_*/GLOO_* variables that replace the fabric's defaults."
    )


class FleetConfig(StrictModel):
    """Everything under `vllm-fleet:` in a stack."""

    namespace: DnsLabel = Field(description="Namespace all objects go to.")
    create_namespace: bool = Field(True, description="Create the namespace (false: it must exist).")
    image: str = Field(DEFAULT_IMAGE, min_length=1, description="Default vLLM image.")
    image_pull_secrets: list[DnsSubdomain] = Field(default_factory=list, description="Pull secret names.")
    node_pool: NodePool = Field(description="The GPU nodes models run on.")
    models: list[ModelConfig] = Field(min_length=1, description="The models to serve.")
    defaults: PluginDefaults = Field(default_factory=PluginDefaults, description="Stack-wide cache and network.")
    transport: TransportConfig = Field(default_factory=TransportConfig, description="NCCL/Gloo overrides.")
    hf_token: Optional[Secret] = Field(
        None, description="Hugging Face token for the huggingface source (a Pulumi secret)."
    )
    api_access: ApiAccess = Field(default_factory=ApiAccess, description="Who may reach the API, and whether it needs a key.")
    api_key: Optional[Secret] = Field(
        None, description="API key clients must send; set with `pulumi config set --secret vllm-fleet:apiKey`."
    )
    pricing: Pricing = Field(
        default_factory=Pricing,
        description="Price per GPU-hour by accelerator type ({H100: 2.49}): the plan table and the PR comment show cost/day.",
    )
    require_memory_plan: bool = Field(
        False,
        description="Fail (instead of warn) when a model's memory plan can't be made: a model the catalog lacks "
        "without modelInfo/modelConfigFile, or no known GPU type and no gpuMemory.",
    )
    priority_tiers: dict[DnsLabel, PriorityTier] = Field(
        default_factory=dict, description="Priority tiers models name in `priority:` (tier name -> PriorityClass)."
    )

    @model_validator(mode="after")
    def _required_api_key_is_set(self) -> "FleetConfig":
        if self.api_access.require_api_key and self.api_key is None:
            raise PydanticCustomError(
                "missing_secret",
                "apiKey: apiAccess.requireApiKey is true but no key is set: "
                "pulumi config set --secret vllm-fleet:apiKey <key>",
            )
        return self


# --------------------------------------------------------- error formatting

_MESSAGES = {
    "missing": "required key is missing",
    "greater_than": "must be a positive integer, got {input!r}",
    "less_than_equal": "must be less than or equal to {le}, got {input!r}",
    "greater_than_equal": "must be greater than or equal to {ge}, got {input!r}",
    "int_parsing": "must be an integer, got {input!r}",
    "int_from_float": "must be an integer, got {input!r}",
    "bool_parsing": "must be true or false, got {input!r}",
    "string_type": "must be a string, got {input!r}",
    "dict_type": "must be a mapping, got {input!r}",
    "list_type": "must be a list, got {input!r}",
    "model_type": "must be a mapping, got {input!r}",
    "too_short": "must not be empty",
    "string_pattern_mismatch": "must match {pattern}, got {input!r}",
}


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or str(origin) == "types.UnionType":
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation  # a real union: no single model to suggest keys from
            annotation = members[0]
        else:
            return annotation


def _model_at(root: type[BaseModel], loc: tuple) -> Optional[type[BaseModel]]:
    """The pydantic model class that sits at `loc` below `root`, to suggest its keys."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        origin = get_origin(current)
        if isinstance(part, int) and origin in (list, tuple):
            current = get_args(current)[0]
        elif isinstance(part, str) and origin is dict:
            current = get_args(current)[1]
        elif isinstance(part, str) and isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for n, f in current.model_fields.items() if part in (n, f.alias)), None
            )
            if field is None:
                return None
            current = field.annotation
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_aliases(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def issues_from(
    error: ValidationError, root: type[BaseModel], prefix: tuple = (), skip: Callable[[tuple], bool] = lambda loc: False
) -> list[Issue]:
    """Turns a pydantic ValidationError into key-path issues with helpful messages (`skip`: locations reported elsewhere)."""
    issues = []
    for detail in error.errors(include_url=False):
        # "[key]" marks a problem with a mapping's key itself: the path ends at that key.
        loc = tuple(part for part in detail["loc"] if not str(part).startswith("function-") and part != "[key]")
        if skip(loc):
            continue
        kind = detail["type"]
        if kind == "extra_forbidden":
            parent, unknown = loc[:-1], str(loc[-1])
            model = _model_at(root, parent)
            hint = did_you_mean(unknown, _field_aliases(model)) if model else ""
            valid = f"; valid keys: {', '.join(sorted(_field_aliases(model)))}" if model and not hint else ""
            issues.append(Issue(key_path(prefix + parent), f"unknown key '{unknown}'{hint}{valid}"))
            continue
        message = detail["msg"]
        if kind in _MESSAGES:
            message = _MESSAGES[kind].format(input=detail.get("input"), **detail.get("ctx", {}))
        elif kind == "value_error":
            message = str(detail.get("ctx", {}).get("error", message))
        elif kind == "literal_error":
            message = f"{detail['msg'].replace('Input should be', 'must be')}, got {detail.get('input')!r}"
        elif kind == "missing_secret":
            # Raised on the fleet; the message carries its own path.
            path, _, message = message.partition(": ")
            issues.append(Issue(f"{CONFIG_NAMESPACE}:{path}", message))
            continue
        issues.append(Issue(key_path(prefix + loc), message))
    return issues


# ---------------------------------------------------------- plugin resolution


@dataclass(frozen=True)
class SelectedPlugin:
    """A plugin chosen in the config, with its settings validated by its own model."""

    plugin: Any
    settings: BaseModel
    path: tuple


#: Model keys that configure one add-on by name: the add-on joins the model's add-ons (its own list or the
#: stack's), so a model can add it without repeating the stack's add-ons. Errors point at the key.
ADDON_KEYS: dict[str, str] = {"autoscaling": "autoscaling"}

# The plugin kinds a model chooses, each under the key of the same name. A kind
# that is also a field of `PluginDefaults` takes the stack default when a model
# names none.
MODEL_PLUGIN_KINDS: tuple[str, ...] = ("launcher", "storage", "cache", "network", "workload")


@dataclass(frozen=True)
class ModelSpec:
    """A validated model: its config plus its resolved plugins."""

    index: int
    config: ModelConfig
    plugins: dict[str, SelectedPlugin]
    addons: tuple[SelectedPlugin, ...] = ()

    @property
    def path(self) -> tuple:
        return ("models", self.index)


@dataclass(frozen=True)
class Fleet:
    """The validated stack. `issues` are problems of models left out of `models`.

    They are kept (not raised) so `plan.plan_fleet` can still plan every model
    that did validate and report both kinds of problem in one run; it raises
    them all together.
    """

    config: FleetConfig
    models: list[ModelSpec]
    issues: tuple[Issue, ...] = ()


def _select(registry, kind: str, ref: PluginRef, path: tuple) -> tuple[Optional[SelectedPlugin], list[Issue]]:
    plugin = registry.find(kind, ref.type)
    if plugin is None:
        available = ", ".join(registry.names(kind)) or "none installed"
        hint = did_you_mean(ref.type, registry.names(kind))
        return None, [Issue(key_path(path + ("type",)), f"unknown {kind} plugin {ref.type!r}{hint}; available: {available}")]
    try:
        settings = plugin.Settings.model_validate(ref.settings)
    except ValidationError as error:
        return None, issues_from(error, plugin.Settings, prefix=path)
    return SelectedPlugin(plugin, settings, path), []


def _without_unknown_keys(value: Any, model: type[BaseModel]) -> Any:
    """The raw model minus keys its schema doesn't know, recursively through nested models.

    A typo'd key is already an error; dropping it lets the rest of the model be
    planned, so its other problems show up in the same run.
    """
    if not isinstance(value, Mapping):
        return value
    known = {alias: field for name, field in model.model_fields.items() for alias in (name, field.alias or name)}
    kept = {}
    for key, item in value.items():
        field = known.get(key)
        if field is None:
            continue
        nested = _unwrap(field.annotation)
        is_model = isinstance(nested, type) and issubclass(nested, BaseModel) and nested is not PluginRef
        kept[key] = _without_unknown_keys(item, nested) if is_model else item
    return kept


def _model_config(index: int, raw_model: Any, registry) -> tuple[Optional[ModelConfig], list[Issue]]:
    """One model's core config, validated on its own so a bad model hides nothing of the others."""
    path = ("models", index)
    try:
        return ModelConfig.model_validate(raw_model), []
    except ValidationError as error:
        issues = issues_from(error, ModelConfig, prefix=path)
    try:
        # Plannable once its typos are ignored: plan it too (its typos stay errors).
        return ModelConfig.model_validate(_without_unknown_keys(raw_model, ModelConfig)), issues
    except ValidationError:
        return None, issues + _raw_plugin_issues(index, raw_model, registry)


def _stack_config(raw: Mapping[str, Any], models: Optional[list[ModelConfig]]) -> tuple[Optional[FleetConfig], list[Issue]]:
    """The stack-wide keys; `models` replaces the raw list once each model was checked on its own."""
    known = _field_aliases(FleetConfig)
    issues = [
        Issue(f"{CONFIG_NAMESPACE}:{key}", f"unknown config key{did_you_mean(str(key), known)}; valid keys: {', '.join(known)}")
        for key in raw
        if key not in known
    ]
    document = {key: value for key, value in raw.items() if key in known}
    checked_each = models is not None
    if models:
        document["models"] = models
    try:
        return FleetConfig.model_validate(document), issues
    except ValidationError as error:
        # Locations inside one model were reported when it was validated on its own.
        inside_a_model = lambda loc: checked_each and len(loc) > 1 and loc[0] == "models"  # noqa: E731
        return None, issues + issues_from(error, FleetConfig, skip=inside_a_model)


def _duplicate_names(configs: dict[int, ModelConfig]) -> tuple[dict[int, ModelConfig], list[Issue]]:
    first: dict[str, int] = {}
    unique, issues = {}, []
    for index, config in configs.items():
        if config.name in first:
            issues.append(Issue(
                key_path(("models", index, "name")),
                f"duplicate model name '{config.name}' (also models[{first[config.name]}])",
            ))
            continue
        first[config.name] = index
        unique[index] = config
    return unique, issues


def load_fleet(raw: Mapping[str, Any], registry) -> Fleet:
    """Validates the raw `vllm-fleet:*` config (keys without namespace) and resolves plugins.

    Every model is validated on its own. Raises ConfigError when the stack-wide
    keys are invalid (nothing can be planned); otherwise problems of single
    models travel in `Fleet.issues` and `plan_fleet` raises them together with
    the plan's. Cross-field checks that need the GPU plan run in `plan.py`.
    """
    raw_models = raw.get("models")
    configs: dict[int, ModelConfig] = {}
    issues: list[Issue] = []
    if isinstance(raw_models, list) and raw_models:
        for index, raw_model in enumerate(raw_models):
            config, problems = _model_config(index, raw_model, registry)
            issues += problems
            if config is not None:
                configs[index] = config
        configs, problems = _duplicate_names(configs)
        issues += problems
    each = list(configs.values()) if isinstance(raw_models, list) and raw_models else None
    stack, problems = _stack_config(raw, each)
    issues += problems
    models = []
    for index, config in configs.items():
        issues += [
            Issue(key_path(("models", index, "engineArgs", key)), message)
            for key, message in check_engine_args(config.engine_args)
        ]
        # Without valid stack keys the defaults are unknown: check the model's own plugins only.
        defaults = stack.defaults if stack else PluginDefaults()
        selected, problems = _plugins(registry, defaults, index, config)
        addons, addon_problems = _select_addons(registry, defaults, index, config)
        issues += problems + addon_problems
        if not problems and not addon_problems:  # planned even with bad engineArgs: its plan errors still show
            models.append(ModelSpec(index, config, selected, addons))
    if stack is None or not configs:
        raise ConfigError(issues)
    return Fleet(stack, models, tuple(issues))


def _select_addons(
    registry, defaults: PluginDefaults, index: int, model: ModelConfig
) -> tuple[tuple[SelectedPlugin, ...], list[Issue]]:
    """A model's add-ons: its own list, else the stack's, plus those set by a key (`autoscaling`); each at most once."""
    refs, root = (model.addons, ("models", index, "addons")) if model.addons is not None else (defaults.addons, ("defaults", "addons"))
    entries = [(ref, root + (position,)) for position, ref in enumerate(refs)]
    for key, name in ADDON_KEYS.items():
        if getattr(model, key) is not None:
            entries.append((PluginRef(type=name, settings=getattr(model, key)), ("models", index, key)))
    chosen: list[SelectedPlugin] = []
    issues: list[Issue] = []
    for ref, path in entries:
        twin = next((selected for selected in chosen if selected.plugin.name == ref.type), None)
        if twin is not None:
            if path[-1] in ADDON_KEYS:
                issues.append(Issue(key_path(path), f"add-on {ref.type!r} is also listed at {key_path(twin.path, '')}; set it once"))
            else:
                issues.append(Issue(key_path(path + ("type",)), f"add-on {ref.type!r} is listed twice; list it once"))
            continue
        if path[-1] in ADDON_KEYS and registry.find("addon", ref.type) is None:
            issues.append(Issue(key_path(path), f"needs the {ref.type!r} add-on, which is not installed"))
            continue
        choice, problems = _select(registry, "addon", ref, path)
        issues += problems
        chosen += [choice] if choice else []
    return tuple(chosen), issues


def _plugins(registry, defaults: PluginDefaults, index: int, model: ModelConfig) -> tuple[dict[str, SelectedPlugin], list[Issue]]:
    """The model's plugins: its own choice, else the stack default."""
    selected = {}
    issues: list[Issue] = []
    for kind in MODEL_PLUGIN_KINDS:
        ref, path = getattr(model, kind, None), ("models", index, kind)
        if ref is None:
            ref, path = getattr(defaults, kind, None), ("defaults", kind)
        if ref is None or ref.type == NO_PLUGIN:
            continue
        choice, problems = _select(registry, kind, ref, path)
        issues.extend(problems)
        if choice:
            selected[kind] = choice
    return selected, issues


def _raw_plugin_issues(index: int, model: Any, registry) -> list[Issue]:
    """Plugin-settings problems of a model whose core keys failed validation."""
    issues: list[Issue] = []
    for kind in MODEL_PLUGIN_KINDS:
        value = model.get(kind) if isinstance(model, Mapping) else None
        try:
            ref = PluginRef.model_validate(value)
        except ValidationError:
            continue  # already reported by the core validation
        if ref.type != NO_PLUGIN:
            issues += _select(registry, kind, ref, ("models", index, kind))[1]
    return issues
