"""Autoscaling add-on: KEDA scales a model's whole groups on vLLM's own load, and wakes idle models from zero.

Plain data like every plugin. For each model that sets `autoscaling:` (or lists
`{type: autoscaling}` under `addons`) it returns:
- a KEDA `ScaledObject` whose target is what adds or removes a complete group:
  the LeaderWorkerSet (its scale subresource counts groups) or the StatefulSet
  of a single-pod model. A Prometheus trigger reads one of vLLM's metrics from
  the leaders only (workers serve no API and export no request metrics);
- with `scaleToZero`, a KEDA HTTP add-on `InterceptorRoute` (the ScaledObject
  then also carries the interceptor's `external-push` trigger and a minimum of 0)
  and a NetworkPolicy that lets the interceptor reach the API port.

The `replica_range` hook gives the plan the model's group range: the workload is
created at `minReplicas` and Pulumi leaves its replica count to KEDA afterwards.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Optional

from pydantic import Field

from ..constants import HOSTNAME_PATTERN, MAX_REPLICAS
from ..sdk import ModelPlan, ObjectSpec, PlanError, PluginSettings, ReplicaRange, network_peer, selector_labels

KEDA_API = "keda.sh/v1alpha1"
HTTP_ADDON_API = "http.keda.sh/v1beta1"
LWS_KIND = "LeaderWorkerSet"
STATEFULSETS_WORKLOAD = "statefulsets"
#: Time for the scheduler (and a node autoscaler) to place a woken group, added to the startup budget.
SCHEDULING_ALLOWANCE_SECONDS = 300
#: Scaler errors in a row after which KEDA stops trusting the metric and keeps the current group count.
FALLBACK_FAILURES = 3
_DURATION = r"^[1-9][0-9]*(s|m|h)$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

Metric = Literal["requestsWaiting", "kvCacheUsage", "timeToFirstToken"]
#: How each metric reaches the HPA: a per-group average (the sum over leaders divided by the groups)
#: or, for a latency, the value itself against the objective (desired = current × value / objective).
METRIC_TYPES: dict[str, str] = {"requestsWaiting": "AverageValue", "kvCacheUsage": "AverageValue", "timeToFirstToken": "Value"}
#: The vLLM series each metric reads (names as vLLM 0.33 exports them; tests check the queries against vllm-metrics.json).
METRIC_SERIES: dict[str, str] = {
    "requestsWaiting": "vllm:num_requests_waiting",
    "kvCacheUsage": "vllm:kv_cache_usage_perc",
    "timeToFirstToken": "vllm:time_to_first_token_seconds_bucket",
}


# ------------------------------------------------------------------ settings


class Prometheus(PluginSettings):
    server_address: str = Field(
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="URL of the Prometheus HTTP API that KEDA queries (e.g. http://prometheus-operated.monitoring.svc:9090).",
    )


class ScaleStep(PluginSettings):
    """One direction of the HPA's behavior: how long it waits, and how many groups it may move at once."""

    stabilization_seconds: int = Field(
        ge=0, le=3600, description="The HPA acts on the most cautious recommendation of this window (HPA stabilizationWindowSeconds)."
    )
    max_groups: Optional[int] = Field(
        None, ge=1, le=MAX_REPLICAS, description="At most this many whole groups per `periodSeconds` (an HPA `Pods` policy); none: the HPA's default."
    )
    period_seconds: int = Field(60, ge=1, le=1800, description="The window `maxGroups` applies to.")


class Interceptor(PluginSettings):
    """Where the KEDA HTTP add-on runs (its Helm chart's defaults)."""

    namespace: str = Field("keda", pattern=_DNS_LABEL, max_length=63, description="Namespace of the HTTP add-on's interceptor and scaler.")
    service: str = Field("keda-add-ons-http-interceptor-proxy", min_length=1, description="The interceptor's proxy Service clients send requests to.")
    port: int = Field(8080, ge=1, le=65535, description="The proxy Service's port.")
    scaler_address: str = Field(
        "keda-add-ons-http-external-scaler.keda:9090", min_length=1, description="The HTTP add-on's external scaler (host:port) KEDA polls."
    )
    pod_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels of the interceptor pods the model's NetworkPolicy admits; empty: any pod of `namespace`.",
    )


