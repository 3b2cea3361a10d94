"""Routing add-on: a Gateway API route to a model, load-aware across its replicas.

With more than one replica the route's backend is an InferencePool
(`inference.networking.k8s.io/v1`) over the pods that serve the API, and the
gateway asks the pool's endpoint picker (EPP, llm-d's router) which pod takes
each request: the shortest queue, the least KV cache in use and the best
prefix-cache hit, read from vLLM's own /metrics. With one replica there is
nothing to pick between: the route's backend is the model's plain API Service,
so the URL clients use through the gateway stays the same when replicas change.

Only heads serve the API. On LeaderWorkerSet the heads are the group leaders
(LWS `worker-index` "0"); workers never enter the pool, so requests never land
on a pod that has no API server.

Objects (one model): the InferencePool, the EPP's ServiceAccount, Role,
RoleBinding, ConfigMap (its scoring profile), Deployment and Service, the
HTTPRoute, and two NetworkPolicies: the gateway and the EPP may reach the
heads' API port, and only the gateway may reach the EPP's ext-proc port.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal, Optional

import yaml
from pydantic import Field, field_validator

from ..constants import (
    EPP_GRPC_HEALTH_PORT,
    EPP_GRPC_PORT,
    EPP_IMAGE,
    EPP_METRICS_PORT,
    HOSTNAME_PATTERN,
    LABEL_COMPONENT,
    LABEL_INSTANCE,
    LABEL_NAME,
)
from ..sdk import HEAD, DnsSubdomain, Labels, ModelPlan, ObjectSpec, PlanError, PluginSettings, PositiveQuantity, network_peer, selector_labels

INFERENCE_API = "inference.networking.k8s.io/v1"
INFERENCE_GROUP = "inference.networking.k8s.io"
GATEWAY_API = "gateway.networking.k8s.io/v1"
LWS_WORKLOAD = "leaderworkerset"
#: LWS labels every pod with its index in the group; the leader (our head) is "0".
LWS_WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
#: GEP-1762: the label a Gateway implementation puts on the data-plane pods it deploys for a Gateway.
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
PICKER_COMPONENT = "endpoint-picker"
PICKER_CONFIG_KEY = "plugins.yaml"
PICKER_CONFIG_DIR = "/config"
#: Where client-go's in-cluster config reads the token, CA and namespace.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: Gateway API Duration (GEP-2257): 1h, 300s, 500ms, 1h30m.
_DURATION = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"
_HOSTNAME = re.compile(HOSTNAME_PATTERN)


# ------------------------------------------------------------------ settings


class GatewayRef(PluginSettings):
    name: DnsSubdomain = Field(description="The Gateway the route attaches to (its listener must allow routes from this namespace).")
    namespace: Optional[DnsSubdomain] = Field(None, description="The Gateway's namespace; default: the stack's namespace.")
    section_name: Optional[str] = Field(
        None, min_length=1, max_length=253, description="One listener of the Gateway (its `name`); default: every listener that allows the route."
    )
    pod_labels: Optional[Labels] = Field(
        None,
        description="Labels of the gateway's proxy pods, admitted to the heads' API port and the EPP; "
        f"default `{GATEWAY_NAME_LABEL}: <name>` (GEP-1762, what Istio, Envoy Gateway and agentgateway set).",
    )


class Scorers(PluginSettings):
    """Weights of the EPP's default scheduling profile (llm-d's router chart uses 2, 2, 3)."""

    queue: int = Field(2, ge=0, le=100, description="Shorter queue (vllm:num_requests_waiting) scores higher.")
    kv_cache: int = Field(2, ge=0, le=100, description="Less KV cache in use (vllm:kv_cache_usage_perc) scores higher.")
    prefix_cache: int = Field(3, ge=0, le=100, description="More of the prompt's prefix likely cached on the pod scores higher.")


class Picker(PluginSettings):
    replicas: int = Field(
        1, ge=1, le=5,
        description="EPP pods; more than 1 runs one active picker and hot standbys (leader election).",
    )
    failure_mode: Literal["FailOpen", "FailClose"] = Field(
        "FailOpen", description="When the EPP doesn't answer: FailOpen routes to some pod of the pool, FailClose refuses the request."
    )
    secure_serving: bool = Field(
        True, description="ext-proc over TLS (self-signed); set false for gateways that dial plaintext (agentgateway)."
    )
    cpu: PositiveQuantity = Field("4", description="CPU request of the EPP.")
    memory: PositiveQuantity = Field("8Gi", description="Memory request and limit of the EPP.")
    scorers: Scorers = Field(default_factory=Scorers)


class RoutingSettings(PluginSettings):
    gateway: GatewayRef = Field(description="The Gateway (with the inference extension) that routes to this model.")
    hostnames: list[str] = Field(
        default_factory=list, max_length=16,
        description="Host names the route answers (e.g. llama.example.com); [] = every host of the listener.",
    )
    path_prefix: str = Field("/", pattern=r"^/[^\s]*$", max_length=1024, description="Path prefix the route matches.")
    request_timeout: str = Field(
        "300s", pattern=_DURATION,
        description="Longest request through the gateway (a streamed completion included); '0s' = no limit. Keep it within `drain.timeoutSeconds`.",
    )
    picker: Picker = Field(default_factory=Picker, description="The endpoint picker, used when the model has more than one replica.")

    @field_validator("hostnames")
    @classmethod
    def _hostnames(cls, hostnames: list[str]) -> list[str]:
        bad = [h for h in hostnames if len(h) > 253 or not _HOSTNAME.match(h)]
        if bad:
            raise ValueError(f"not a host name: {', '.join(map(repr, bad))} (lower-case DNS name, optionally '*.' in front)")
        return hostnames


# ------------------------------------------------------------------ names


def pool_name(plan: ModelPlan) -> str:
    return plan.name


def picker_name(plan: ModelPlan) -> str:
    return f"{plan.name}-epp"


def api_pod_labels(plan: ModelPlan) -> dict[str, str]:
    """The pods that serve the model's API: heads, and on LeaderWorkerSet only group leaders."""
    labels = selector_labels(plan.name, HEAD)
    if plan.workload == LWS_WORKLOAD:
        labels[LWS_WORKER_INDEX] = "0"
    return labels