class ScaleToZero(PluginSettings):
    concurrency: int = Field(100, ge=1, description="In-flight requests per group, counted by the interceptor, before KEDA adds a group.")
    request_timeout_seconds: Optional[int] = Field(
        None, ge=1, le=7 * 24 * 3600,
        description="Total time the interceptor gives one request: the cold start plus the answer. Default: the model's "
        f"startup budget + {SCHEDULING_ALLOWANCE_SECONDS} s to schedule + responseHeaderTimeoutSeconds.",
    )
    response_header_timeout_seconds: int = Field(
        600, ge=1, le=7 * 24 * 3600,
        description="How long vLLM may take to send response headers once it has the request (a non-streamed answer sends them at the end).",
    )
    hosts: list[Annotated[str, Field(pattern=HOSTNAME_PATTERN, max_length=253)]] = Field(
        default_factory=list,
        description="More Host header values routed to this model (e.g. an external name your ingress sends to the interceptor).",
    )
    interceptor: Interceptor = Field(default_factory=Interceptor, description="Where the HTTP add-on runs.")


class AutoscalingSettings(PluginSettings):
    min_replicas: int = Field(1, ge=0, le=MAX_REPLICAS, description="Fewest groups; 0 only with scaleToZero.")
    max_replicas: int = Field(ge=1, le=MAX_REPLICAS, description="Most groups; each takes TP×PP GPUs.")
    metric: Optional[Metric] = Field(
        None,
        description="vLLM's load signal: requestsWaiting (queued requests per group), kvCacheUsage (0-1 per group) or "
        "timeToFirstToken (a quantile, in seconds, against `target` as the objective).",
    )
    target: Optional[float] = Field(None, gt=0, description="The metric's value per group that KEDA keeps: requests, a 0-1 fraction, or seconds.")
    quantile: float = Field(0.9, gt=0, lt=1, description="timeToFirstToken only: the quantile held to `target`.")
    window: str = Field("2m", pattern=_DURATION, description="timeToFirstToken only: the rate() window of the histogram.")
    prometheus: Optional[Prometheus] = Field(None, description="The Prometheus that scrapes the model (required with `metric`).")
    polling_interval_seconds: int = Field(15, ge=1, le=3600, description="How often KEDA checks the triggers (KEDA pollingInterval).")
    cooldown_seconds: int = Field(
        900, ge=0, le=7 * 24 * 3600,
        description="scaleToZero only: idle time before the last group goes (KEDA cooldownPeriod); a cold start costs minutes.",
    )
    scale_up: ScaleStep = Field(default_factory=lambda: ScaleStep(stabilization_seconds=0), description="Adding groups.")
    scale_down: ScaleStep = Field(
        default_factory=lambda: ScaleStep(stabilization_seconds=600, max_groups=1, period_seconds=300),
        description="Removing groups: one at a time, after 10 minutes of lower load, since a new group takes minutes to start.",
    )
    scale_to_zero: Optional[ScaleToZero] = Field(
        None, description="Scale an idle model to 0 groups; the KEDA HTTP add-on's interceptor holds the first request while a group starts."
    )


def _no_effect(settings: AutoscalingSettings, keys: tuple[str, ...], why: str) -> None:
    for key in keys:
        if key in settings.model_fields_set:
            alias = AutoscalingSettings.model_fields[key].alias or key
            raise PlanError((alias,), f"has no effect {why}; remove it")


def check_settings(settings: AutoscalingSettings) -> None:
    """Combinations that validate key by key but can't work together; fields relative to the add-on's entry."""
    s = settings
    if s.min_replicas > s.max_replicas:
        raise PlanError(("minReplicas",), f"{s.min_replicas} is above maxReplicas ({s.max_replicas})")
    if s.min_replicas == s.max_replicas:
        raise PlanError(("maxReplicas",), f"equals minReplicas ({s.min_replicas}): nothing to scale; set the model's replicas instead")
    if s.min_replicas == 0 and s.scale_to_zero is None:
        raise PlanError(
            ("minReplicas",),
            "0 needs scaleToZero: at zero groups vLLM exports no metrics, so only the HTTP add-on's interceptor "
            "can wake the model; add scaleToZero or set minReplicas to 1 or more",
        )
    if s.scale_to_zero is not None and s.min_replicas > 0:
        raise PlanError(("scaleToZero",), f"scales an idle model to 0 groups, but minReplicas is {s.min_replicas}; set minReplicas: 0")
    if s.scale_to_zero is None:
        _no_effect(s, ("cooldown_seconds",), "without scaleToZero (KEDA's cooldown is the wait before 1 -> 0); tune scaleDown instead")
    _check_metric(s)


def _check_metric(s: AutoscalingSettings) -> None:
    if s.metric is None:
        if s.scale_to_zero is None:
            raise PlanError(("metric",), "required key is missing: requestsWaiting | kvCacheUsage | timeToFirstToken (only scaleToZero scales without one)")
        _no_effect(s, ("target", "prometheus", "quantile", "window"), "without a metric")
        return
    if s.target is None:
        raise PlanError(("target",), f"required key is missing: the {s.metric} value per group to keep")
    if s.prometheus is None:
        raise PlanError(("prometheus", "serverAddress"), "required key is missing: the Prometheus that scrapes the model, e.g. http://prometheus-operated.monitoring.svc:9090")
    if s.metric == "kvCacheUsage" and s.target >= 1:
        raise PlanError(("target",), f"KV-cache usage is a fraction below 1 (0.8 = 80% full), got {s.target:g}")
    if s.metric != "timeToFirstToken":
        _no_effect(s, ("quantile", "window"), f"with metric {s.metric} (only timeToFirstToken reads a histogram)")


# ------------------------------------------------------------------ target and queries


def scale_target(plan: ModelPlan) -> dict[str, str]:
    """What KEDA scales: the object whose one replica is one whole group."""
    for spec in plan.workload_objects:
        if spec.kind == LWS_KIND:
            return {"apiVersion": spec.api_version, "kind": spec.kind, "name": spec.name}
    if plan.workload == STATEFULSETS_WORKLOAD:
        if plan.gpus.multi_node:
            raise PlanError(
                (),
                f"a {plan.gpus.pods}-pod group can't be autoscaled on the statefulsets workload: its heads and workers are two "
                "StatefulSets that can't grow in lockstep; set `workload: leaderworkerset` (its scale subresource adds whole groups)",
            )
        head = next(spec for spec in plan.workload_objects if spec.name == plan.api_role.name)
        return {"apiVersion": head.api_version, "kind": head.kind, "name": head.name}
    raise PlanError((), f"the {plan.workload} workload has nothing that scales whole groups; use leaderworkerset (or statefulsets for one pod)")


def leader_selector(plan: ModelPlan) -> str:
    """PromQL matchers for the pods that serve the API: a group's leader, never its workers.

    Both targets name their pods `<target>-<ordinal>`: StatefulSet pods, and the
    LWS leaders `<lws>-<group>` (workers are `<lws>-<group>-<index>`, which the
    anchored regex can't match). `namespace` and `pod` are the target labels
    every Prometheus Operator PodMonitor or ServiceMonitor (the monitoring add-on's
    included) puts on a scraped series.
    """
    return f'namespace="{plan.namespace}", pod=~"{scale_target(plan)["name"]}-[0-9]+"'