def _picker_labels(plan: ModelPlan) -> dict[str, str]:
    return {LABEL_NAME: "vllm-epp", LABEL_INSTANCE: plan.name, LABEL_COMPONENT: PICKER_COMPONENT}


def _gateway_peer(settings: RoutingSettings, plan: ModelPlan) -> dict[str, Any]:
    gateway = settings.gateway
    labels = gateway.pod_labels if gateway.pod_labels is not None else {GATEWAY_NAME_LABEL: gateway.name}
    namespace = gateway.namespace or plan.namespace
    return network_peer(namespace, labels)


# ------------------------------------------------------------------ pool and picker


def inference_pool(settings: RoutingSettings, plan: ModelPlan) -> ObjectSpec:
    spec = {
        "selector": {"matchLabels": api_pod_labels(plan)},
        "targetPorts": [{"number": plan.api_port}],
        "endpointPickerRef": {
            "name": picker_name(plan),
            "port": {"number": EPP_GRPC_PORT},
            "failureMode": settings.picker.failure_mode,
        },
    }
    return ObjectSpec(INFERENCE_API, "InferencePool", pool_name(plan), {"spec": spec}, labels=plan.labels("routing"))


def picker_config(settings: RoutingSettings) -> str:
    """The EPP's plugins file (llm-d router `EndpointPickerConfig`): vLLM metrics in, one weighted profile out."""
    weights = settings.picker.scorers
    scorers = [("queue-scorer", weights.queue), ("kv-cache-utilization-scorer", weights.kv_cache), ("prefix-cache-scorer", weights.prefix_cache)]
    used = [(name, weight) for name, weight in scorers if weight > 0]
    config = {
        "apiVersion": "llm-d.ai/v1alpha1",
        "kind": "EndpointPickerConfig",
        "plugins": [
            *({"type": name} for name, _ in used),
            {"type": "metrics-data-source", "parameters": {"scheme": "http", "path": "/metrics"}},
            {"type": "core-metrics-extractor"},
        ],
        "schedulingProfiles": [{"name": "default", "plugins": [{"pluginRef": name, "weight": weight} for name, weight in used]}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def picker_args(settings: RoutingSettings, plan: ModelPlan) -> list[str]:
    args = [
        "--pool-name", pool_name(plan),
        "--pool-namespace", plan.namespace,
        "--pool-group", INFERENCE_GROUP,
        "--config-file", f"{PICKER_CONFIG_DIR}/{PICKER_CONFIG_KEY}",
        "--grpc-port", str(EPP_GRPC_PORT),
        "--grpc-health-port", str(EPP_GRPC_HEALTH_PORT),
        "--metrics-port", str(EPP_METRICS_PORT),
        "--zap-encoder", "json",
        f"--secure-serving={str(settings.picker.secure_serving).lower()}",
        "--tracing=false",
    ]
    if settings.picker.replicas > 1:
        args.append("--ha-enable-leader-election")
    return args


def _picker_probe(settings: RoutingSettings, check: str) -> dict[str, Any]:
    """gRPC health: `inference-extension` for one picker; with leader election `liveness` / `readiness` (standbys stay unready)."""
    service = "inference-extension" if settings.picker.replicas == 1 else check
    return {"grpc": {"port": EPP_GRPC_HEALTH_PORT, "service": service}}


def _picker_container(settings: RoutingSettings, plan: ModelPlan) -> dict[str, Any]:
    picker = settings.picker
    return {
        "name": "epp",
        "image": EPP_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": picker_args(settings, plan),
        "env": [
            {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "ports": [
            {"name": "grpc", "containerPort": EPP_GRPC_PORT, "protocol": "TCP"},
            {"name": "grpc-health", "containerPort": EPP_GRPC_HEALTH_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": EPP_METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": {"requests": {"cpu": picker.cpu, "memory": picker.memory}, "limits": {"memory": picker.memory}},
        "livenessProbe": {**_picker_probe(settings, "liveness"), "initialDelaySeconds": 5, "periodSeconds": 10},
        "readinessProbe": {**_picker_probe(settings, "readiness"), "periodSeconds": 2},
        "volumeMounts": [
            {"name": "config", "mountPath": PICKER_CONFIG_DIR, "readOnly": True},
            {"name": "api-token", "mountPath": SERVICE_ACCOUNT_DIR, "readOnly": True},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def _api_token_volume() -> dict[str, Any]:
    """The one token a vllm-fleet pod gets, mounted by name (what automounting would add, and no more)."""
    return {"name": "api-token", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def picker_deployment(settings: RoutingSettings, plan: ModelPlan) -> ObjectSpec:
    """The EPP: Recreate, as upstream recommends (one active picker holds the prefix-cache index).

    It watches pods and the pool, so it needs its token: mounted explicitly, with
    automounting off like every pod of the fleet (policy no-service-account-token).
    """
    labels = _picker_labels(plan)
    pod_spec = {
        "serviceAccountName": picker_name(plan),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        # Streams through the gateway wait on the picker's answer only; upstream's default.
        "terminationGracePeriodSeconds": 130,
        "containers": [_picker_container(settings, plan)],
        "volumes": [{"name": "config", "configMap": {"name": picker_name(plan)}}, _api_token_volume()],
    }
    spec = {
        "replicas": settings.picker.replicas,
        "strategy": {"type": "Recreate"},
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": {**plan.labels(PICKER_COMPONENT), **labels}}, "spec": pod_spec},
    }
    return ObjectSpec("apps/v1", "Deployment", picker_name(plan), {"spec": spec}, labels=plan.labels(PICKER_COMPONENT))


def picker_service(plan: ModelPlan) -> ObjectSpec:
    ports = [
        {"name": "grpc-ext-proc", "port": EPP_GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "http2"},
        {"name": "http-metrics", "port": EPP_METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
    ]
    spec = {"type": "ClusterIP", "selector": _picker_labels(plan), "ports": ports}
    return ObjectSpec("v1", "Service", picker_name(plan), {"spec": spec}, labels=plan.labels(PICKER_COMPONENT))


def picker_rbac(settings: RoutingSettings, plan: ModelPlan) -> tuple[ObjectSpec, ...]:
    """Read the pool, its pods and the router's objectives; leases and events only with leader election."""
    name, labels = picker_name(plan), plan.labels(PICKER_COMPONENT)
    read = ["get", "list", "watch"]
    rules: list[dict[str, Any]] = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": list(read)},
        {"apiGroups": [INFERENCE_GROUP], "resources": ["inferencepools"], "verbs": list(read)},
        {"apiGroups": ["inference.networking.x-k8s.io", "llm-d.ai"], "resources": ["inferenceobjectives", "inferencemodelrewrites"], "verbs": list(read)},
    ]
    if settings.picker.replicas > 1:
        rules += [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        ]
    account = ObjectSpec("v1", "ServiceAccount", name, {"automountServiceAccountToken": False}, labels=labels)
    role = ObjectSpec("rbac.authorization.k8s.io/v1", "Role", name, {"rules": rules}, labels=labels)
    binding = ObjectSpec("rbac.authorization.k8s.io/v1", "RoleBinding", name, {
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": plan.namespace}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
    }, labels=labels)
    return account, role, binding


def picker_config_map(settings: RoutingSettings, plan: ModelPlan) -> ObjectSpec:
    return ObjectSpec("v1", "ConfigMap", picker_name(plan), {"data": {PICKER_CONFIG_KEY: picker_config(settings)}}, labels=plan.labels(PICKER_COMPONENT))


# ------------------------------------------------------------------ route and policies


def http_route(settings: RoutingSettings, plan: ModelPlan, pooled: bool) -> ObjectSpec:
    """The gateway's route to the model: the pool when there is a choice of replicas, else the API Service."""
    parent: dict[str, Any] = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": settings.gateway.name}
    if settings.gateway.namespace:
        parent["namespace"] = settings.gateway.namespace
    if settings.gateway.section_name:
        parent["sectionName"] = settings.gateway.section_name
    if pooled:
        backend: dict[str, Any] = {"group": INFERENCE_GROUP, "kind": "InferencePool", "name": pool_name(plan)}
    else:
        backend = {"group": "", "kind": "Service", "name": plan.names.api_service, "port": plan.config.api.port}
    rule = {
        "matches": [{"path": {"type": "PathPrefix", "value": settings.path_prefix}}],
        "backendRefs": [backend],
        "timeouts": {"request": settings.request_timeout},
    }
    spec: dict[str, Any] = {"parentRefs": [parent], "rules": [rule]}
    if settings.hostnames:
        spec["hostnames"] = list(settings.hostnames)
    return ObjectSpec(GATEWAY_API, "HTTPRoute", plan.name, {"spec": spec}, labels=plan.labels("routing"))


def api_policy(settings: RoutingSettings, plan: ModelPlan, pooled: bool) -> ObjectSpec:
    """The gateway's proxies (and the EPP, which scrapes /metrics there) may reach the heads' API port, nothing else.

    NetworkPolicies add up: the group's own policy (apiAccess) stays as it is.
    """
    peers = [_gateway_peer(settings, plan)]
    if pooled:
        peers.append({"podSelector": {"matchLabels": _picker_labels(plan)}})
    spec = {
        "podSelector": {"matchLabels": api_pod_labels(plan)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": peers, "ports": [{"port": plan.api_port, "protocol": "TCP"}]}],
    }
    return ObjectSpec("networking.k8s.io/v1", "NetworkPolicy", f"{plan.name}-routing", {"spec": spec}, labels=plan.labels("routing"))


def picker_policy(settings: RoutingSettings, plan: ModelPlan) -> ObjectSpec:
    """Only the gateway's proxies talk to the EPP (ext-proc); the kubelet's gRPC probes are not subject to it."""
    spec = {
        "podSelector": {"matchLabels": _picker_labels(plan)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [_gateway_peer(settings, plan)], "ports": [{"port": EPP_GRPC_PORT, "protocol": "TCP"}]}],
    }
    return ObjectSpec("networking.k8s.io/v1", "NetworkPolicy", picker_name(plan), {"spec": spec}, labels=plan.labels(PICKER_COMPONENT))


# ------------------------------------------------------------------ the add-on


def _duration_seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(h|ms|m|s)", duration))


def check_drain_covers_requests(settings: RoutingSettings, plan: ModelPlan) -> None:
    """A request the route allows to run longer than the drain would be cut when its replica goes."""
    limit = _duration_seconds(settings.request_timeout)
    drain = plan.config.drain.timeout_seconds
    if limit == 0 or limit > drain:
        shown = "no limit" if limit == 0 else f"{settings.request_timeout}"
        raise PlanError(
            ("requestTimeout",),
            f"{shown} is longer than the model's drain.timeoutSeconds ({drain}): a request still running when its "
            f"replica drains would be cut; set requestTimeout to at most {drain}s or raise drain.timeoutSeconds",
        )


class RoutingAddon:
    """An HTTPRoute on a Gateway; with more than one replica, an InferencePool and its endpoint picker behind it."""

    kind: ClassVar[str] = "addon"
    name: ClassVar[str] = "routing"
    Settings: ClassVar[type[RoutingSettings]] = RoutingSettings

    def objects(self, settings: RoutingSettings, plan: ModelPlan) -> tuple[ObjectSpec, ...]:
        check_drain_covers_requests(settings, plan)
        pooled = plan.max_replicas > 1  # autoscaled: a pool whenever it may run more than one group
        route = (http_route(settings, plan, pooled), api_policy(settings, plan, pooled))
        if not pooled:
            return route
        return (
            inference_pool(settings, plan),
            *picker_rbac(settings, plan),
            picker_config_map(settings, plan),
            picker_deployment(settings, plan),
            picker_service(plan),
            picker_policy(settings, plan),
            *route,
        )


__all__ = ["RoutingAddon", "RoutingSettings", "api_pod_labels", "picker_config"]