def metric_query(settings: AutoscalingSettings, plan: ModelPlan) -> str:
    """One PromQL expression with one result for the whole model (KEDA refuses more than one).

    Empty when Prometheus has no series of the model (scraping broken, or the
    group still starting): with `ignoreNullValues: false` that is an error, so
    KEDA's fallback keeps the current groups instead of reading "no load".
    """
    leaders = leader_selector(plan)
    series = f"{METRIC_SERIES[settings.metric]}{{{leaders}}}"
    if settings.metric == "requestsWaiting":
        return f"sum({series})"
    if settings.metric == "kvCacheUsage":
        return f"sum(avg by (pod) ({series}))"
    quantile = f"histogram_quantile({settings.quantile:g}, sum by (le) (rate({series}[{settings.window}])))"
    # No request in the window makes the quantile NaN: read it as 0 while the model is scraped, stay empty when not.
    return f"({quantile} > 0) or (sum(vllm:num_requests_running{{{leaders}}}) * 0)"


def _prometheus_trigger(settings: AutoscalingSettings, plan: ModelPlan) -> dict[str, Any]:
    assert settings.metric and settings.prometheus and settings.target is not None, "check_settings() ran"
    return {
        "type": "prometheus",
        "name": "vllm-" + re.sub(r"(?<!^)(?=[A-Z])", "-", settings.metric).lower(),
        "metricType": METRIC_TYPES[settings.metric],
        "metadata": {
            "serverAddress": settings.prometheus.server_address,
            "query": metric_query(settings, plan),
            "threshold": f"{settings.target:g}",
            "ignoreNullValues": "false",
        },
    }


def _behavior(step: ScaleStep) -> dict[str, Any]:
    behavior: dict[str, Any] = {"stabilizationWindowSeconds": step.stabilization_seconds}
    if step.max_groups is not None:
        # The scale subresource counts groups, so a `Pods` policy moves whole groups.
        behavior["policies"] = [{"type": "Pods", "value": step.max_groups, "periodSeconds": step.period_seconds}]
    return behavior


def scaled_object(settings: AutoscalingSettings, plan: ModelPlan) -> ObjectSpec:
    triggers = [_prometheus_trigger(settings, plan)] if settings.metric else []
    if settings.scale_to_zero:
        interceptor = settings.scale_to_zero.interceptor
        triggers.append({
            "type": "external-push",
            "name": "http-interceptor",
            "metadata": {"scalerAddress": interceptor.scaler_address, "interceptorRoute": plan.name},
        })
    spec: dict[str, Any] = {
        "scaleTargetRef": scale_target(plan),
        "pollingInterval": settings.polling_interval_seconds,
        "minReplicaCount": settings.min_replicas,
        "maxReplicaCount": settings.max_replicas,
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
            "scaleUp": _behavior(settings.scale_up),
            "scaleDown": _behavior(settings.scale_down),
        }}},
        "triggers": triggers,
    }
    if settings.scale_to_zero:
        spec["cooldownPeriod"] = settings.cooldown_seconds
    if settings.metric:
        # A broken scrape must not read as "no load": keep the groups that run.
        spec["fallback"] = {"failureThreshold": FALLBACK_FAILURES, "replicas": max(settings.min_replicas, 1), "behavior": "currentReplicas"}
    return ObjectSpec(KEDA_API, "ScaledObject", plan.name, {"spec": spec}, labels=plan.labels("autoscaling"))


# ------------------------------------------------------------------ scale to zero


def cold_start_seconds(plan: ModelPlan) -> int:
    """The longest a woken group may take to serve: scheduling, then the startup budget its probes allow."""
    budget = plan.entrypoints.startup_budget_seconds if plan.entrypoints else 0
    return SCHEDULING_ALLOWANCE_SECONDS + budget


def request_timeout_seconds(zero: ScaleToZero, plan: ModelPlan) -> int:
    if zero.request_timeout_seconds is not None:
        return zero.request_timeout_seconds
    return cold_start_seconds(plan) + zero.response_header_timeout_seconds


def api_hosts(plan: ModelPlan) -> list[str]:
    """The model's API Service as clients name it; the cluster-wide interceptor routes by these (never the bare name)."""
    service = f"{plan.names.api_service}.{plan.namespace}"
    return [f"{service}.svc.cluster.local", f"{service}.svc", service]


def interceptor_route(settings: AutoscalingSettings, plan: ModelPlan) -> ObjectSpec:
    zero = settings.scale_to_zero
    assert zero is not None, "only with scaleToZero"
    hosts = list(dict.fromkeys(api_hosts(plan) + zero.hosts))
    spec = {
        "target": {"service": plan.names.api_service, "port": plan.config.api.port},
        "rules": [{"hosts": hosts}],
        "scalingMetric": {"concurrency": {"targetValue": zero.concurrency}},
        "timeouts": {
            "request": f"{request_timeout_seconds(zero, plan)}s",
            # "0s": no separate readiness deadline, the whole request budget covers the cold start.
            "readiness": "0s",
            "responseHeader": f"{zero.response_header_timeout_seconds}s",
        },
    }
    return ObjectSpec(HTTP_ADDON_API, "InterceptorRoute", plan.name, {"spec": spec}, labels=plan.labels("autoscaling"))


def interceptor_policy(settings: AutoscalingSettings, plan: ModelPlan) -> ObjectSpec:
    """Admits the interceptor to the API port of the serving pods (policies add up; the group's stays)."""
    assert settings.scale_to_zero is not None, "only with scaleToZero"
    interceptor = settings.scale_to_zero.interceptor
    peer = network_peer(interceptor.namespace, interceptor.pod_labels or None)
    spec = {
        "podSelector": {"matchLabels": selector_labels(plan.name, plan.api_role.role)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [peer], "ports": [{"port": plan.api_port, "protocol": "TCP"}]}],
    }
    return ObjectSpec("networking.k8s.io/v1", "NetworkPolicy", f"{plan.name}-interceptor", {"spec": spec}, labels=plan.labels("autoscaling"))


def scaling_note(settings: AutoscalingSettings, plan: ModelPlan) -> str:
    """What drives the scaling and, at zero, where clients send requests (the interceptor, with the model's Host)."""
    said = [f"KEDA on {settings.metric} (target {settings.target:g} per group)"] if settings.metric else []
    zero = settings.scale_to_zero
    if zero:
        proxy = f"http://{zero.interceptor.service}.{zero.interceptor.namespace}:{zero.interceptor.port}"
        said.append(
            f"idle -> 0 after {settings.cooldown_seconds}s; clients call {proxy} with Host: {api_hosts(plan)[0]} "
            "(held while a group starts)"
        )
    return "; ".join(said)


# ------------------------------------------------------------------ the add-on


class AutoscalingAddon:
    """A KEDA ScaledObject per model, plus the HTTP add-on's InterceptorRoute when it scales to zero."""

    kind: ClassVar[str] = "addon"
    name: ClassVar[str] = "autoscaling"
    Settings: ClassVar[type[AutoscalingSettings]] = AutoscalingSettings

    def replica_range(self, settings: AutoscalingSettings, plan: ModelPlan) -> ReplicaRange:
        """The groups KEDA may run (the workload starts at the minimum), and what the plan table says about it."""
        check_settings(settings)
        return ReplicaRange(settings.min_replicas, settings.max_replicas, scaling_note(settings, plan))

    def objects(self, settings: AutoscalingSettings, plan: ModelPlan) -> tuple[ObjectSpec, ...]:
        check_settings(settings)
        objects = [scaled_object(settings, plan)]
        if settings.scale_to_zero:
            objects += [interceptor_route(settings, plan), interceptor_policy(settings, plan)]
        return tuple(objects)


__all__ = ["AutoscalingAddon", "AutoscalingSettings", "metric_query", "scaled_object", "interceptor_route"]
